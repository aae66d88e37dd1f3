//! HTTP plumbing shared by every route: the envelope middleware, request
//! ids, validating extractors, caching headers, whole compressed bodies.

pub mod allow;
pub mod body_limit;
pub mod caller;
pub mod client_ip;
pub mod connection;
pub mod context;
pub mod cookies;
pub mod envelope;
pub mod etag;
pub mod extract;
pub mod rate_limit;
pub mod whole_body;

use actix_web::HttpResponseBuilder;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue, VARY};

/// Who may keep a copy of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Anonymous catalog reads: shared caches may keep them a minute.
    Public,
    /// Anything that used credentials or holds personal data.
    Private,
}

impl Caching {
    pub fn apply(self, builder: &mut HttpResponseBuilder) {
        let value = match self {
            Self::Public => "public, max-age=60",
            Self::Private => "private, no-cache",
        };
        builder.insert_header((CACHE_CONTROL, HeaderValue::from_static(value)));
        // The same URL answers differently with credentials.
        builder.insert_header((VARY, HeaderValue::from_static("Authorization, Cookie, X-API-Key")));
    }
}

/// A 200 that carries a secret (a token, a new API key): never stored by
/// caches, never compressed (BREACH).
pub fn secret_response(status: actix_web::http::StatusCode) -> HttpResponseBuilder {
    let mut builder = HttpResponseBuilder::new(status);
    builder
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((actix_web::http::header::CONTENT_ENCODING, HeaderValue::from_static("identity")));
    builder
}
