//! The catalog as one caller sees it (v2): books with, for a signed-in
//! caller, their own status and tags (`my`); paged by opaque cursors.

pub mod ops;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::books::Book;
use crate::books::keyset::Position;
use crate::books::queries::{SortColumn, SortOrder};
use crate::library::Mine;

/// A book, with the caller's `my` when the caller is signed in (and may
/// read their library); anonymous answers have no `my`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogBook {
    #[serde(flatten)]
    pub book: Book,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Mine, required = false)]
    pub my: Option<Mine>,
}

/// One page of books.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogPage {
    pub data: Vec<CatalogBook>,
    /// Pass as `cursor` for the next page; null on the last page. Opaque:
    /// a cursor that was altered, or made by another server, is refused
    /// (400 `invalid_cursor`).
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// What a client asked for. With a cursor, `q`, `sort` and `order` may be
/// left out (the cursor's are used) or repeated, but not changed.
#[derive(Debug, Clone)]
pub struct CatalogRequest {
    pub q: Option<String>,
    pub sort: Option<SortColumn>,
    pub order: Option<SortOrder>,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// What a cursor carries: the listing it continues and where it stopped.
#[derive(Debug, Serialize, Deserialize)]
struct CursorState {
    q: Option<String>,
    sort: Option<SortColumn>,
    order: SortOrder,
    after: Position,
}
