//! Tag and status queries, always filtered by the calling user.

use std::collections::HashMap;

use diesel::prelude::*;

use super::{LibraryEntry, Mine, ReadingStatus, TagCount};
use crate::books::{Book, queries as books, sanitize};
use crate::db::{
    self, DbConnection,
    schema::{book_tags, reading_statuses, tags},
};
use crate::error::ApiError;
use crate::on_backend;
use crate::paging::Page;

fn require_book(conn: &mut DbConnection, book_id: i64) -> Result<(), ApiError> {
    if books::exists(conn, book_id)? { Ok(()) } else { Err(ApiError::NotFound("Book not found")) }
}

/// The user's tag names on one book, sorted, HTML-safe (tags are stored as
/// written and sanitized on the way out, like every text field).
pub fn tags_on_book(conn: &mut DbConnection, user_id: i64, book_id: i64) -> QueryResult<Vec<String>> {
    let names: Vec<String> = book_tags::table
        .inner_join(tags::table)
        .filter(book_tags::user_id.eq(user_id))
        .filter(book_tags::book_id.eq(book_id))
        .select(tags::name)
        .order(tags::name.asc())
        .load(conn)?;
    Ok(names.iter().map(|name| sanitize::text(name)).collect())
}

pub fn add_tag(conn: &mut DbConnection, user_id: i64, book_id: i64, name: &str) -> Result<Vec<String>, ApiError> {
    db::write_transaction(conn, |conn| {
        require_book(conn, book_id)?;
        on_backend!(conn, c => diesel::insert_into(tags::table).values(tags::name.eq(name)).on_conflict_do_nothing().execute(c))?;
        let tag_id: i64 = tags::table.filter(tags::name.eq(name)).select(tags::id).first(conn)?;
        on_backend!(
            conn,
            c => diesel::insert_into(book_tags::table)
                .values((
                    book_tags::user_id.eq(user_id),
                    book_tags::book_id.eq(book_id),
                    book_tags::tag_id.eq(tag_id),
                    book_tags::created_at.eq(db::now()),
                ))
                .on_conflict_do_nothing()
                .execute(c)
        )?;
        Ok(tags_on_book(conn, user_id, book_id)?)
    })
}

/// Removes the user's tag from a book if it is there; whether it was, and
/// the tags left.
pub fn remove_tag(
    conn: &mut DbConnection,
    user_id: i64,
    book_id: i64,
    name: &str,
) -> Result<(bool, Vec<String>), ApiError> {
    db::write_transaction(conn, |conn| {
        require_book(conn, book_id)?;
        let tag_id: Option<i64> = tags::table.filter(tags::name.eq(name)).select(tags::id).first(conn).optional()?;
        let removed = match tag_id {
            Some(tag_id) => diesel::delete(
                book_tags::table
                    .filter(book_tags::user_id.eq(user_id))
                    .filter(book_tags::book_id.eq(book_id))
                    .filter(book_tags::tag_id.eq(tag_id)),
            )
            .execute(conn)?,
            None => 0,
        };
        Ok((removed > 0, tags_on_book(conn, user_id, book_id)?))
    })
}

/// Sets the user's status of a book; when it was set (Unix seconds).
pub fn set_status(conn: &mut DbConnection, user_id: i64, book_id: i64, status: ReadingStatus) -> Result<i64, ApiError> {
    let now = db::now();
    db::write_transaction(conn, |conn| {
        require_book(conn, book_id)?;
        on_backend!(
            conn,
            c => diesel::insert_into(reading_statuses::table)
                .values((
                    reading_statuses::user_id.eq(user_id),
                    reading_statuses::book_id.eq(book_id),
                    reading_statuses::status.eq(status.as_str()),
                    reading_statuses::updated_at.eq(now),
                ))
                .on_conflict((reading_statuses::user_id, reading_statuses::book_id))
                .do_update()
                .set((reading_statuses::status.eq(status.as_str()), reading_statuses::updated_at.eq(now)))
                .execute(c)
        )?;
        Ok(now)
    })
}

/// Clears the user's status of a book, if any (404 only for no such book);
/// whether there was one.
pub fn clear_status(conn: &mut DbConnection, user_id: i64, book_id: i64) -> Result<bool, ApiError> {
    db::write_transaction(conn, |conn| {
        require_book(conn, book_id)?;
        let removed = diesel::delete(
            reading_statuses::table
                .filter(reading_statuses::user_id.eq(user_id))
                .filter(reading_statuses::book_id.eq(book_id)),
        )
        .execute(conn)?;
        Ok(removed > 0)
    })
}

/// The user's status and tags on each of `book_ids`, in one query (a page
/// of books costs one more query, not one per book). Books the user has
/// nothing on are absent.
pub fn mine(conn: &mut DbConnection, user_id: i64, book_ids: &[i64]) -> QueryResult<HashMap<i64, Mine>> {
    use diesel::dsl::sql;
    use diesel::sql_types::Bool;

    let statuses = reading_statuses::table
        .filter(reading_statuses::user_id.eq(user_id))
        .filter(reading_statuses::book_id.eq_any(book_ids))
        .select((reading_statuses::book_id, sql::<Bool>("FALSE"), reading_statuses::status));
    let tagged = book_tags::table
        .inner_join(tags::table)
        .filter(book_tags::user_id.eq(user_id))
        .filter(book_tags::book_id.eq_any(book_ids))
        .select((book_tags::book_id, sql::<Bool>("TRUE"), tags::name));
    // The backend-generic connection has no UNION; each backend does.
    let mut rows: Vec<(i64, bool, String)> = on_backend!(conn, c => statuses.union_all(tagged).load(c))?;
    // Tags by name as stored (byte order, SQLite's and Rust's), before
    // they are made HTML-safe.
    rows.sort_unstable_by(|a, b| a.2.cmp(&b.2));
    let mut mine: HashMap<i64, Mine> = HashMap::new();
    for (book_id, is_tag, value) in rows {
        let entry = mine.entry(book_id).or_default();
        if is_tag {
            entry.tags.push(sanitize::text(&value));
        } else {
            entry.status = ReadingStatus::parse(&value);
        }
    }
    Ok(mine)
}

pub fn tag_counts(conn: &mut DbConnection, user_id: i64) -> QueryResult<Vec<TagCount>> {
    let rows: Vec<(String, i64)> = book_tags::table
        .inner_join(tags::table)
        .filter(book_tags::user_id.eq(user_id))
        .group_by(tags::name)
        .select((tags::name, diesel::dsl::count_star()))
        .order(tags::name.asc())
        .load(conn)?;
    Ok(rows.into_iter().map(|(name, book_count)| TagCount { name: sanitize::text(&name), book_count }).collect())
}

/// What to list of a library.
#[derive(Debug, Clone)]
pub struct LibraryFilter {
    pub status: Option<ReadingStatus>,
    pub tag: Option<String>,
    pub page: Page,
}

/// The user's books (those with a status or a tag), by title, with the
/// user's status and tags for each.
pub fn library(
    conn: &mut DbConnection,
    user_id: i64,
    filter: &LibraryFilter,
) -> Result<(Vec<LibraryEntry>, i64), ApiError> {
    use crate::db::schema::books;

    let in_library = || {
        let mut query = books::table.into_boxed::<db::DbBackend>();
        let with_status =
            reading_statuses::table.filter(reading_statuses::user_id.eq(user_id)).select(reading_statuses::book_id);
        let tagged = book_tags::table.filter(book_tags::user_id.eq(user_id)).select(book_tags::book_id);
        match (filter.status, &filter.tag) {
            (None, None) => {
                query = query.filter(books::id.eq_any(with_status).or(books::id.eq_any(tagged)));
            }
            (status, tag) => {
                if let Some(status) = status {
                    query = query
                        .filter(books::id.eq_any(with_status.filter(reading_statuses::status.eq(status.as_str()))));
                }
                if let Some(tag) = tag {
                    let with_tag = book_tags::table
                        .inner_join(tags::table)
                        .filter(book_tags::user_id.eq(user_id))
                        .filter(tags::name.eq(tag.clone()))
                        .select(book_tags::book_id);
                    query = query.filter(books::id.eq_any(with_tag));
                }
            }
        }
        query
    };

    let total: i64 = in_library().count().get_result(conn)?;
    let page: Vec<Book> = in_library()
        .order(diesel::dsl::sql::<diesel::sql_types::Bool>("lower(books.title) ASC, books.id ASC"))
        .offset(filter.page.offset())
        .limit(filter.page.limit())
        .select(Book::as_select())
        .load(conn)?;

    let ids: Vec<i64> = page.iter().map(|b| b.id).collect();
    let statuses: HashMap<i64, String> = reading_statuses::table
        .filter(reading_statuses::user_id.eq(user_id))
        .filter(reading_statuses::book_id.eq_any(&ids))
        .select((reading_statuses::book_id, reading_statuses::status))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    let mut tags_by_book: HashMap<i64, Vec<String>> = HashMap::new();
    for (book_id, name) in book_tags::table
        .inner_join(tags::table)
        .filter(book_tags::user_id.eq(user_id))
        .filter(book_tags::book_id.eq_any(&ids))
        .select((book_tags::book_id, tags::name))
        .order(tags::name.asc())
        .load::<(i64, String)>(conn)?
    {
        tags_by_book.entry(book_id).or_default().push(sanitize::text(&name));
    }

    let entries = page
        .into_iter()
        .map(|book| LibraryEntry {
            status: statuses.get(&book.id).and_then(|s| ReadingStatus::parse(s)),
            tags: tags_by_book.remove(&book.id).unwrap_or_default(),
            book,
        })
        .collect();
    Ok((entries, total))
}
