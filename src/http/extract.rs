//! Extractors that validate, and the error handlers that put actix's own
//! extractor failures (bad JSON, wrong content type, oversized bodies, bad
//! query strings and paths) into the one error type.

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::web::{Json, JsonConfig, PathConfig, PayloadConfig, QueryConfig};
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use validator::Validate;

use crate::error::{ApiError, ErrorCode, FieldProblem};

/// The contract's body limit.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body that parsed and passed its `validator` rules.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Parsed as a JSON value first (actix checks the content type and
        // the size), then into `T` with the path of every problem, so a
        // wrong type or value names its field like any validation failure.
        let body = Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let Json(value) = body.await?;
            Ok(Self(typed(value)?))
        })
    }
}

/// `value` as a `T` that passed its rules; every problem names its field.
fn typed<T: DeserializeOwned + Validate>(value: serde_json::Value) -> Result<T, ApiError> {
    // serde would also read a struct from an array, by position.
    if !value.is_object() {
        return Err(ApiError::Validation(vec![FieldProblem {
            field: "body".into(),
            message: "must be a JSON object".into(),
        }]));
    }
    let typed: T = serde_path_to_error::deserialize(value).map_err(|e| field_problem("body", e.path(), e.inner()))?;
    typed.validate()?;
    Ok(typed)
}

/// One misfit field as a validation failure: the field's path, and what
/// it must be, in words (serde's own message without its position).
fn field_problem(root: &str, path: &serde_path_to_error::Path, error: &impl std::fmt::Display) -> ApiError {
    let message = error.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    let quoted =
        |text: &str, prefix: &str| text.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_owned);
    let at = path.to_string();
    let under = |name: &str| if at == "." || at.is_empty() { name.to_owned() } else { format!("{at}.{name}") };
    let (field, message) = if let Some(name) = quoted(message, "missing field `") {
        (under(&name), "is required".to_owned())
    } else if let Some(name) = quoted(message, "duplicate field `") {
        (under(&name), "is given more than once".to_owned())
    } else if let Some(name) = quoted(message, "unknown field `") {
        // The path already ends at the unknown key.
        let field = if at.ends_with(name.as_str()) { at.clone() } else { under(&name) };
        (field, "is not a field of this request".to_owned())
    } else if let Some((_, expected)) =
        message.split_once("unknown variant `").and_then(|(_, rest)| rest.split_once(", expected "))
    {
        (at, format!("must be one of {}", expected.replace('`', "").replace(" or ", ", ").replace("one of ", "")))
    } else if let Some((_, expected)) = message.split_once(", expected ") {
        (at, format!("must be {}", describe_expected(expected)))
    } else if message.contains("integer") || message.contains("invalid digit") || message.contains("too large") {
        // A query value that does not parse as the whole number it must be.
        (at, "must be a whole number".to_owned())
    } else if message.contains("float") {
        (at, "must be a number".to_owned())
    } else {
        (at, message.to_owned())
    };
    let field = if field.is_empty() || field == "." { root.to_owned() } else { field };
    ApiError::Validation(vec![FieldProblem { field, message }])
}

/// serde's name of an expected type, as a client would say it.
fn describe_expected(expected: &str) -> String {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "isize" | "usize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" | "a string" | "a sequence" | "a map" => expected.to_owned(),
        other if other.starts_with("struct ") => "an object".into(),
        other => other.to_owned(),
    }
}

/// A query string that parsed and passed its `validator` rules.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidQuery<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(typed_query(req.query_string()).map(Self).map_err(actix_web::Error::from))
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

/// A query string as a `T` that passed its rules; every problem names its
/// parameter.
fn typed_query<T: DeserializeOwned + Validate>(query: &str) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    let typed: T =
        serde_path_to_error::deserialize(deserializer).map_err(|e| field_problem("query", e.path(), e.inner()))?;
    typed.validate()?;
    Ok(typed)
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
            ApiError::bad_request(ErrorCode::InvalidBody, format!("Invalid request body: {e}"))
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request(ErrorCode::InvalidJson, format!("Malformed JSON: {e}"))
        }
        other => ApiError::bad_request(ErrorCode::InvalidBody, format!("Could not read the request body: {other}")),
    }
}

fn query_error(error: QueryPayloadError) -> ApiError {
    match error {
        QueryPayloadError::Deserialize(e) => {
            ApiError::bad_request(ErrorCode::InvalidQuery, format!("Invalid query string: {e}"))
        }
        _ => ApiError::bad_request(ErrorCode::InvalidQuery, "Invalid query string"),
    }
}

/// A JSON body that may be absent: an empty body is `None`, and so is a JSON
/// `null` (the document's schema for an optional body admits it); anything
/// else must be `application/json`, parse and validate, like [`ValidJson`].
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
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidJson, format!("Malformed JSON: {e}")))?;
    if value.is_null() {
        return Ok(None);
    }
    typed(value).map(Some)
}
