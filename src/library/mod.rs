//! Each user's own tags and reading statuses. Every query here is scoped to
//! one user id; another user's data is indistinguishable from absent data.

pub mod ops;
pub mod queries;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::books::Book;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadingStatus {
    WantToRead,
    Reading,
    Read,
    Abandoned,
}

impl ReadingStatus {
    pub const ALL: [Self; 4] = [Self::WantToRead, Self::Reading, Self::Read, Self::Abandoned];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::WantToRead => "want_to_read",
            Self::Reading => "reading",
            Self::Read => "read",
            Self::Abandoned => "abandoned",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

fn validate_status(raw: &str) -> Result<(), ValidationError> {
    ReadingStatus::parse(raw).map(|_| ()).ok_or_else(|| {
        ValidationError::new("status").with_message("must be one of want_to_read, reading, read, abandoned".into())
    })
}

fn validate_tag(raw: &str) -> Result<(), ValidationError> {
    if raw.trim() != raw || raw.chars().any(char::is_control) {
        return Err(ValidationError::new("tag")
            .with_message("must not start or end with spaces or contain control characters".into()));
    }
    Ok(())
}

/// Body of `/add_tag` and `/remove_tag`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    /// 1–32 characters, no leading or trailing spaces, no control
    /// characters.
    #[validate(length(min = 1, max = 32, message = "length must be 1 to 32"), custom(function = "validate_tag"))]
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = "^[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000](?:[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?$"
    )]
    pub tag: String,
    #[validate(range(min = 1, message = "must be at least 1"))]
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "crate::whole_number::required")]
    pub book_id: i64,
}

/// Body of `/change_status`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    #[validate(range(min = 1, message = "must be at least 1"))]
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "crate::whole_number::required")]
    pub book_id: i64,
    /// `want_to_read`, `reading`, `read` or `abandoned`.
    #[validate(custom(function = "validate_status"))]
    #[schema(value_type = ReadingStatus)]
    pub status: String,
}

/// Body of v2's `PUT /books/{id}/status`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// `want_to_read`, `reading`, `read` or `abandoned`.
    #[validate(custom(function = "validate_status"))]
    #[schema(value_type = ReadingStatus)]
    pub status: String,
}

/// The tag rules of a tag named in a path (v2), as of one in a body (v1).
pub fn check_tag(tag: &str) -> Result<(), ValidationError> {
    let length = tag.chars().count();
    if !(1..=32).contains(&length) {
        return Err(ValidationError::new("length").with_message("length must be 1 to 32".into()));
    }
    validate_tag(tag)
}

/// The caller's own view of one book (v2's `my`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Mine {
    /// The caller's reading status, or null.
    #[schema(required = true)]
    pub status: Option<ReadingStatus>,
    /// The caller's tags on the book, sorted; HTML-safe like every tag.
    pub tags: Vec<String>,
}

/// v2: the caller's tags on one book, sorted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BookTags {
    pub book_id: i64,
    /// HTML-safe: markup removed, `&`, `<`, `>` entity-encoded.
    pub tags: Vec<String>,
}

/// v2: the caller's status of one book.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BookStatus {
    pub book_id: i64,
    pub status: ReadingStatus,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

/// The caller's tags on one book, sorted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagsResponse {
    /// Always true.
    pub success: bool,
    /// HTML-safe: markup removed, `&`, `<`, `>` entity-encoded (stored as
    /// written).
    pub tags: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusResponse {
    /// Always true.
    pub success: bool,
    pub book_id: i64,
    pub status: ReadingStatus,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagCount {
    /// HTML-safe: markup removed, `&`, `<`, `>` entity-encoded.
    pub name: String,
    /// How many of the caller's books carry this tag.
    pub book_count: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagList {
    pub tags: Vec<TagCount>,
}

/// Query of `GET /library`.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LibraryQuery {
    /// Only books with this status.
    #[validate(custom(function = "validate_status"))]
    #[param(value_type = Option<ReadingStatus>)]
    pub status: Option<String>,
    /// Only books with this tag.
    #[validate(length(min = 1, max = 32, message = "length must be 1 to 32"), custom(function = "validate_tag"))]
    #[param(
        min_length = 1,
        max_length = 32,
        pattern = "^[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000](?:[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?$"
    )]
    pub tag: Option<String>,
    #[validate(range(min = 1, max = 100_000, message = "must be 1 to 100000"))]
    #[param(minimum = 1, maximum = 100_000)]
    pub page: Option<u32>,
    #[validate(range(min = 1, max = 100, message = "must be 1 to 100"))]
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// A book in the caller's library: the book, the caller's status and tags.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LibraryEntry {
    #[serde(flatten)]
    pub book: Book,
    /// Null when the caller set no status on the book.
    #[schema(required = true)]
    pub status: Option<ReadingStatus>,
    /// HTML-safe, like `TagsResponse.tags`.
    pub tags: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LibraryPage {
    pub books: Vec<LibraryEntry>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}
