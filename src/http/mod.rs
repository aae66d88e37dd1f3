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
pub mod headers;
pub mod observe;
pub mod rate_limit;
pub mod whole_body;

use std::time::Duration;

use actix_web::HttpResponseBuilder;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue, VARY};

/// What only the HTTP layer needs, built once and registered beside
/// `AppState`.
pub struct HttpConfig {
    pub proxies: client_ip::Proxies,
    pub cookies: cookies::SessionCookies,
    /// How long a request body may take to arrive, whole.
    pub request_body_timeout: Duration,
    /// Bytes of request bodies buffered at once, across all connections.
    pub body_budget: body_limit::BodyBudget,
    /// The methods of every route, for the `Allow` header of a 405.
    pub allowed_methods: allow::AllowedMethods,
}

/// Who may keep a copy of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Anonymous catalog reads: shared caches may keep them a minute.
    Public,
    /// Anything that used credentials or holds personal data.
    Private,
}

impl Caching {
    /// A catalog read's rule: public when anonymous, private once a
    /// credential was used.
    pub fn for_catalog(signed_in: bool) -> Self {
        if signed_in { Self::Private } else { Self::Public }
    }

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

/// A private answer (`Caching::Private`) with a JSON body: what most
/// routes that read a credential send.
pub fn private_json(status: actix_web::http::StatusCode, body: impl serde::Serialize) -> actix_web::HttpResponse {
    let mut response = HttpResponseBuilder::new(status);
    Caching::Private.apply(&mut response);
    response.json(body)
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
