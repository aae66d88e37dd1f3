//! Who is calling and what they may do: principals, roles and scopes, the
//! access rules, tokens, password hashing, CSRF values, the sign-in
//! throttle and the caches behind credential checks.
//!
//! A request presents at most one credential: a bearer access token, an
//! API key, or a session cookie (two at once are a 400). `http::caller`
//! resolves it to a [`Principal`] and applies one [`Access`] rule per route.

pub mod access;
pub mod cache;
pub mod csrf;
pub mod invalidation;
pub mod jwt;
pub mod password;
pub mod principal;
pub mod sessions;
pub mod throttle;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use access::{Access, rules};
pub use principal::{Principal, Via};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "books:read")]
    BooksRead,
    /// Only for keys of admins; checked again on every use.
    #[serde(rename = "books:write")]
    BooksWrite,
    #[serde(rename = "library:read")]
    LibraryRead,
    #[serde(rename = "library:write")]
    LibraryWrite,
}

impl Scope {
    pub const ALL: [Self; 4] = [Self::BooksRead, Self::BooksWrite, Self::LibraryRead, Self::LibraryWrite];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BooksRead => "books:read",
            Self::BooksWrite => "books:write",
            Self::LibraryRead => "library:read",
            Self::LibraryWrite => "library:write",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes, small enough to copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// The stored form: space-separated names. Unknown names are dropped,
    /// so a stored value can never grant more than the known scopes.
    pub fn parse_stored(raw: &str) -> Self {
        raw.split_whitespace().filter_map(Scope::parse).collect()
    }

    pub fn to_stored(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_ignore_unknown_names() {
        let scopes: Scopes = [Scope::LibraryWrite, Scope::BooksRead].into_iter().collect();
        assert_eq!(scopes.to_stored(), "books:read library:write");
        assert_eq!(Scopes::parse_stored("books:read library:write admin:all"), scopes);
        assert!(!scopes.contains(Scope::BooksWrite));
    }
}
