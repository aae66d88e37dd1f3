//! Security events: every one is written as a line on the `security` log
//! target and as a row of `security_events`, where admins query it.
//!
//! Recording never waits for the database: rows go through a bounded
//! queue to one writer thread that inserts them in batches and prunes rows
//! older than the retention period. A full queue drops rows (their log
//! lines are written) and says how many, in the log and in a row of its
//! own. Rejections are aggregated per client and reason (`aggregate`). Details are JSON built by the caller from
//! values that are never secrets (ids, names, reasons); a password, token
//! or key must never be passed here.

pub mod aggregate;
pub mod query;
pub mod store;

use std::net::IpAddr;

use serde_json::Value;

macro_rules! events {
    ($($variant:ident => $name:literal: $doc:literal,)*) => {
        /// Every kind of security event, with its stored `type`.
        // The schema's names come from `rename_all` (utoipa does not read a
        // rename written by a macro); a test holds them equal to `as_str`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        #[schema(as = EventType)]
        pub enum Event {
            $(#[doc = $doc] $variant,)*
        }

        impl Event {
            pub const ALL: &[Event] = &[$(Event::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            pub fn describe(self) -> &'static str {
                match self {
                    $(Self::$variant => $doc,)*
                }
            }
        }
    };
}

events! {
    LoginSucceeded => "login_succeeded": "A password was accepted (details say whether for a token or a cookie session).",
    LoginFailed => "login_failed": "A wrong username or password.",
    LoginLocked => "login_locked": "Failures for one username or client reached the limit; attempts get 429 until it frees up.",
    TokenRefreshed => "token_refreshed": "A refresh token was spent for a new token pair.",
    RefreshTokenReused => "refresh_token_reused": "A spent refresh token was presented again; its whole family was revoked.",
    SessionRevoked => "session_revoked": "A token session or cookie session was ended (`/api/token/revoke`, sign-out).",
    PasswordChanged => "password_changed": "A user changed their password; every earlier token and session died.",
    PasswordChangeFailed => "password_change_failed": "A password change with a wrong current password.",
    ApiKeyCreated => "api_key_created": "An API key was created (details: key id, public id, scopes).",
    ApiKeyRevoked => "api_key_revoked": "An API key was revoked.",
    ApiKeyRejected => "api_key_rejected": "A request presented an unknown, wrong, revoked or expired API key.",
    CsrfRejected => "csrf_rejected": "A cookie-authenticated write without the session's CSRF token.",
    PermissionDenied => "permission_denied": "Valid credentials without the role or scope a route needs.",
    StatusChange => "status_change": "A user set a reading status (details: book id, new status).",
    UserCreated => "user_created": "An admin (or the command line) created a user.",
    UserDeleted => "user_deleted": "An admin deleted a user.",
    RoleChanged => "role_changed": "An admin changed a user's role.",
    BookCreated => "book_created": "An admin or a `books:write` key added a book.",
    BookUpdated => "book_updated": "A book was replaced.",
    BookDeleted => "book_deleted": "A book was deleted.",
    RateLimited => "rate_limited": "A caller hit a rate limit (at most once per key and window; details: limit, quota, key).",
    RateLimitStoreUnavailable => "rate_limit_store_unavailable": "Redis stopped answering; limits fall back to each instance (once per outage).",
    RateLimitStoreRecovered => "rate_limit_store_recovered": "Redis answers again; limits are shared again.",
    SecurityEventsDropped => "security_events_dropped": "The event queue was full: this many events were logged but not stored (details: count).",
}

impl Event {
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.as_str() == raw)
    }
}

/// Where a request came from, for the event record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventContext {
    pub client_ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

impl EventContext {
    /// For events raised outside a request (the command line).
    pub fn command_line() -> Self {
        Self::default()
    }
}

/// One event, ready to log and store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub occurred_at: i64,
    pub event: Event,
    pub user_id: Option<i64>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: Value,
}

impl NewEvent {
    pub fn new(context: &EventContext, event: Event, user_id: Option<i64>, details: Value) -> Self {
        Self {
            occurred_at: crate::db::now(),
            event,
            user_id,
            client_ip: context.client_ip.map(|ip| ip.to_string()),
            request_id: context.request_id.clone(),
            details,
        }
    }

    /// The log line. Details are JSON, so a value chosen by a client cannot
    /// forge extra log lines.
    pub fn log(&self) {
        let dash = || "-".to_owned();
        log::warn!(
            target: "security",
            "type={} user_id={} ip={} request_id={} details={}",
            self.event.as_str(),
            self.user_id.map_or_else(dash, |id| id.to_string()),
            self.client_ip.clone().unwrap_or_else(dash),
            self.request_id.clone().unwrap_or_else(dash),
            self.details
        );
    }
}

pub use store::SecurityEvents;

#[cfg(test)]
mod tests {
    use super::Event;

    #[test]
    fn the_documented_names_are_the_stored_ones() {
        for event in Event::ALL {
            assert_eq!(serde_json::to_value(event).unwrap(), event.as_str());
        }
    }
}
