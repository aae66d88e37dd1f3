//! The catalog: book types, their validation and sanitizing, queries, the
//! operations on it, the page cache and the CSV import.

pub mod import;
pub mod isbn;
pub mod keyset;
pub mod ops;
pub mod queries;
pub mod sanitize;
pub mod search;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::db::schema::books;

/// A book as every response shows it. It is read from the `safe_`
/// columns only, so the text fields are always ammonia's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable, ToSchema)]
#[diesel(table_name = books)]
pub struct Book {
    pub id: i64,
    /// HTML-safe text: tags removed, `&`, `<`, `>` entity-encoded.
    #[diesel(column_name = safe_title)]
    pub title: String,
    /// HTML-safe text, like `title`.
    #[diesel(column_name = safe_author)]
    pub author: String,
    /// 0–5, or null when unrated.
    #[schema(required = true)]
    pub rating: Option<f64>,
    /// Normalised ISBN-10 or ISBN-13 (digits, and `X` as an ISBN-10 check digit).
    #[schema(required = true)]
    #[diesel(column_name = safe_isbn)]
    pub isbn: Option<String>,
    #[schema(required = true)]
    pub published_year: Option<i32>,
    /// HTML-safe text, like `title`.
    #[schema(required = true)]
    #[diesel(column_name = safe_specifications_flat)]
    pub specifications_flat: Option<String>,
}

/// The body of `POST /books` and `PUT /books/{id}` (a full replacement).
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookInput {
    /// 1–300 characters, not blank, no control characters.
    #[validate(length(min = 1, max = 300, message = "length must be 1 to 300"), custom(function = "not_blank"))]
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub title: String,
    /// 1–200 characters, not blank, no control characters.
    #[validate(length(min = 1, max = 200, message = "length must be 1 to 200"), custom(function = "not_blank"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub author: String,
    /// 0–5.
    #[validate(range(min = 0.0, max = 5.0, message = "must be 0 to 5"))]
    #[schema(minimum = 0, maximum = 5)]
    pub rating: Option<f64>,
    /// A valid ISBN-10 or ISBN-13: its check digit must hold (which no
    /// pattern can say: the format `isbn` names that rule); hyphens and
    /// spaces are allowed anywhere, `x` is `X`.
    #[validate(custom(function = "isbn::validate"))]
    #[schema(format = "isbn", pattern = "^[- ]*(?:(?:[0-9][- ]*){9}[0-9Xx]|(?:[0-9][- ]*){12}[0-9])[- ]*$")]
    pub isbn: Option<String>,
    /// -3000 to 2100.
    #[validate(range(min = -3000, max = 2100, message = "must be -3000 to 2100"))]
    #[schema(minimum = -3000, maximum = 2100)]
    #[serde(default, deserialize_with = "crate::whole_number::optional")]
    pub published_year: Option<i32>,
    /// Free text, at most 10,000 characters; line breaks and tabs are the
    /// only control characters it may hold.
    #[validate(
        length(max = 10_000, message = "length must be at most 10000"),
        custom(function = "crate::policy::multi_line_text")
    )]
    #[schema(max_length = 10000, pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$")]
    pub specifications_flat: Option<String>,
}

fn not_blank(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new("blank").with_message("must not be blank".into()));
    }
    crate::policy::single_line_text(value)
}

/// Columns to write for one version of a book: the raw values as given and
/// their sanitized forms, computed here once.
///
/// `None` is written as NULL, never as `DEFAULT` (no optional column has
/// another default). Besides saying what is meant, it keeps diesel's batch
/// insert one statement on SQLite: with a value that may be `DEFAULT`,
/// diesel writes one INSERT per row inside a SAVEPOINT, FTS5 flushes a new
/// trigram-index segment at each, and an import of 100,000 books took 13 s
/// instead of 4, most of it merging those segments.
#[derive(Debug, Clone, Insertable, AsChangeset)]
#[diesel(table_name = books, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct BookColumns {
    pub title: String,
    pub author: String,
    pub rating: Option<f64>,
    pub isbn: Option<String>,
    pub published_year: Option<i32>,
    pub specifications_flat: Option<String>,
    pub safe_title: String,
    pub safe_author: String,
    pub safe_isbn: Option<String>,
    pub safe_specifications_flat: Option<String>,
    pub updated_at: i64,
    pub search_key: String,
}

impl BookColumns {
    /// Expects validated input.
    pub fn from_input(input: BookInput, now: i64) -> Self {
        let isbn = input.isbn.as_deref().and_then(isbn::normalize);
        let specifications_flat = input.specifications_flat.filter(|s| !s.trim().is_empty());
        Self {
            safe_title: sanitize::text(&input.title),
            safe_author: sanitize::text(&input.author),
            safe_isbn: isbn.as_deref().map(sanitize::text),
            safe_specifications_flat: specifications_flat.as_deref().map(sanitize::text),
            search_key: search::key(&input.title, &input.author),
            title: input.title,
            author: input.author,
            rating: input.rating,
            isbn,
            published_year: input.published_year,
            specifications_flat,
            updated_at: now,
        }
    }
}

/// One page of books.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookPage {
    pub books: Vec<Book>,
    pub page: u32,
    pub per_page: u32,
    /// Books matching in all pages: exactly when `total_exact`, else more
    /// than this (a search term found in over 1,000 books is not counted
    /// to the end).
    pub total: i64,
    /// False when more than `total` books match.
    pub total_exact: bool,
}
