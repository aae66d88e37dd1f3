//! The catalog's operations, one plain function each: what a route does,
//! whichever version of the API asks.

use std::sync::Arc;

use actix_web::web::Bytes;
use serde_json::json;

use super::queries::{self, Listing};
use super::{Book, BookColumns, BookInput, BookPage};
use crate::audit::{Event, EventContext};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// A page of the catalog as JSON, and its ETag: from the page cache when
/// fresh there, else from the database (and then kept for the next ask).
pub async fn page(state: &AppState, listing: Listing) -> Result<(Bytes, Arc<str>), ApiError> {
    let key = cache_key(&listing);
    if let Some(cached) = state.catalog.get(&key) {
        return Ok(cached);
    }
    let generation = state.catalog.generation();
    let page = listing.page;
    let found = db::run(&state.pool, move |conn| queries::list(conn, &listing)).await?;
    let json = serde_json::to_vec(&BookPage {
        books: found.books,
        page: page.page,
        per_page: page.per_page,
        total: found.total,
        total_exact: found.total_exact,
    })
    .map_err(|e| ApiError::internal(format!("serializing a page: {e}")))?;
    let body = Bytes::from(json);
    let etag = state.catalog.put(key, generation, body.clone());
    Ok((body, etag))
}

/// The page cache's key of a listing: every field, unambiguously (`q` is
/// last, so whatever it holds cannot run into another field).
fn cache_key(listing: &Listing) -> String {
    let Listing { q, sort, order, page } = listing;
    format!("v1 {sort:?} {order:?} {} {} {q:?}", page.page, page.per_page)
}

pub async fn get(state: &AppState, id: i64) -> Result<Book, ApiError> {
    db::run(&state.pool, move |conn| queries::get(conn, id)).await
}

/// Adds a book (the caller's right to is the route's rule); recorded.
pub async fn create(state: &AppState, context: &EventContext, editor: i64, input: BookInput) -> Result<Book, ApiError> {
    let columns = BookColumns::from_input(input, db::now());
    let book = db::run(&state.pool, move |conn| queries::create(conn, &columns)).await?;
    state.catalog.invalidate();
    state.events.record(context, Event::BookCreated, Some(editor), json!({"book_id": book.id}));
    Ok(book)
}

pub async fn replace(
    state: &AppState,
    context: &EventContext,
    editor: i64,
    id: i64,
    input: BookInput,
) -> Result<Book, ApiError> {
    let columns = BookColumns::from_input(input, db::now());
    let book = db::run(&state.pool, move |conn| queries::replace(conn, id, &columns)).await?;
    state.catalog.invalidate();
    state.events.record(context, Event::BookUpdated, Some(editor), json!({"book_id": id}));
    Ok(book)
}

/// Deletes a book with every user's tags and status on it.
pub async fn delete(state: &AppState, context: &EventContext, editor: i64, id: i64) -> Result<(), ApiError> {
    db::run(&state.pool, move |conn| queries::delete(conn, id)).await?;
    state.catalog.invalidate();
    state.events.record(context, Event::BookDeleted, Some(editor), json!({"book_id": id}));
    Ok(())
}
