//! One access rule per route, enforced by the extractor the handler takes:
//! `Caller<rules::BooksRead>` cannot be built for a caller the rule refuses.
//!
//! Refusals of valid credentials are 403 and recorded as
//! `permission_denied`; missing or bad credentials are 401.

use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde_json::json;

use super::principal::{Principal, Via, principal_of};
use super::{Role, Scope};
use crate::audit::Event;
use crate::error::ApiError;
use crate::startup::AppState;

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

    fn describe(self) -> String {
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

/// An authenticated caller that passed rule `R`.
#[derive(Debug, Clone, Copy)]
pub struct Caller<R>(pub Principal, PhantomData<R>);

impl<R> Deref for Caller<R> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// The caller if a credential was sent (and passed rule `R`); `None` for
/// anonymous calls. A credential that fails is still a 401, never a silent
/// downgrade to anonymous.
#[derive(Debug, Clone, Copy)]
pub struct MaybeCaller<R>(pub Option<Principal>, PhantomData<R>);

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state is not registered"))
}

fn check(req: &HttpRequest, state: &AppState, access: Access, principal: Principal) -> Result<Principal, ApiError> {
    match access.refuses(&principal) {
        None => Ok(principal),
        Some(reason) => {
            let required = access.describe();
            let route = req.match_pattern();
            state.events.record_rejection(
                &crate::http::context::of(req),
                Event::PermissionDenied,
                Some(principal.user_id),
                // The route pattern, not the raw path: the client chose the
                // path's spelling, and would otherwise choose what is stored.
                json!({"required": required, "method": req.method().as_str(), "route": route}),
                &format!("{required} {} {}", req.method(), route.as_deref().unwrap_or("")),
            );
            Err(ApiError::Forbidden(reason))
        }
    }
}

/// The request's caller, if any, checked against `access`.
async fn checked(req: HttpRequest, access: Access) -> Result<Option<Principal>, ApiError> {
    let state = state(&req)?;
    match principal_of(&req, &state).await? {
        Some(principal) => Ok(Some(check(&req, &state, access, principal)?)),
        None => Ok(None),
    }
}

impl<R: Rule + 'static> FromRequest for Caller<R> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = checked(req.clone(), R::ACCESS);
        Box::pin(async move {
            let principal = caller.await?.ok_or_else(ApiError::authentication_required)?;
            Ok(Self(principal, PhantomData))
        })
    }
}

impl<R: Rule + 'static> FromRequest for MaybeCaller<R> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = checked(req.clone(), R::ACCESS);
        Box::pin(async move { Ok(Self(caller.await?, PhantomData)) })
    }
}
