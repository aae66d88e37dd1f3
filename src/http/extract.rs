//! Extractors that validate, and the error handlers that put actix's own
//! extractor failures (bad JSON, wrong content type, oversized bodies, bad
//! query strings and paths) into the one error type.

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::web::{Json, JsonConfig, PathConfig, PayloadConfig, Query, QueryConfig};
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use validator::Validate;

use crate::error::ApiError;

/// The contract's body limit.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body that parsed and passed its `validator` rules.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = Json::<T>::from_request(req, payload);
        Box::pin(async move {
            let Json(value) = body.await?;
            value.validate().map_err(ApiError::from)?;
            Ok(Self(value))
        })
    }
}

/// A query string that parsed and passed its `validator` rules.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidQuery<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let result = Query::<T>::from_request(req, payload).into_inner().and_then(|Query(value)| {
            value.validate().map_err(ApiError::from)?;
            Ok(Self(value))
        });
        std::future::ready(result)
    }
}

pub fn json_config() -> JsonConfig {
    JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .content_type_required(true)
        .error_handler(|error, _req| json_error(error).into())
}

pub fn payload_config() -> PayloadConfig {
    PayloadConfig::new(MAX_BODY_BYTES)
}

pub fn query_config() -> QueryConfig {
    QueryConfig::default().error_handler(|error, _req| query_error(error).into())
}

pub fn path_config() -> PathConfig {
    PathConfig::default().error_handler(|_error: PathError, _req| ApiError::NotFound("Not found").into())
}

fn json_error(error: JsonPayloadError) -> ApiError {
    match error {
        JsonPayloadError::Overflow { .. }
        | JsonPayloadError::OverflowKnownLength { .. }
        | JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::PayloadTooLarge,
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Payload(PayloadError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::RequestTimeout
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::bad_request("invalid_body", format!("Invalid request body: {e}"))
        }
        JsonPayloadError::Deserialize(e) => ApiError::bad_request("invalid_json", format!("Malformed JSON: {e}")),
        other => ApiError::bad_request("invalid_body", format!("Could not read the request body: {other}")),
    }
}

fn query_error(error: QueryPayloadError) -> ApiError {
    match error {
        QueryPayloadError::Deserialize(e) => {
            ApiError::bad_request("invalid_query", format!("Invalid query string: {e}"))
        }
        _ => ApiError::bad_request("invalid_query", "Invalid query string"),
    }
}

/// A JSON body that may be absent: an empty body is `None`; anything else
/// must be `application/json`, parse and validate, like [`ValidJson`].
pub fn optional_json<T: DeserializeOwned + Validate>(req: &HttpRequest, body: &[u8]) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == mime::APPLICATION && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let value: T = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::bad_request("invalid_body", format!("Invalid request body: {e}"))
        } else {
            ApiError::bad_request("invalid_json", format!("Malformed JSON: {e}"))
        }
    })?;
    value.validate()?;
    Ok(Some(value))
}

/// For names, titles and search text: no control characters at all (a NUL
/// would also be refused by PostgreSQL and break SQLite's full-text query).
pub fn single_line_text(value: &str) -> Result<(), validator::ValidationError> {
    if value.chars().any(char::is_control) {
        return Err(validator::ValidationError::new("control_characters")
            .with_message("must not contain control characters".into()));
    }
    Ok(())
}

/// For longer text: line breaks and tabs are fine, other control
/// characters (NUL among them) are not.
pub fn multi_line_text(value: &str) -> Result<(), validator::ValidationError> {
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(validator::ValidationError::new("control_characters")
            .with_message("must not contain control characters other than line breaks and tabs".into()));
    }
    Ok(())
}
