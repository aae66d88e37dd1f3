//! Catalog queries: sorted, paged listing with substring search, and
//! single-book reads and writes.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::search::{self, BooksQuery, Term};
use super::{Book, BookColumns};
use crate::db::{DbConnection, schema::books};
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

/// Matches are counted up to this many. A term found in more books (a
/// common word, two letters, "the") gets `total_exact: false` and this as
/// its `total`, instead of every request reading half the catalog to count
/// it: past this many, a reader refines the term rather than pages on.
pub const EXACT_TOTAL_UP_TO: i64 = 1_000;

/// Rows of the order index a page of a common term may walk before the
/// matches are sorted instead: a term can be common and still absent from
/// the start of an order ("of the" is in a quarter of the titles, all after
/// "T").
const WALK_UP_TO: i64 = 5_000;

/// A page of books and how many match in all.
#[derive(Debug)]
pub struct Found {
    pub books: Vec<Book>,
    /// Every match when `total_exact`; else more than this many match.
    pub total: i64,
    pub total_exact: bool,
}

fn ordered(query: BooksQuery, listing: &Listing) -> BooksQuery {
    query.order(sql::<Bool>(order_by(listing.sort, listing.order)))
}

fn page_of(query: BooksQuery, listing: &Listing) -> BooksQuery {
    ordered(query, listing).offset(listing.page.offset()).limit(listing.page.limit())
}

/// A page of the catalog, or of the books matching `listing.q`.
///
/// The cost follows the page, not the catalog. The matches are first read
/// from the trigram index alone, at most `EXACT_TOTAL_UP_TO + 1` of them.
/// That many or fewer: they are counted, and the page is sorted from their
/// ids. More: the term is common, and walking the order index (the one an
/// unfiltered page walks) checking each row's key fills a page after a few
/// rows; when the first `WALK_UP_TO` rows of the order hold too few, the
/// database sorts the matches instead.
pub fn list(conn: &mut DbConnection, listing: &Listing) -> Result<Found, ApiError> {
    let Some(term) = listing.q.as_deref().and_then(Term::new) else {
        let total: i64 = books::table.count().get_result(conn)?;
        let books = page_of(books::table.into_boxed(), listing).select(Book::as_select()).load(conn)?;
        return Ok(Found { books, total, total_exact: true });
    };
    let ids = search::first_ids(conn, &term, EXACT_TOTAL_UP_TO + 1)?;
    let matches = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    if matches <= EXACT_TOTAL_UP_TO {
        let books = if listing.page.offset() >= matches {
            Vec::new()
        } else {
            let query = books::table.into_boxed().filter(books::id.eq_any(ids));
            page_of(query, listing).select(Book::as_select()).load(conn)?
        };
        return Ok(Found { books, total: matches, total_exact: true });
    }
    let page_end = listing.page.offset() + listing.page.limit();
    let query = match walk(conn, &term, listing, WALK_UP_TO.max(8 * page_end))? {
        Some(ids) => ordered(books::table.into_boxed().filter(books::id.eq_any(ids)), listing),
        None => page_of(search::matching(conn, &term), listing),
    };
    let books = query.select(Book::as_select()).load(conn)?;
    Ok(Found { books, total: EXACT_TOTAL_UP_TO, total_exact: false })
}

/// The ids on the page, if the first `rows` rows of the order hold them
/// all. The walk stops at the page's last match: the inner query streams
/// rows in its order (an index walk, which both databases keep in order
/// through a filter and a LIMIT), so the outer one needs no sort.
fn walk(conn: &mut DbConnection, term: &Term, listing: &Listing, rows: i64) -> Result<Option<Vec<i64>>, ApiError> {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let order = order_by(listing.sort, listing.order);
    let check = match conn {
        DbConnection::Sqlite(_) => "instr(books.search_key, ?) > 0",
        DbConnection::Postgres(_) => "strpos(books.search_key, $1) > 0",
    };
    let page_end = listing.page.offset() + listing.page.limit();
    // The derived table is named `books` too, so that `check` reads the
    // same at both levels.
    let query = format!(
        "SELECT books.id FROM (SELECT id, search_key FROM books ORDER BY {order} LIMIT {rows}) AS books \
         WHERE {check} LIMIT {page_end}"
    );
    let found: Vec<Id> =
        diesel::sql_query(query).bind::<diesel::sql_types::Text, _>(term.as_str().to_owned()).load(conn)?;
    if i64::try_from(found.len()).unwrap_or(i64::MAX) == page_end {
        let offset = usize::try_from(listing.page.offset()).unwrap_or(usize::MAX);
        return Ok(Some(found.into_iter().skip(offset).map(|row| row.id).collect()));
    }
    Ok(None)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_parsing_uses_the_contract_messages() {
        assert_eq!(SortColumn::parse("rating").unwrap(), SortColumn::Rating);
        assert_eq!(SortColumn::parse("id").unwrap_err().to_string(), "Invalid sort column");
        assert_eq!(SortOrder::parse("up").unwrap_err().to_string(), "Invalid sort order");
    }
}
