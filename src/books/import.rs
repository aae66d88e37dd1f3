//! `shelf import FILE`: loads books from CSV.
//!
//! Columns (header row required, any order): `title`, `author` (required),
//! `published_year`, `isbn`, `rating`, `specifications_flat` (optional,
//! may be empty). Each row passes the same validation as `POST /books`.
//! Bad rows are reported with their line numbers and skipped; good rows
//! are written in transactions of `TRANSACTION_ROWS` rows, many to a
//! statement. A book whose exact title and author are already catalogued
//! (or came earlier in the file) is skipped, so a second import of the
//! same file adds nothing.

use std::collections::HashSet;
use std::io::Read;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use serde::Deserialize;
use validator::Validate;

use super::{BookColumns, BookInput};
use crate::db::{self, DbConnection, schema::books};
use crate::error::ApiError;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    pub already_present: usize,
    /// (line number, problem)
    pub rejected: Vec<(u64, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("the header must name title and author; unknown column {0:?}")]
    UnknownColumn(String),
    #[error("the header must have the columns title and author")]
    MissingColumn,
    #[error("database: {0}")]
    Database(#[from] ApiError),
}

#[derive(Debug, Deserialize)]
struct CsvRow {
    title: String,
    author: String,
    #[serde(default)]
    published_year: Option<String>,
    #[serde(default)]
    isbn: Option<String>,
    #[serde(default)]
    rating: Option<String>,
    #[serde(default)]
    specifications_flat: Option<String>,
}

const COLUMNS: [&str; 6] = ["title", "author", "published_year", "isbn", "rating", "specifications_flat"];

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parse_number<T: std::str::FromStr>(field: &str, value: Option<String>) -> Result<Option<T>, String> {
    non_empty(value).map(|v| v.parse::<T>().map_err(|_| format!("{field}: {v:?} is not a number"))).transpose()
}

fn to_input(row: CsvRow) -> Result<BookInput, String> {
    let input = BookInput {
        title: row.title.trim().to_owned(),
        author: row.author.trim().to_owned(),
        rating: parse_number("rating", row.rating)?,
        isbn: non_empty(row.isbn),
        published_year: parse_number("published_year", row.published_year)?,
        specifications_flat: non_empty(row.specifications_flat),
    };
    input.validate().map_err(|errors| match ApiError::from(errors) {
        ApiError::Validation(problems) => {
            problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    })?;
    Ok(input)
}

pub fn import_csv(conn: &mut DbConnection, source: impl Read + Send) -> Result<ImportReport, ImportError> {
    import_csv_with_progress(conn, source, |_| {})
}

/// `import_csv`, calling `progress` with the report so far after each
/// transaction.
///
/// The rows are read, validated and sanitized on a second thread while this
/// one writes the previous batch, so neither waits for the other.
pub fn import_csv_with_progress(
    conn: &mut DbConnection,
    source: impl Read + Send,
    mut progress: impl FnMut(&ImportReport),
) -> Result<ImportReport, ImportError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::Headers).from_reader(source);
    let headers = reader.headers()?.clone();
    if let Some(unknown) = headers.iter().find(|h| !COLUMNS.contains(h)) {
        return Err(ImportError::UnknownColumn(unknown.to_owned()));
    }
    if !headers.iter().any(|h| h == "title") || !headers.iter().any(|h| h == "author") {
        return Err(ImportError::MissingColumn);
    }

    if let DbConnection::Sqlite(c) = conn {
        // The three order indexes and the trigram index take inserts all
        // over; the default 2 MiB page cache would reread their pages from
        // the file for nearly every row.
        c.batch_execute(IMPORT_CACHE).map_err(ApiError::from)?;
    }
    let catalogued = Catalogued::load(conn)?;
    // Into an empty catalog on SQLite, the order indexes are built once at
    // the end: sorting the keys once instead of inserting them one by one
    // all over three B-trees took a million books from 62 s to 35 s.
    let deferred = matches!(conn, DbConnection::Sqlite(_)) && catalogued.0.is_empty();
    if deferred {
        db::write_transaction(conn, |conn| {
            ORDER_INDEXES.iter().try_for_each(|(name, _)| {
                diesel::sql_query(format!("DROP INDEX IF EXISTS {name}")).execute(conn).map(drop)
            })
        })
        .map_err(ApiError::from)?;
    }
    let loaded = load(conn, reader, &headers, catalogued, &mut progress);
    if deferred {
        // Also when the load failed: the books written so far need them.
        // A process killed meanwhile gets them back at the next start.
        ensure_order_indexes(conn)?;
    }
    let report = loaded?;
    match conn {
        DbConnection::Sqlite(_) => merge_trigram_index(conn)?,
        // The trigram index takes the imported rows into its pending list
        // (GIN's fast update), which every search reads through until a
        // vacuum merges it: 4 MiB of it made rare terms 5-10 times slower.
        // The planner picks between the trigram index and a scan by the
        // statistics; autovacuum would refresh them only a while later.
        DbConnection::Postgres(c) => c
            .batch_execute("SELECT gin_clean_pending_list('books_search_trgm'); ANALYZE books")
            .map_err(ApiError::from)?,
    }
    progress(&report);
    Ok(report)
}

/// The order indexes `queries::order_by` walks, as the first migration
/// creates them (`tests/api/import.rs` compares the two).
const ORDER_INDEXES: [(&str, &str); 3] = [
    ("books_title_order", "ON books (lower(title), id)"),
    ("books_author_order", "ON books (lower(author), id)"),
    ("books_rating_order", "ON books (rating IS NOT NULL, rating, id)"),
];

/// Creates whichever order index is missing (SQLite; a no-op when all are
/// there): after an import into an empty catalog, and at every start in
/// case such an import was killed before it could.
pub fn ensure_order_indexes(conn: &mut DbConnection) -> Result<(), ApiError> {
    #[derive(QueryableByName)]
    struct Present {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        indexes: i64,
    }
    if !matches!(conn, DbConnection::Sqlite(_)) {
        return Ok(());
    }
    // Read first: the usual answer is "all there", and it needs no write
    // lock (a command such as `shelf backup` starts beside a busy server).
    let names = ORDER_INDEXES.map(|(name, _)| format!("'{name}'")).join(", ");
    let present: Present = diesel::sql_query(format!(
        "SELECT count(*) AS indexes FROM sqlite_master WHERE type = 'index' AND name IN ({names})"
    ))
    .get_result(conn)?;
    if present.indexes == i64::try_from(ORDER_INDEXES.len()).unwrap_or(i64::MAX) {
        return Ok(());
    }
    db::write_transaction(conn, |conn| {
        ORDER_INDEXES.iter().try_for_each(|(name, definition)| {
            diesel::sql_query(format!("CREATE INDEX IF NOT EXISTS {name} {definition}")).execute(conn).map(drop)
        })
    })
    .map_err(ApiError::from)
}

/// Writes the parsed rows as they come, a transaction per batch.
fn load<R: Read + Send>(
    conn: &mut DbConnection,
    reader: csv::Reader<R>,
    headers: &csv::StringRecord,
    catalogued: Catalogued,
    progress: &mut impl FnMut(&ImportReport),
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    std::thread::scope(|scope| {
        // Two batches in flight at most: one being written, one ready.
        let (batches, parsed) = std::sync::mpsc::sync_channel::<Batch>(1);
        scope.spawn(move || parse(reader, headers, catalogued, &batches));
        for batch in parsed {
            report.already_present += batch.already_present;
            report.rejected.extend(batch.rejected);
            write_batch(conn, batch.books, &mut report)?;
            progress(&report);
        }
        Ok::<_, ImportError>(())
    })?;
    Ok(report)
}

/// What the parsing thread hands over: up to `TRANSACTION_ROWS` new books,
/// and what it set aside on the way.
struct Batch {
    books: Vec<BookColumns>,
    already_present: usize,
    rejected: Vec<(u64, String)>,
}

/// Reads every record in order, sending a batch each `TRANSACTION_ROWS`
/// new books and one at the end. Stops early when the writer has gone (it
/// failed, and its error is the import's).
fn parse<R: Read>(
    mut reader: csv::Reader<R>,
    headers: &csv::StringRecord,
    mut catalogued: Catalogued,
    batches: &std::sync::mpsc::SyncSender<Batch>,
) {
    let now = db::now();
    let empty = || Batch { books: Vec::with_capacity(TRANSACTION_ROWS), already_present: 0, rejected: Vec::new() };
    let mut batch = empty();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or_default();
                batch.rejected.push((line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or_default();
        let parsed =
            record.deserialize::<CsvRow>(Some(headers)).map_err(|e| format!("unreadable row: {e}")).and_then(to_input);
        match parsed {
            Ok(input) if catalogued.insert(&input) => batch.books.push(BookColumns::from_input(input, now)),
            Ok(_) => batch.already_present += 1,
            Err(problem) => batch.rejected.push((line, problem)),
        }
        if batch.books.len() == TRANSACTION_ROWS && batches.send(std::mem::replace(&mut batch, empty())).is_err() {
            return;
        }
    }
    // A send fails only when the writer has stopped, which it reports.
    let _ = batches.send(batch);
}

/// Rows written per transaction: each commit waits for the disk
/// (`synchronous = FULL`) and rewrites the index pages the batch touched, so
/// few of them, while a server beside the import waits for the write lock
/// no longer than one of these takes (about a second on SQLite; a server's
/// write waits up to 5 s, `busy_timeout`).
const TRANSACTION_ROWS: usize = 20_000;
/// Rows per INSERT statement: 14 values each, under SQLite's bound of
/// 32,766 parameters and PostgreSQL's of 65,535.
const INSERT_ROWS: usize = 1_000;
/// Page cache for the importing connection (negative: KiB).
const IMPORT_CACHE: &str = "PRAGMA cache_size = -262144;";

/// (title, author) of every book catalogued and imported so far, the
/// duplicate rule's key, held in memory: one query at the start instead of
/// one per row.
struct Catalogued(HashSet<String>);

impl Catalogued {
    fn load(conn: &mut DbConnection) -> Result<Self, ImportError> {
        let pairs: Vec<(String, String)> =
            books::table.select((books::title, books::author)).load(conn).map_err(ApiError::from)?;
        Ok(Self(pairs.iter().map(|(title, author)| Self::key(title, author)).collect()))
    }

    /// Titles and authors hold no control characters, so NUL cannot occur
    /// in either and the key is unambiguous.
    fn key(title: &str, author: &str) -> String {
        format!("{title}\0{author}")
    }

    /// Whether the book is new; it is counted as catalogued from now on.
    fn insert(&mut self, input: &BookInput) -> bool {
        self.0.insert(Self::key(&input.title, &input.author))
    }
}

fn write_batch(conn: &mut DbConnection, batch: Vec<BookColumns>, report: &mut ImportReport) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    let now = db::now();
    db::write_transaction(conn, |conn| {
        for rows in batch.chunks(INSERT_ROWS) {
            let values: Vec<_> = rows.iter().map(|columns| (columns, books::created_at.eq(now))).collect();
            crate::on_backend!(conn, c => diesel::insert_into(books::table).values(values).execute(c))?;
        }
        Ok::<_, ApiError>(())
    })?;
    report.imported += batch.len();
    Ok(())
}

/// Pages of the trigram index one merge step writes (~8 MiB, a fraction
/// of a second), so that servers beside the import wait for the write lock
/// no longer than they do for a batch.
const MERGE_PAGES: i64 = 2_000;

/// Merges the trigram index's segments into one, a step per transaction.
/// A batch leaves a segment behind, and a search reads every segment's
/// part of each trigram: at 100,000 books, finding a phrase in the merged
/// index takes half the time. The work is done when a step changes fewer
/// than two rows (FTS5's documented signal).
fn merge_trigram_index(conn: &mut DbConnection) -> Result<(), ImportError> {
    #[derive(QueryableByName)]
    struct Changes {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total: i64,
    }
    let total_changes = |conn: &mut DbConnection| {
        diesel::sql_query("SELECT total_changes() AS total").get_result::<Changes>(conn).map(|c| c.total)
    };
    loop {
        let changes = db::write_transaction(conn, |conn| {
            // A negative page count asks FTS5 to merge every segment, not only
            // levels holding `usermerge` of them.
            let before = total_changes(conn)?;
            diesel::sql_query(format!(
                "INSERT INTO books_search (books_search, rank) VALUES ('merge', -{MERGE_PAGES})"
            ))
            .execute(conn)?;
            Ok::<_, ApiError>(total_changes(conn)? - before)
        })?;
        if changes < 2 {
            return Ok(());
        }
    }
}
