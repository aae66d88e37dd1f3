//! ETags for successful GETs, and 304 for a matching `If-None-Match`.
//!
//! The tag is weak (`W/"…"`): it names the content before compression, so
//! it holds for every content-coding of the same body. Only a 304 for a
//! named, current ETag is free of rate-limit cost ([`Earned304`]).

use actix_web::body::{BoxBody, MessageBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{ETAG, HeaderValue, IF_NONE_MATCH};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;
use crate::fingerprint::weak_etag;

/// Marks a 304 the client earned by naming the current ETag: it knew the
/// content, so the rate limiter gives the request back. `If-None-Match: *`
/// also gets a 304 (RFC 9110) but knows nothing, and costs a request, or
/// every GET could be made free while the handler still runs.
#[derive(Debug, Clone, Copy)]
pub struct Earned304;

pub async fn etag(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let wanted = (req.method() == Method::GET).then(|| req.headers().get(IF_NONE_MATCH).cloned());
    let response = next.call(req).await?.map_into_boxed_body();
    let Some(if_none_match) = wanted else { return Ok(response) };
    if response.status() != StatusCode::OK {
        return Ok(response);
    }

    let (req, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let bytes = match to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(_) => return Ok(ServiceResponse::new(req, ApiError::internal("unreadable body").error_response())),
    };
    // A handler that serves a stored body (a cached page) sets the tag it
    // stored with it; anything else is hashed here.
    let preset = head.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let tag = preset.unwrap_or_else(|| weak_etag(&bytes));

    let candidates: Vec<&str> = if_none_match
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .map_or_else(Vec::new, |v| v.split(',').map(str::trim).collect());
    let named = candidates.iter().any(|candidate| weak_eq(candidate, &tag));
    let mut response = if named || candidates.contains(&"*") {
        let mut not_modified = HttpResponse::NotModified().finish();
        for (name, value) in head.headers() {
            not_modified.headers_mut().append(name.clone(), value.clone());
        }
        if named {
            not_modified.extensions_mut().insert(Earned304);
        }
        not_modified
    } else {
        head.set_body(bytes).map_into_boxed_body()
    };
    if let Ok(value) = HeaderValue::from_str(&tag) {
        response.headers_mut().insert(ETAG, value);
    }
    Ok(ServiceResponse::new(req, response))
}

/// Weak comparison (RFC 9110 §8.8.3.2): equal once any `W/` is dropped.
fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}
