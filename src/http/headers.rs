//! The security headers every response carries.

use actix_web::middleware::DefaultHeaders;

/// The headers every response carries (lower-case names).
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
];

/// Added only where a handler did not set its own (the docs page sets a
/// looser Content-Security-Policy).
pub fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = SECURITY_HEADERS.into_iter().fold(DefaultHeaders::new(), |headers, h| headers.add(h));
    if hsts { headers.add(("Strict-Transport-Security", "max-age=31536000; includeSubDomains")) } else { headers }
}
