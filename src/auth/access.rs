//! One access rule per route, as a type: `http::caller::Caller<rules::BooksRead>`
//! cannot be built for a caller the rule refuses, so a handler cannot
//! forget its check.
//!
//! Refusals of valid credentials are 403 and recorded as
//! `permission_denied`; missing or bad credentials are 401.

use super::principal::{Principal, Via};
use super::{Role, Scope};

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any valid credential.
    AnyCredential,
    /// Users (bearer or cookie) pass; API keys need the scope.
    /// `books:write` additionally needs an admin, user or key owner alike.
    Scope(Scope),
    /// The user's own account: bearer or cookie, never an API key.
    Account,
    /// An admin, by bearer or cookie.
    Admin,
}

impl Access {
    /// Why `principal` may not pass, if it may not.
    pub fn refuses(self, principal: &Principal) -> Option<&'static str> {
        let is_key = matches!(principal.via, Via::ApiKey { .. });
        let is_admin = principal.role == Role::Admin;
        match self {
            Self::AnyCredential => None,
            Self::Scope(Scope::BooksWrite) => match principal.via {
                Via::ApiKey { scopes, .. } if !scopes.contains(Scope::BooksWrite) => {
                    Some("This API key lacks the books:write scope")
                }
                _ if !is_admin => Some("Admin role required"),
                _ => None,
            },
            Self::Scope(scope) => match principal.via {
                Via::ApiKey { scopes, .. } if !scopes.contains(scope) => Some(match scope {
                    Scope::BooksRead => "This API key lacks the books:read scope",
                    Scope::LibraryRead => "This API key lacks the library:read scope",
                    Scope::LibraryWrite => "This API key lacks the library:write scope",
                    Scope::BooksWrite => "This API key lacks the books:write scope",
                }),
                _ => None,
            },
            Self::Account if is_key => Some("API keys cannot manage accounts; use a bearer token or a session"),
            Self::Account => None,
            Self::Admin if is_key => Some("Admin routes do not accept API keys"),
            Self::Admin if !is_admin => Some("Admin role required"),
            Self::Admin => None,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Self::AnyCredential => "any credential".into(),
            Self::Scope(scope) => scope.as_str().into(),
            Self::Account => "account".into(),
            Self::Admin => "admin".into(),
        }
    }
}

/// The type-level name of an [`Access`] rule.
pub trait Rule {
    const ACCESS: Access;
}

pub mod rules {
    use super::{Access, Rule, Scope};

    macro_rules! rule {
        ($($name:ident => $access:expr,)*) => {$(
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl Rule for $name {
                const ACCESS: Access = $access;
            }
        )*};
    }

    rule! {
        AnyCredential => Access::AnyCredential,
        BooksRead => Access::Scope(Scope::BooksRead),
        BooksWrite => Access::Scope(Scope::BooksWrite),
        LibraryRead => Access::Scope(Scope::LibraryRead),
        LibraryWrite => Access::Scope(Scope::LibraryWrite),
        Account => Access::Account,
        Admin => Access::Admin,
    }
}
