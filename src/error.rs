//! The one error type, its stable codes, and the envelope's body.
//!
//! Everything returns `Result<_, ApiError>`; each variant documents its
//! status. How an `ApiError` becomes a response (and how actix's own
//! errors become one) is `http::envelope`'s business: nothing here knows
//! HTTP beyond a status number.

use serde::Serialize;
use utoipa::ToSchema;

macro_rules! error_codes {
    ($($variant:ident => $name:literal,)*) => {
        /// The stable identifier of an error, in every error body's `code`:
        /// clients branch on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

error_codes! {
    BadRequest => "bad_request",
    InvalidJson => "invalid_json",
    InvalidBody => "invalid_body",
    InvalidQuery => "invalid_query",
    InvalidSortColumn => "invalid_sort_column",
    InvalidSortOrder => "invalid_sort_order",
    InvalidCursor => "invalid_cursor",
    ValidationFailed => "validation_failed",
    MultipleCredentials => "multiple_credentials",
    AuthenticationRequired => "authentication_required",
    InvalidToken => "invalid_token",
    InvalidCredentials => "invalid_credentials",
    InvalidRefreshToken => "invalid_refresh_token",
    InvalidSession => "invalid_session",
    InvalidApiKey => "invalid_api_key",
    Forbidden => "forbidden",
    CsrfFailed => "csrf_failed",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    RequestTimeout => "request_timeout",
    Conflict => "conflict",
    UsernameTaken => "username_taken",
    CannotChangeSelf => "cannot_change_self",
    TooManyApiKeys => "too_many_api_keys",
    PayloadTooLarge => "payload_too_large",
    UriTooLong => "uri_too_long",
    UnsupportedMediaType => "unsupported_media_type",
    TooManyRequests => "too_many_requests",
    HeadersTooLarge => "headers_too_large",
    InternalError => "internal_error",
    ServerBusy => "server_busy",
    SignInBusy => "sign_in_busy",
    ServiceUnavailable => "service_unavailable",
}

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The field, as named in the request.
    pub field: String,
    pub message: String,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Human-readable; never contains internals or whether a username exists.
    pub message: String,
    /// The HTTP status, repeated for clients that only see the body.
    pub status_code: u16,
    /// Stable identifier to branch on.
    pub code: ErrorCode,
    /// The request's `X-Request-Id`, to quote when reporting a problem.
    pub request_id: String,
    /// Per-field problems; present only for validation failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<FieldProblem>>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 400: a request that cannot be understood (bad JSON, query, sort).
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    /// 400 `validation_failed`: well-formed, but fields break the rules.
    #[error("Invalid request")]
    Validation(Vec<FieldProblem>),
    /// 401: no credentials, or credentials that do not hold.
    #[error("{message}")]
    Unauthorized { code: ErrorCode, message: &'static str },
    /// 403 `forbidden`: valid credentials without the needed role or scope.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 403 `csrf_failed`: a cookie-authenticated write without the
    /// session's `X-CSRF-Token`.
    #[error("CSRF token missing or invalid")]
    CsrfFailed,
    /// 404 `not_found`: absent, or owned by someone else.
    #[error("{0}")]
    NotFound(&'static str),
    /// 405 `method_not_allowed`, with the `Allow` header (the methods the
    /// route answers, comma-separated).
    #[error("Method not allowed")]
    MethodNotAllowed { allow: String },
    /// 409: the thing already exists.
    #[error("{message}")]
    Conflict { code: ErrorCode, message: &'static str },
    /// 413 `payload_too_large`.
    #[error("Request body is larger than 1 MiB")]
    PayloadTooLarge,
    /// 429 `too_many_requests`, with `Retry-After`; the message names the
    /// limit that was hit.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_seconds: u64 },
    /// 408 `request_timeout`: the body did not arrive in time.
    #[error("The request body did not arrive in time")]
    RequestTimeout,
    /// 414 `uri_too_long`: a request line longer than the server reads.
    #[error("URI too long")]
    UriTooLong,
    /// 431 `headers_too_large`: more header bytes or lines than the server reads.
    #[error("Request headers too large")]
    HeadersTooLarge,
    /// 415 `unsupported_media_type`.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// 503 `server_busy`, with `Retry-After`: too many request bodies are
    /// being received at once; the request was not read.
    #[error("The server is receiving too many request bodies at once; retry shortly")]
    Busy { retry_after_seconds: u64 },
    /// 503 `sign_in_busy`, with `Retry-After`: more passwords to check at
    /// once than the hashing threads get through in a fraction of a second.
    /// Refused at once rather than queued; no password was looked at.
    #[error("Too many sign-ins at once; try again shortly")]
    SignInBusy { retry_after_seconds: u64 },
    /// 503 `service_unavailable`: the database does not answer.
    #[error("The service is temporarily unavailable")]
    Unavailable,
    /// 500 `internal_error`: the cause is logged, never sent.
    #[error("Internal server error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn authentication_required() -> Self {
        Self::Unauthorized { code: ErrorCode::AuthenticationRequired, message: "Authentication required" }
    }

    pub fn invalid_token() -> Self {
        Self::Unauthorized { code: ErrorCode::InvalidToken, message: "Invalid or expired token" }
    }

    pub fn invalid_api_key() -> Self {
        Self::Unauthorized { code: ErrorCode::InvalidApiKey, message: "Invalid or missing API key" }
    }

    /// 400 `invalid_cursor`: a paging cursor that is not one the server
    /// made for this listing.
    pub fn invalid_cursor(message: &'static str) -> Self {
        Self::bad_request(ErrorCode::InvalidCursor, message)
    }

    pub fn invalid_credentials() -> Self {
        Self::Unauthorized { code: ErrorCode::InvalidCredentials, message: "Invalid credentials" }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { code, .. } | Self::Unauthorized { code, .. } | Self::Conflict { code, .. } => *code,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::CsrfFailed => ErrorCode::CsrfFailed,
            Self::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::UriTooLong => ErrorCode::UriTooLong,
            Self::HeadersTooLarge => ErrorCode::HeadersTooLarge,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::RequestTimeout => ErrorCode::RequestTimeout,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::Busy { .. } => ErrorCode::ServerBusy,
            Self::Unavailable => ErrorCode::ServiceUnavailable,
            Self::SignInBusy { .. } => ErrorCode::SignInBusy,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } | Self::Validation(_) => 400,
            Self::Unauthorized { .. } => 401,
            Self::Forbidden(_) | Self::CsrfFailed => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::RequestTimeout => 408,
            Self::Conflict { .. } => 409,
            Self::PayloadTooLarge => 413,
            Self::UriTooLong => 414,
            Self::UnsupportedMediaType => 415,
            Self::TooManyRequests { .. } => 429,
            Self::HeadersTooLarge => 431,
            Self::Internal(_) => 500,
            Self::Unavailable | Self::Busy { .. } | Self::SignInBusy { .. } => 503,
        }
    }

    /// The message with its field problems, on one line (for the CLI).
    pub fn describe_fields(&self) -> String {
        match self {
            Self::Validation(problems) => {
                problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; ")
            }
            other => other.to_string(),
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            message: self.to_string(),
            status_code: self.status(),
            code: self.code(),
            request_id: String::new(),
            details: match self {
                Self::Validation(problems) => Some(problems.clone()),
                _ => None,
            },
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => Self::NotFound("Not found"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Self::Conflict { code: ErrorCode::Conflict, message: "Already exists" }
            }
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => {
                log::error!("database unavailable: {}", info.message());
                Self::Unavailable
            }
            // SQLite reports a writer that waited past busy_timeout this way.
            Error::DatabaseError(_, ref info) if info.message().contains("database is locked") => {
                log::error!("database busy: {}", info.message());
                Self::Unavailable
            }
            other => Self::internal(format!("database error: {other}")),
        }
    }
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut problems: Vec<FieldProblem> = errors
            .field_errors()
            .into_iter()
            .flat_map(|(field, errs)| {
                errs.iter().map(move |e| FieldProblem {
                    field: field.to_string(),
                    message: e
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| format!("invalid ({})", e.code)),
                })
            })
            .collect();
        problems.sort_by(|a, b| a.field.cmp(&b.field));
        Self::Validation(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serializes_as_its_name() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
