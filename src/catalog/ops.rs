//! v2's catalog operations, one plain function each.

use std::sync::Arc;

use actix_web::web::Bytes;

use super::{CatalogBook, CatalogPage, CatalogRequest, CursorState};
use crate::books::keyset::{self, Keyset};
use crate::books::queries;
use crate::db;
use crate::error::ApiError;
use crate::library::queries::mine;
use crate::state::AppState;

/// The listing a request names: its own terms, or its cursor's.
fn keyset_of(state: &AppState, request: CatalogRequest) -> Result<Keyset, ApiError> {
    let q = request.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    let Some(cursor) = request.cursor else {
        return Ok(Keyset {
            q,
            sort: request.sort,
            order: request.order.unwrap_or_default(),
            limit: request.limit,
            after: None,
        });
    };
    let cursor: CursorState = state.cursors.open(&cursor).map_err(|_| ApiError::invalid_cursor("Invalid cursor"))?;
    let changed = (q.is_some() && q != cursor.q)
        || request.sort.is_some_and(|sort| Some(sort) != cursor.sort)
        || request.order.is_some_and(|order| order != cursor.order);
    if changed {
        return Err(ApiError::invalid_cursor(
            "The cursor continues another listing: leave q, sort and order out, or repeat them",
        ));
    }
    Ok(Keyset { q: cursor.q, sort: cursor.sort, order: cursor.order, limit: request.limit, after: Some(cursor.after) })
}

/// A page as JSON, and its ETag when it came from (or went into) the page
/// cache. Anonymous pages are shared by everyone and cached; a signed-in
/// viewer's carry their own `my`, read with the page on one connection.
pub async fn page(
    state: &AppState,
    request: CatalogRequest,
    viewer: Option<i64>,
) -> Result<(Bytes, Option<Arc<str>>), ApiError> {
    let keyset = keyset_of(state, request)?;
    let Some(user_id) = viewer else {
        let key = cache_key(&keyset);
        if let Some((body, etag)) = state.catalog.get(&key) {
            return Ok((body, Some(etag)));
        }
        let generation = state.catalog.generation();
        let body = render(state, keyset, None).await?;
        let etag = state.catalog.put(key, generation, body.clone());
        return Ok((body, Some(etag)));
    };
    Ok((render(state, keyset, Some(user_id)).await?, None))
}

async fn render(state: &AppState, keyset: Keyset, viewer: Option<i64>) -> Result<Bytes, ApiError> {
    let continued = (keyset.q.clone(), keyset.sort, keyset.order);
    let (books, next, mut mine) = db::run(&state.pool, move |conn| {
        let (books, next) = keyset::page(conn, &keyset)?;
        let mine = match viewer {
            Some(user_id) => Some(mine(conn, user_id, &books.iter().map(|b| b.id).collect::<Vec<_>>())?),
            None => None,
        };
        Ok((books, next, mine))
    })
    .await?;
    let (q, sort, order) = continued;
    let next_cursor = next.map(|after| state.cursors.seal(&CursorState { q, sort, order, after }));
    let data = books
        .into_iter()
        .map(|book| {
            let my = mine.as_mut().map(|mine| mine.remove(&book.id).unwrap_or_default());
            CatalogBook { book, my }
        })
        .collect();
    let json = serde_json::to_vec(&CatalogPage { data, next_cursor })
        .map_err(|e| ApiError::internal(format!("serializing a page: {e}")))?;
    Ok(Bytes::from(json))
}

/// Every field of the listing, `q` last so it cannot run into another.
fn cache_key(keyset: &Keyset) -> String {
    let Keyset { q, sort, order, limit, after } = keyset;
    format!("v2 {sort:?} {order:?} {limit} {after:?} {q:?}")
}

/// One book, with the viewer's `my`.
pub async fn book(state: &AppState, id: i64, viewer: Option<i64>) -> Result<CatalogBook, ApiError> {
    db::run(&state.pool, move |conn| {
        let book = queries::get(conn, id)?;
        let my = match viewer {
            Some(user_id) => Some(mine(conn, user_id, &[id])?.remove(&id).unwrap_or_default()),
            None => None,
        };
        Ok(CatalogBook { book, my })
    })
    .await
}
