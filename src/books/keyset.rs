//! Keyset paging of the catalog (v2's cursors): a page starts strictly
//! after the last row of the one before, by the sort key and then the id,
//! so books inserted or deleted between pages shift nothing, and a deep page
//! costs what the first does (no OFFSET walks the rows before it).

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Text};
use serde::{Deserialize, Serialize};

use super::Book;
use super::queries::{EXACT_TOTAL_UP_TO, SortColumn, SortOrder, order_by};
use super::search::{self, BooksQuery, Term};
use crate::db::{DbConnection, schema::books};
use crate::error::ApiError;

/// Where a page stopped: the last row's sort key and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Position {
    /// Unsorted (by id).
    Id(i64),
    /// By title or author: the database's own `lower()` of it, since the
    /// order is the database's.
    Text(String, i64),
    /// By rating; the rating's bits, so it comes back exactly (unrated: none).
    Rating(Option<u64>, i64),
}

/// What to list: the search, its order, how many, and after where.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Keyset {
    pub q: Option<String>,
    pub sort: Option<SortColumn>,
    pub order: SortOrder,
    pub limit: u32,
    pub after: Option<Position>,
}

fn key_expression(sort: Option<SortColumn>) -> &'static str {
    match sort {
        Some(SortColumn::Title) => "lower(books.title)",
        Some(SortColumn::Author) => "lower(books.author)",
        Some(SortColumn::Rating) | None => "''",
    }
}

fn position_of(sort: Option<SortColumn>, book: &Book, key: String) -> Position {
    match sort {
        None => Position::Id(book.id),
        Some(SortColumn::Title | SortColumn::Author) => Position::Text(key, book.id),
        Some(SortColumn::Rating) => Position::Rating(book.rating.map(f64::to_bits), book.id),
    }
}

/// Rows strictly after `after` in the order of `order_by`. Each condition
/// leads with a plain range on the sort key, which the `books_*_order`
/// indexes serve; the tie on the key is broken by the id.
fn after(
    query: BooksQuery,
    sort: Option<SortColumn>,
    order: SortOrder,
    after: &Position,
) -> Result<BooksQuery, ApiError> {
    let (beyond, beyond_or_at) = match order {
        SortOrder::Asc => (">", ">="),
        SortOrder::Desc => ("<", "<="),
    };
    let query = match (sort, after) {
        (None, Position::Id(id)) => query.filter(sql::<Bool>(&format!("books.id {beyond} ")).bind::<BigInt, _>(*id)),
        (Some(column @ (SortColumn::Title | SortColumn::Author)), Position::Text(key, id)) => {
            let expression = key_expression(Some(column));
            query.filter(
                sql::<Bool>(&format!("({expression} {beyond_or_at} "))
                    .bind::<Text, _>(key.clone())
                    .sql(&format!(" AND ({expression} {beyond} "))
                    .bind::<Text, _>(key.clone())
                    .sql(&format!(" OR books.id {beyond} "))
                    .bind::<BigInt, _>(*id)
                    .sql("))"),
            )
        }
        // Unrated books sort below every rating: first ascending, last
        // descending.
        (Some(SortColumn::Rating), Position::Rating(Some(bits), id)) => {
            let rating = f64::from_bits(*bits);
            // Parenthesized whole: the filter is ANDed with the search's.
            let rated_beyond = sql::<Bool>(&format!("((books.rating {beyond_or_at} "))
                .bind::<Double, _>(rating)
                .sql(&format!(" AND (books.rating {beyond} "))
                .bind::<Double, _>(rating)
                .sql(&format!(" OR books.id {beyond} "))
                .bind::<BigInt, _>(*id)
                .sql("))");
            match order {
                SortOrder::Asc => query.filter(rated_beyond.sql(")")),
                SortOrder::Desc => query.filter(rated_beyond.sql(" OR books.rating IS NULL)")),
            }
        }
        (Some(SortColumn::Rating), Position::Rating(None, id)) => match order {
            SortOrder::Asc => query.filter(
                sql::<Bool>("((books.rating IS NULL AND books.id > ")
                    .bind::<BigInt, _>(*id)
                    .sql(") OR books.rating IS NOT NULL)"),
            ),
            SortOrder::Desc => {
                query.filter(sql::<Bool>("(books.rating IS NULL AND books.id < ").bind::<BigInt, _>(*id).sql(")"))
            }
        },
        // Only a cursor made for another order could get here, and the
        // cursor names its order; refused all the same.
        _ => return Err(ApiError::invalid_cursor("Invalid cursor")),
    };
    Ok(query)
}

/// The books a page is taken from, the way v1's pages find them: a term
/// with few matches by their ids (read from the trigram index alone), a
/// common one by checking each row of the order index as it is walked,
/// which fills a page after a few rows.
fn matching(conn: &mut DbConnection, q: Option<&str>) -> Result<BooksQuery, ApiError> {
    let Some(term) = q.and_then(Term::new) else { return Ok(books::table.into_boxed()) };
    let ids = search::first_ids(conn, &term, EXACT_TOTAL_UP_TO + 1)?;
    if i64::try_from(ids.len()).unwrap_or(i64::MAX) <= EXACT_TOTAL_UP_TO {
        return Ok(books::table.into_boxed().filter(books::id.eq_any(ids)));
    }
    Ok(search::containing(conn, &term))
}

/// One page, and where the next starts (none on the last page).
pub fn page(conn: &mut DbConnection, keyset: &Keyset) -> Result<(Vec<Book>, Option<Position>), ApiError> {
    let mut query = matching(conn, keyset.q.as_deref())?;
    if let Some(position) = &keyset.after {
        query = after(query, keyset.sort, keyset.order, position)?;
    }
    let limit = usize::try_from(keyset.limit).unwrap_or(usize::MAX);
    // One row more than asked says whether there is a next page.
    let mut rows: Vec<(Book, String)> = query
        .order(sql::<Bool>(order_by(keyset.sort, keyset.order)))
        .limit(i64::from(keyset.limit) + 1)
        .select((Book::as_select(), sql::<Text>(key_expression(keyset.sort))))
        .load(conn)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(|(book, key)| position_of(keyset.sort, book, key.clone())) } else { None };
    Ok((rows.into_iter().map(|(book, _)| book).collect(), next))
}
