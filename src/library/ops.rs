//! A user's library operations, one plain function each.

use serde_json::json;

use super::queries::{self, LibraryFilter};
use super::{BookStatus, LibraryEntry, ReadingStatus, TagCount};
use crate::audit::{Event, EventContext};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;
use crate::time;

/// Tags a book for `user_id`, creating the tag if new; the user's tags on
/// that book, sorted and HTML-safe.
pub async fn add_tag(state: &AppState, user_id: i64, book_id: i64, tag: String) -> Result<Vec<String>, ApiError> {
    db::run(&state.pool, move |conn| queries::add_tag(conn, user_id, book_id, &tag)).await
}

/// Removes one of `user_id`'s tags from a book; 404 when there was none
/// (v1's rule).
pub async fn remove_tag(state: &AppState, user_id: i64, book_id: i64, tag: String) -> Result<Vec<String>, ApiError> {
    match untag(state, user_id, book_id, tag).await? {
        (true, tags) => Ok(tags),
        (false, _) => Err(ApiError::NotFound("Tag not found on this book")),
    }
}

/// Makes sure `user_id`'s tag is not on a book (v2: idempotent, so a tag
/// already gone is no error); the tags left. 404 only for no such book.
pub async fn ensure_untagged(
    state: &AppState,
    user_id: i64,
    book_id: i64,
    tag: String,
) -> Result<Vec<String>, ApiError> {
    Ok(untag(state, user_id, book_id, tag).await?.1)
}

async fn untag(state: &AppState, user_id: i64, book_id: i64, tag: String) -> Result<(bool, Vec<String>), ApiError> {
    db::run(&state.pool, move |conn| queries::remove_tag(conn, user_id, book_id, &tag)).await
}

/// Sets `user_id`'s reading status of a book; recorded. When it was set.
pub async fn set_status(
    state: &AppState,
    context: &EventContext,
    user_id: i64,
    book_id: i64,
    status: ReadingStatus,
) -> Result<BookStatus, ApiError> {
    let updated_at = db::run(&state.pool, move |conn| queries::set_status(conn, user_id, book_id, status)).await?;
    state.events.record(
        context,
        Event::StatusChange,
        Some(user_id),
        json!({"book_id": book_id, "status": status.as_str()}),
    );
    Ok(BookStatus { book_id, status, updated_at: time::rfc3339(updated_at) })
}

/// Clears `user_id`'s reading status of a book, if any. A status cleared
/// is recorded like a change (to none); a repeat changes and records
/// nothing.
pub async fn clear_status(
    state: &AppState,
    context: &EventContext,
    user_id: i64,
    book_id: i64,
) -> Result<(), ApiError> {
    if db::run(&state.pool, move |conn| queries::clear_status(conn, user_id, book_id)).await? {
        state.events.record(context, Event::StatusChange, Some(user_id), json!({"book_id": book_id, "status": null}));
    }
    Ok(())
}

pub async fn tags(state: &AppState, user_id: i64) -> Result<Vec<TagCount>, ApiError> {
    db::run(&state.pool, move |conn| Ok(queries::tag_counts(conn, user_id)?)).await
}

/// One page of the user's books, and how many there are in all.
pub async fn library(
    state: &AppState,
    user_id: i64,
    filter: LibraryFilter,
) -> Result<(Vec<LibraryEntry>, i64), ApiError> {
    db::run(&state.pool, move |conn| queries::library(conn, user_id, &filter)).await
}
