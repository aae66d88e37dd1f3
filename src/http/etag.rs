//! ETags for successful GETs, and 304 for a matching `If-None-Match`.
//!
//! The tag is weak (`W/"…"`): it names the content before compression, so
//! it holds for every content-coding of the same body.

use std::hash::{DefaultHasher, Hasher};

use actix_web::body::{BoxBody, MessageBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{ETAG, HeaderValue, IF_NONE_MATCH};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;

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
    let mut hasher = DefaultHasher::new();
    hasher.write(&bytes);
    let tag = format!("W/\"{:016x}\"", hasher.finish());

    let matches = if_none_match
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(str::trim).any(|candidate| candidate == "*" || weak_eq(candidate, &tag)));
    let mut response = if matches {
        let mut not_modified = HttpResponse::NotModified().finish();
        for (name, value) in head.headers() {
            not_modified.headers_mut().append(name.clone(), value.clone());
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
