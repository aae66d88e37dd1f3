//! CSRF protection for cookie sessions.
//!
//! The CSRF value is derived from the session cookie's secret with a
//! one-way hash, so it is bound to that session (another session's value
//! never matches), needs no storage, and cannot be turned back into the
//! cookie by a page that reads it. Every state-changing request
//! authenticated by the cookie must repeat it in `X-CSRF-Token`; a
//! cross-site form or `fetch` cannot read it, so cannot send it.

use actix_web::http::Method;
use actix_web::http::header::HeaderName;

use crate::secrets;

pub const HEADER: HeaderName = HeaderName::from_static("x-csrf-token");

pub fn token_for(session_secret: &str) -> String {
    secrets::sha256_hex(&format!("shelf-csrf:{session_secret}"))
}

/// Methods that change state and so need the token.
pub fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

pub fn matches(session_secret: &str, sent: Option<&str>) -> bool {
    sent.is_some_and(|sent| secrets::constant_time_eq(&token_for(session_secret), sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_bound_to_its_session() {
        let token = token_for("session-a");
        assert!(matches("session-a", Some(&token)));
        assert!(!matches("session-b", Some(&token)));
        assert!(!matches("session-a", None));
        assert!(!matches("session-a", Some("")));
        assert!(!token.contains("session-a"));
    }
}
