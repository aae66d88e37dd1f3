//! Substring search: the folded key each book carries, the filters "books
//! matching q", and the first matches read straight from the index.
//!
//! A book matches `q` when its title or author contains `q`, ignoring case,
//! as a literal substring. Both sides are case-folded here, in Rust, one
//! character at a time (so a folded substring is a substring of the folded
//! whole), and the database compares bytes: SQLite and PostgreSQL agree,
//! for every script, whatever the database's locale.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use crate::db::{DbBackend, DbConnection, schema::books};
use crate::error::ApiError;

pub type BooksQuery = books::BoxedQuery<'static, DbBackend>;

/// Case-folds `text` character by character, without context (no final
/// sigma), so that folding keeps substrings substrings.
pub fn fold(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// What search reads of a book: folded title and author, one per line. A
/// validated search term holds no line break, so it can only match inside
/// one of the two.
pub fn key(title: &str, author: &str) -> String {
    let mut key = fold(title);
    key.push('\n');
    key.push_str(&fold(author));
    key
}

/// A search term, folded; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term(String);

/// Trigram indexes need three characters; a shorter term is checked row by
/// row (see `first_ids` for what that costs).
const TRIGRAM: usize = 3;

impl Term {
    /// `None` for a blank `q`: no filter at all.
    pub fn new(q: &str) -> Option<Self> {
        let q = q.trim();
        (!q.is_empty()).then(|| Self(fold(q)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn indexed(&self) -> bool {
        self.0.chars().count() >= TRIGRAM
    }

    /// An FTS5 phrase: the trigram tokenizer matches it as an exact
    /// substring.
    fn phrase(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }

    /// A LIKE pattern in which `%`, `_` and `\` are literal.
    fn like_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.0.len() + 2);
        pattern.push('%');
        for c in self.0.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }
}

/// Books matching `term`, found through the trigram index when the term is
/// long enough (SQLite: FTS5 `books_search`; PostgreSQL: pg_trgm GIN on
/// `search_key`). The right filter when the matches are few; for many,
/// walking an order index with `containing` reads less.
pub(crate) fn matching(conn: &DbConnection, term: &Term) -> BooksQuery {
    if !term.indexed() {
        return containing(conn, term);
    }
    let query = books::table.into_boxed();
    match conn {
        DbConnection::Sqlite(_) => query.filter(
            sql::<Bool>("books.id IN (SELECT rowid FROM books_search WHERE books_search MATCH ")
                .bind::<Text, _>(term.phrase())
                .sql(")"),
        ),
        DbConnection::Postgres(_) => {
            query.filter(sql::<Bool>("books.search_key LIKE ").bind::<Text, _>(term.like_pattern()).sql(" ESCAPE '\\'"))
        }
    }
}

/// The same books, the condition checked on each row with no index: for
/// walking an order index until a page is full, when matches are common.
pub(crate) fn containing(conn: &DbConnection, term: &Term) -> BooksQuery {
    let function = match conn {
        DbConnection::Sqlite(_) => "instr(books.search_key, ",
        DbConnection::Postgres(_) => "strpos(books.search_key, ",
    };
    books::table.into_boxed().filter(sql::<Bool>(function).bind::<Text, _>(term.0.clone()).sql(") > 0"))
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The ids of up to `limit` matching books, in no particular order, read
/// from the index alone: this is what makes a count cheap when it stops
/// at `limit`. A term below a trigram scans `books` until `limit` rows
/// match, which is quick for the common ones (most of a catalog contains
/// "an") and a scan of the table for the rare ones.
pub(crate) fn first_ids(conn: &mut DbConnection, term: &Term, limit: i64) -> Result<Vec<i64>, ApiError> {
    let (query, bind) = match (&*conn, term.indexed()) {
        (DbConnection::Sqlite(_), true) => {
            ("SELECT rowid AS id FROM books_search WHERE books_search MATCH ? LIMIT ?", term.phrase())
        }
        (DbConnection::Sqlite(_), false) => {
            ("SELECT id FROM books WHERE instr(search_key, ?) > 0 LIMIT ?", term.0.clone())
        }
        (DbConnection::Postgres(_), true) => return postgres_first_ids(conn, term, limit),
        (DbConnection::Postgres(_), false) => {
            ("SELECT id FROM books WHERE strpos(search_key, $1) > 0 LIMIT $2", term.0.clone())
        }
    };
    let rows: Vec<Id> = diesel::sql_query(query).bind::<Text, _>(bind).bind::<BigInt, _>(limit).load(conn)?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

/// Rows of the table a PostgreSQL search probes before using the index.
const PROBE_ROWS: i64 = 5_000;

/// Terms this long are taken to be rare and skip the probe: reading 5,000
/// heap rows costs 1.5–4 ms, more than the index lookup of a rare term
/// (0.4–2 ms). A long term that is common after all costs a bitmap of its
/// matches, as any term did before the probe existed.
const PROBE_BELOW_CHARS: usize = 8;

/// PostgreSQL estimates a `LIKE '%…%'` on a cached table as cheaper to
/// scan than to look up in the trigram index, and a scan reads the whole
/// table for a rare term. So: a term common enough to fill `limit` from
/// the first rows is answered by them; any other reads the index.
fn postgres_first_ids(conn: &mut DbConnection, term: &Term, limit: i64) -> Result<Vec<i64>, ApiError> {
    let probe: Vec<Id> = if term.0.chars().count() < PROBE_BELOW_CHARS {
        diesel::sql_query(format!(
            "SELECT books.id FROM (SELECT id, search_key FROM books LIMIT {PROBE_ROWS}) AS books \
             WHERE strpos(books.search_key, $1) > 0 LIMIT $2"
        ))
        .bind::<Text, _>(term.0.clone())
        .bind::<BigInt, _>(limit)
        .load(conn)?
    } else {
        Vec::new()
    };
    let rows = if i64::try_from(probe.len()).unwrap_or(i64::MAX) >= limit {
        probe
    } else {
        conn.transaction(|conn| {
            diesel::sql_query("SET LOCAL enable_seqscan = off").execute(conn)?;
            diesel::sql_query("SELECT id FROM books WHERE search_key LIKE $1 ESCAPE '\\' LIMIT $2")
                .bind::<Text, _>(term.like_pattern())
                .bind::<BigInt, _>(limit)
                .load::<Id>(conn)
        })?
    };
    Ok(rows.into_iter().map(|row| row.id).collect())
}

/// Bump when `key` changes: the next start recomputes every book's key.
const KEY_VERSION: &str = "1";
const KEY_SETTING: &str = "search_key_version";

/// Recomputes the stored search keys when they were made by another
/// version of `key` (the migration that added them folds ASCII only).
pub fn refresh_keys_if_changed(conn: &mut DbConnection) -> Result<(), ApiError> {
    if crate::db::get_setting(conn, KEY_SETTING)?.as_deref() == Some(KEY_VERSION) {
        return Ok(());
    }
    let mut changed = 0;
    let mut after = 0_i64;
    loop {
        let batch: Vec<(i64, String, String, String)> = books::table
            .filter(books::id.gt(after))
            .order(books::id.asc())
            .limit(2000)
            .select((books::id, books::title, books::author, books::search_key))
            .load(conn)?;
        let Some(last) = batch.last() else { break };
        after = last.0;
        let stale: Vec<(i64, String)> = batch
            .into_iter()
            .filter_map(|(id, title, author, stored)| {
                let fresh = key(&title, &author);
                (fresh != stored).then_some((id, fresh))
            })
            .collect();
        if stale.is_empty() {
            continue;
        }
        crate::db::write_transaction(conn, |conn| {
            for (id, fresh) in &stale {
                diesel::update(books::table.find(id)).set(books::search_key.eq(fresh)).execute(conn)?;
            }
            Ok::<_, ApiError>(())
        })?;
        changed += stale.len();
    }
    crate::db::put_setting(conn, KEY_SETTING, KEY_VERSION)?;
    if changed > 0 {
        log::info!("recomputed the search key of {changed} book(s)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_makes_wildcards_literal() {
        let term = Term::new("50%_OFF\\").unwrap();
        assert_eq!(term.like_pattern(), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn folding_keeps_substrings_substrings() {
        // Rust's str::to_lowercase would end ΟΔΟΣ with a final sigma, and
        // "ΟΔΟΣ" would no longer be found in "ΟΔΟΣΑ".
        assert!(fold("ΟΔΟΣΑ").contains(&fold("ΟΔΟΣ")));
        assert_eq!(fold("ÉMIGRÉ Straße"), "émigré straße");
        assert_eq!(key("War", "Tolstoy"), "war\ntolstoy");
    }

    #[test]
    fn terms_are_trimmed_and_never_blank() {
        assert_eq!(Term::new("  "), None);
        assert_eq!(Term::new(" Ab ").unwrap().as_str(), "ab");
        assert!(!Term::new("ab").unwrap().indexed());
        assert!(Term::new("abc").unwrap().indexed());
        assert_eq!(Term::new("a\"b").unwrap().phrase(), "\"a\"\"b\"");
    }
}
