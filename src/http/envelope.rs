//! The outermost application middleware: request ids, panics, and the
//! guarantee that every error leaves in the envelope; and how an
//! `ApiError` becomes a response.

use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::FutureExt;

use super::HttpConfig;
use crate::error::{ApiError, ErrorBody, ErrorCode, ErrorEnvelope};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, echoed as `X-Request-Id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// Keeps a client's id only when it is 1–64 characters of
    /// `[A-Za-z0-9._-]`, so it is safe to log and to echo.
    pub fn from_request(req: &ServiceRequest) -> Self {
        req.headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_acceptable_request_id(v))
            .map(|v| Self(v.to_owned()))
            .unwrap_or_else(|| Self(uuid::Uuid::new_v4().simple().to_string()))
    }
}

pub fn is_acceptable_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Longest request target (path and query) read; longer is a 414. Below
/// actix-http's own limit, so the answer is in the envelope.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header bytes (names and values) and lines read; more is a 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
pub const MAX_HEADERS: usize = 64;

/// Assigns the request id, turns errors and panics from any inner layer
/// into responses, and puts every error response into the envelope. Also
/// answers `HEAD` as `GET`: the routes are the same, and the HTTP layer
/// sends the head of the response without its body.
pub async fn envelope(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = RequestId::from_request(&req);
    req.extensions_mut().insert(request_id.clone());
    if let Some(refused) = oversized(&req) {
        let (http_req, _) = req.into_parts();
        let response = enveloped(refused.error_response(), &request_id);
        return Ok(with_request_id(ServiceResponse::new(http_req, response), &request_id));
    }
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }

    // The request cannot be cloned before routing (actix needs it unshared),
    // so errors that escape as `Err` or panics leave as an error that
    // renders the finished envelope itself.
    let response = match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(Ok(response)) => response.map_into_boxed_body(),
        Ok(Err(error)) => {
            let body = match error.as_error::<ApiError>() {
                Some(api_error) => api_error.body(),
                None => body_for_status(error.as_response_error().status_code()),
            };
            return Err(EscapedError::new(body, &request_id).into());
        }
        Err(_) => {
            log::error!("request {} panicked", request_id.0);
            return Err(EscapedError::new(ApiError::internal("handler panicked").body(), &request_id).into());
        }
    };

    let response = if response.status().is_client_error() || response.status().is_server_error() {
        let (req, res) = response.into_parts();
        ServiceResponse::new(req, enveloped(res, &request_id))
    } else {
        response
    };
    Ok(with_request_id(response, &request_id))
}

fn with_request_id(mut response: ServiceResponse<BoxBody>, request_id: &RequestId) -> ServiceResponse<BoxBody> {
    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// A request target or header section past what the server reads.
fn oversized(req: &ServiceRequest) -> Option<ApiError> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(ApiError::UriTooLong);
    }
    let headers = req.headers();
    let bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    (headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES).then_some(ApiError::HeadersTooLarge)
}

/// An error that escaped the app as `Err` (or a panic), already in the
/// envelope. Outer middleware does not see it, so it carries the headers
/// every response must have.
#[derive(Debug)]
struct EscapedError {
    body: ErrorBody,
}

impl EscapedError {
    fn new(mut body: ErrorBody, request_id: &RequestId) -> Self {
        body.request_id = request_id.0.clone();
        Self { body }
    }
}

impl std::fmt::Display for EscapedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.body.message)
    }
}

impl ResponseError for EscapedError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.body.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = render(self.status_code(), self.body.clone());
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&self.body.request_id) {
            headers.insert(REQUEST_ID, value);
        }
        for (name, value) in super::headers::SECURITY_HEADERS {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        response
    }
}

/// Re-renders an error response with the request id, keeping headers such
/// as `Allow` or `WWW-Authenticate`. Responses that did not come from
/// `ApiError` (actix's own) get a generic message for their status, so no
/// framework text leaks.
fn enveloped(response: HttpResponse, request_id: &RequestId) -> HttpResponse {
    let status = response.status();
    let mut body = response.extensions().get::<ErrorBody>().cloned().unwrap_or_else(|| body_for_status(status));
    body.request_id = request_id.0.clone();

    let mut rendered = render(status, body);
    for (name, value) in response.headers() {
        if name != CONTENT_TYPE && name != header::CONTENT_LENGTH && name != CACHE_CONTROL {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    rendered
}

fn body_for_status(status: StatusCode) -> ErrorBody {
    let (code, message) = match status.as_u16() {
        400 => (ErrorCode::BadRequest, "Bad request"),
        401 => (ErrorCode::AuthenticationRequired, "Authentication required"),
        403 => (ErrorCode::Forbidden, "Forbidden"),
        404 => (ErrorCode::NotFound, "Not found"),
        405 => (ErrorCode::MethodNotAllowed, "Method not allowed"),
        408 => (ErrorCode::RequestTimeout, "Request timeout"),
        413 => (ErrorCode::PayloadTooLarge, "Request body is larger than 1 MiB"),
        414 => (ErrorCode::UriTooLong, "URI too long"),
        415 => (ErrorCode::UnsupportedMediaType, "Content-Type must be application/json"),
        431 => (ErrorCode::HeadersTooLarge, "Request headers too large"),
        503 => (ErrorCode::ServiceUnavailable, "The service is temporarily unavailable"),
        s if s >= 500 => (ErrorCode::InternalError, "Internal server error"),
        _ => (ErrorCode::BadRequest, "Bad request"),
    };
    ErrorBody {
        message: message.to_owned(),
        status_code: status.as_u16(),
        code,
        request_id: String::new(),
        details: None,
    }
}

/// When to try again after the database did not answer (503
/// `service_unavailable`).
const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 5;

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
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
            // The pool waited its connection timeout already; a client
            // retrying at once would only queue again.
            Self::Unavailable => {
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECONDS));
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

/// The app's default service: a path that exists under another method is a
/// 405 with `Allow`, anything else a 404. The path is matched as the router
/// decodes it, so every spelling of a route gets the same answer.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let pattern = req.resource_map().match_pattern(req.match_info().as_str());
    let http = req.app_data::<web::Data<HttpConfig>>();
    match pattern.as_deref().and_then(|p| http?.allowed_methods.of(p)) {
        Some(allow) => Err(ApiError::MethodNotAllowed { allow: allow.to_owned() }),
        None => Err(ApiError::NotFound("No such route")),
    }
}
