//! Who is calling: the [`Principal`] a credential proved, and which
//! credential proved it. Resolving a request's credential to one is
//! `http::caller`'s job.

use super::{Role, Scopes};

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    /// The user's role now, from the database (never from the token).
    pub role: Role,
    pub via: Via,
}

/// Which credential proved the caller, and what it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Bearer {
        session_id: i64,
    },
    /// `expires_at`: Unix seconds, from the session row.
    Cookie {
        session_id: i64,
        expires_at: i64,
    },
    ApiKey {
        key_id: i64,
        scopes: Scopes,
    },
}
