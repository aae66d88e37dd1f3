//! `shelf import FILE`: loads books from CSV.
//!
//! Columns (header row required, any order): `title`, `author` (required),
//! `published_year`, `isbn`, `rating`, `specifications_flat` (optional,
//! may be empty). Each row passes the same validation as `POST /books`.
//! Bad rows are reported with their line numbers and skipped; good rows
//! are written in transactions of `BATCH` rows. A book whose exact title
//! and author are already catalogued is skipped, so a second import of the
//! same file adds nothing.

use std::io::Read;

use serde::Deserialize;
use validator::Validate;

use super::{BookColumns, BookInput, queries};
use crate::db::{self, DbConnection};
use crate::error::ApiError;

const BATCH: usize = 500;

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
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::Headers).from_reader(source);
    let headers = reader.headers()?.clone();
    if let Some(unknown) = headers.iter().find(|h| !COLUMNS.contains(h)) {
        return Err(ImportError::UnknownColumn(unknown.to_owned()));
    }
    if !headers.iter().any(|h| h == "title") || !headers.iter().any(|h| h == "author") {
        return Err(ImportError::MissingColumn);
    }

    let mut report = ImportReport::default();
    let mut batch: Vec<BookInput> = Vec::with_capacity(BATCH);
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
            Ok(input) => batch.push(input),
            Err(problem) => report.rejected.push((line, problem)),
        }
        if batch.len() == BATCH {
            write_batch(conn, std::mem::take(&mut batch), &mut report)?;
        }
    }
    write_batch(conn, batch, &mut report)?;
    Ok(report)
}

fn write_batch(conn: &mut DbConnection, batch: Vec<BookInput>, report: &mut ImportReport) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    let now = db::now();
    let (imported, present) = db::write_transaction(conn, |conn| {
        let (mut imported, mut present) = (0, 0);
        for input in batch {
            if queries::exists_by_title_author(conn, &input.title, &input.author)? {
                present += 1;
                continue;
            }
            queries::create(conn, &BookColumns::from_input(input, now))?;
            imported += 1;
        }
        Ok::<_, ApiError>((imported, present))
    })?;
    report.imported += imported;
    report.already_present += present;
    Ok(())
}
