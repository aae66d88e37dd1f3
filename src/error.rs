//! The one error type and the one error envelope.
//!
//! Handlers return `Result<_, ApiError>`; actix's own extractor errors are
//! turned into `ApiError` by the handlers in `extract_errors`, and anything
//! that still escapes as a bare status (routing 404/405, panics) is wrapped
//! by the `http::envelope` middleware. Every variant documents its status.

use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

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
    /// Stable snake_case identifier to branch on, e.g. `invalid_sort_column`,
    /// `validation_failed`, `invalid_json`, `unsupported_media_type`,
    /// `payload_too_large`, `request_timeout`, `invalid_query`, `authentication_required`,
    /// `invalid_token`, `invalid_credentials`, `invalid_api_key`,
    /// `invalid_refresh_token`, `multiple_credentials`, `forbidden`,
    /// `csrf_failed`, `too_many_requests`, `not_found`,
    /// `method_not_allowed`, `conflict`, `service_unavailable`,
    /// `sign_in_busy`, `internal_error`.
    pub code: String,
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
    BadRequest { code: &'static str, message: String },
    /// 400 `validation_failed`: well-formed, but fields break the rules.
    #[error("Invalid request")]
    Validation(Vec<FieldProblem>),
    /// 401: no credentials, or credentials that do not hold.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: &'static str },
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
    Conflict { code: &'static str, message: &'static str },
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
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn authentication_required() -> Self {
        Self::Unauthorized { code: "authentication_required", message: "Authentication required" }
    }

    pub fn invalid_token() -> Self {
        Self::Unauthorized { code: "invalid_token", message: "Invalid or expired token" }
    }

    pub fn invalid_api_key() -> Self {
        Self::Unauthorized { code: "invalid_api_key", message: "Invalid or missing API key" }
    }

    pub fn invalid_credentials() -> Self {
        Self::Unauthorized { code: "invalid_credentials", message: "Invalid credentials" }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Unauthorized { code, .. } | Self::Conflict { code, .. } => code,
            Self::Validation(_) => "validation_failed",
            Self::Forbidden(_) => "forbidden",
            Self::CsrfFailed => "csrf_failed",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::UriTooLong => "uri_too_long",
            Self::HeadersTooLarge => "headers_too_large",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Busy { .. } => "server_busy",
            Self::Unavailable => "service_unavailable",
            Self::SignInBusy { .. } => "sign_in_busy",
            Self::Internal(_) => "internal_error",
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
            status_code: self.status_code().as_u16(),
            code: self.code().to_owned(),
            request_id: String::new(),
            details: match self {
                Self::Validation(problems) => Some(problems.clone()),
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } | Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::CsrfFailed => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable | Self::Busy { .. } | Self::SignInBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Renders the envelope without a request id and leaves the body in the
    /// response's extensions; the envelope middleware adds the id.
    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            log::error!("internal error: {cause}");
        }
        let mut response = render(self.status_code(), self.body());
        match self {
            Self::TooManyRequests { retry_after_seconds, .. }
            | Self::Busy { retry_after_seconds }
            | Self::SignInBusy { retry_after_seconds } => {
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            Self::MethodNotAllowed { allow } => {
                if let Ok(value) = HeaderValue::from_str(allow) {
                    response.headers_mut().insert(ALLOW, value);
                }
            }
            _ => {}
        }
        response
    }
}

/// Builds an error response from an envelope body.
pub fn render(status: StatusCode, body: ErrorBody) -> HttpResponse {
    let bytes = serde_json::to_vec(&ErrorEnvelope { error: body.clone() }).unwrap_or_default();
    let mut response = HttpResponse::build(status)
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(bytes);
    response.extensions_mut().insert(body);
    response
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => Self::NotFound("Not found"),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Self::Conflict { code: "conflict", message: "Already exists" }
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
