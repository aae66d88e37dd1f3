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

pub fn import_csv(conn: &mut DbConnection, source: impl Read) -> Result<ImportReport, ImportError> {
    import_csv_with_progress(conn, source, |_| {})
}

/// `import_csv`, calling `progress` with the report so far after each
/// transaction.
pub fn import_csv_with_progress(
    conn: &mut DbConnection,
    source: impl Read,
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
    let mut catalogued = Catalogued::load(conn)?;
    let mut report = ImportReport::default();
    let mut batch: Vec<BookColumns> = Vec::with_capacity(TRANSACTION_ROWS);
    let now = db::now();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or_default();
                report.rejected.push((line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or_default();
        let parsed =
            record.deserialize::<CsvRow>(Some(&headers)).map_err(|e| format!("unreadable row: {e}")).and_then(to_input);
        match parsed {
            Ok(input) if catalogued.insert(&input) => batch.push(BookColumns::from_input(input, now)),
            Ok(_) => report.already_present += 1,
            Err(problem) => report.rejected.push((line, problem)),
        }
        if batch.len() == TRANSACTION_ROWS {
            write_batch(conn, &mut batch, &mut report)?;
            progress(&report);
        }
    }
    write_batch(conn, &mut batch, &mut report)?;
    if let DbConnection::Postgres(c) = conn {
        // The planner picks between the trigram index and a scan by the
        // statistics; autovacuum would refresh them only a while later.
        c.batch_execute("ANALYZE books").map_err(ApiError::from)?;
    }
    progress(&report);
    Ok(report)
}

/// Rows written per transaction: each commit waits for the disk
/// (`synchronous = FULL`), so few of them, while a server beside the import
/// waits for the write lock no longer than one of these takes.
const TRANSACTION_ROWS: usize = 10_000;
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

fn write_batch(
    conn: &mut DbConnection,
    batch: &mut Vec<BookColumns>,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
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
    batch.clear();
    Ok(())
}
