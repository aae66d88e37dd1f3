//! Catalog queries: sorted, paged listing with substring search, and
//! single-book reads and writes.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::{Book, BookColumns};
use crate::db::{DbBackend, DbConnection, schema::books};
use crate::error::{ApiError, ErrorCode};
use crate::on_backend;
use crate::paging::Page;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SortColumn {
    Title,
    Author,
    Rating,
}

impl SortColumn {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        match raw {
            "title" => Ok(Self::Title),
            "author" => Ok(Self::Author),
            "rating" => Ok(Self::Rating),
            _ => Err(ApiError::bad_request(ErrorCode::InvalidSortColumn, "Invalid sort column")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

impl SortOrder {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        match raw {
            "asc" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            _ => Err(ApiError::bad_request(ErrorCode::InvalidSortOrder, "Invalid sort order")),
        }
    }
}

/// What to list: an optional search text (trimmed, never empty), an order,
/// a page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listing {
    pub q: Option<String>,
    pub sort: Option<SortColumn>,
    pub order: SortOrder,
    pub page: Page,
}

/// ORDER BY clauses that match the `books_*_order` indexes exactly
/// (descending is the same index walked backwards), so a sorted page reads
/// only its rows. Unrated books sort as lowest. `id` breaks ties so pages
/// are stable.
pub(super) fn order_by(sort: Option<SortColumn>, order: SortOrder) -> &'static str {
    use SortColumn::*;
    use SortOrder::*;
    match (sort, order) {
        (None, Asc) => "books.id ASC",
        (None, Desc) => "books.id DESC",
        (Some(Title), Asc) => "lower(books.title) ASC, books.id ASC",
        (Some(Title), Desc) => "lower(books.title) DESC, books.id DESC",
        (Some(Author), Asc) => "lower(books.author) ASC, books.id ASC",
        (Some(Author), Desc) => "lower(books.author) DESC, books.id DESC",
        (Some(Rating), Asc) => "(books.rating IS NOT NULL) ASC, books.rating ASC, books.id ASC",
        (Some(Rating), Desc) => "(books.rating IS NOT NULL) DESC, books.rating DESC, books.id DESC",
    }
}

/// `q` as a LIKE pattern in which `%`, `_` and `\` are literal.
fn like_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Trigram indexes need three characters; shorter searches fall back to a
/// scan, which is what any substring search of one or two letters costs.
const TRIGRAM: usize = 3;

pub(super) type BooksQuery = books::BoxedQuery<'static, DbBackend>;

/// Books whose title or author contains `q`, case-insensitively, as a
/// literal substring. SQLite answers from its FTS5 trigram index,
/// PostgreSQL from pg_trgm GIN indexes on `lower(title)`/`lower(author)`.
pub(super) fn matching(conn: &DbConnection, q: Option<&str>) -> BooksQuery {
    let query = books::table.into_boxed();
    let Some(q) = q else { return query };
    match conn {
        DbConnection::Sqlite(_) if q.chars().count() >= TRIGRAM => {
            let phrase = format!("\"{}\"", q.replace('"', "\"\""));
            query.filter(
                sql::<Bool>("books.id IN (SELECT rowid FROM books_search WHERE books_search MATCH ")
                    .bind::<Text, _>(phrase)
                    .sql(")"),
            )
        }
        // SQLite's LIKE is case-insensitive for ASCII.
        DbConnection::Sqlite(_) => {
            let pattern = like_pattern(q);
            query.filter(
                sql::<Bool>("(books.title LIKE ")
                    .bind::<Text, _>(pattern.clone())
                    .sql(" ESCAPE '\\' OR books.author LIKE ")
                    .bind::<Text, _>(pattern)
                    .sql(" ESCAPE '\\')"),
            )
        }
        DbConnection::Postgres(_) => {
            let pattern = like_pattern(q);
            query.filter(
                sql::<Bool>("(lower(books.title) LIKE lower(")
                    .bind::<Text, _>(pattern.clone())
                    .sql(") ESCAPE '\\' OR lower(books.author) LIKE lower(")
                    .bind::<Text, _>(pattern)
                    .sql(") ESCAPE '\\')"),
            )
        }
    }
}

pub fn list(conn: &mut DbConnection, listing: &Listing) -> Result<(Vec<Book>, i64), ApiError> {
    let q = listing.q.as_deref();
    let total: i64 = matching(conn, q).count().get_result(conn)?;
    let rows = matching(conn, q)
        .order(sql::<Bool>(order_by(listing.sort, listing.order)))
        .offset(listing.page.offset())
        .limit(listing.page.limit())
        .select(Book::as_select())
        .load(conn)?;
    Ok((rows, total))
}

pub fn get(conn: &mut DbConnection, id: i64) -> Result<Book, ApiError> {
    books::table.find(id).select(Book::as_select()).first(conn).optional()?.ok_or(ApiError::NotFound("Book not found"))
}

pub fn exists(conn: &mut DbConnection, id: i64) -> Result<bool, ApiError> {
    Ok(diesel::select(diesel::dsl::exists(books::table.find(id))).get_result(conn)?)
}

pub fn create(conn: &mut DbConnection, columns: &BookColumns) -> Result<Book, ApiError> {
    let values = (columns, books::created_at.eq(columns.updated_at));
    Ok(on_backend!(conn, c => diesel::insert_into(books::table)
        .values(values)
        .returning(Book::as_returning())
        .get_result(c))?)
}

pub fn replace(conn: &mut DbConnection, id: i64, columns: &BookColumns) -> Result<Book, ApiError> {
    on_backend!(conn, c => diesel::update(books::table.find(id))
        .set(columns)
        .returning(Book::as_returning())
        .get_result(c))
    .optional()?
    .ok_or(ApiError::NotFound("Book not found"))
}

/// Deletes the book; its tags and statuses go with it (ON DELETE CASCADE).
pub fn delete(conn: &mut DbConnection, id: i64) -> Result<(), ApiError> {
    match diesel::delete(books::table.find(id)).execute(conn)? {
        0 => Err(ApiError::NotFound("Book not found")),
        _ => Ok(()),
    }
}

/// Whether a book with this exact title and author is already catalogued
/// (the import skips those, so loading the same file twice is harmless).
pub fn exists_by_title_author(conn: &mut DbConnection, title: &str, author: &str) -> Result<bool, ApiError> {
    Ok(diesel::select(diesel::dsl::exists(
        books::table.filter(books::title.eq(title)).filter(books::author.eq(author)),
    ))
    .get_result(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_makes_wildcards_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn sort_parsing_uses_the_contract_messages() {
        assert_eq!(SortColumn::parse("rating").unwrap(), SortColumn::Rating);
        assert_eq!(SortColumn::parse("id").unwrap_err().to_string(), "Invalid sort column");
        assert_eq!(SortOrder::parse("up").unwrap_err().to_string(), "Invalid sort order");
    }
}
