//! HTTP plumbing shared by every route: the envelope middleware, request
//! ids, validating extractors, caching headers.

pub mod body_limit;
pub mod envelope;
pub mod etag;
pub mod extract;

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
