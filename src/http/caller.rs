//! From the credential a request presents to the [`Principal`] behind it,
//! and the extractors that apply a route's access rule to it.
//!
//! Checks, per credential:
//! - bearer: signature, key, claims (`auth::jwt`), the user's current
//!   token version and role, and that the token's session is not revoked —
//!   all from `auth::cache`, so a valid token costs no database round trip
//!   on most requests;
//! - session cookie: the session (cached by the cookie's hash), its expiry
//!   and token version, and on writes the `X-CSRF-Token`;
//! - API key: the key row, read on every use so that a revocation holds on
//!   the very next request on every instance (`api_keys::authenticate`).
//!
//! Refusals of valid credentials are 403 and recorded as
//! `permission_denied`; missing or bad credentials are 401.

use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::http::header::{AUTHORIZATION, HeaderName};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde_json::json;

use super::HttpConfig;
use crate::api_keys;
use crate::audit::{Event, EventContext};
use crate::auth::access::{Access, Rule};
use crate::auth::{Principal, Via, csrf};
use crate::error::{ApiError, ErrorCode};
use crate::secrets;
use crate::state::AppState;

pub use crate::auth::rules;

pub const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// The one credential a request presents.
#[derive(Debug)]
pub enum Presented {
    Bearer(String),
    ApiKey(String),
    Cookie(String),
}

/// Reads the request's credential; two different kinds at once are a 400,
/// because which one should win is exactly what an attacker would like to
/// choose.
pub fn presented(req: &HttpRequest, session_cookie: &str) -> Result<Option<Presented>, ApiError> {
    let repeated = |name| req.headers().get_all(name).nth(1).is_some();
    // Two session cookies are two credentials too (a sibling subdomain can
    // plant one beside the real one when the `__Host-` prefix is off).
    let cookies = req.cookies().map(|c| c.iter().filter(|c| c.name() == session_cookie).count()).unwrap_or(0);
    if repeated(AUTHORIZATION) || repeated(API_KEY_HEADER) || cookies > 1 {
        return Err(multiple_credentials());
    }
    let mut found = Vec::with_capacity(1);
    if let Some(header) = req.headers().get(AUTHORIZATION) {
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
            .map(|(_, token)| token.trim().to_owned())
            .ok_or_else(ApiError::invalid_token)?;
        found.push(Presented::Bearer(token));
    }
    if let Some(header) = req.headers().get(API_KEY_HEADER) {
        found.push(Presented::ApiKey(header.to_str().unwrap_or_default().trim().to_owned()));
    }
    if let Some(cookie) = req.cookie(session_cookie) {
        found.push(Presented::Cookie(cookie.value().to_owned()));
    }
    if found.len() > 1 {
        return Err(multiple_credentials());
    }
    Ok(found.pop())
}

fn multiple_credentials() -> ApiError {
    ApiError::bad_request(
        ErrorCode::MultipleCredentials,
        "Send exactly one credential: a bearer token, an API key or a session cookie",
    )
}

/// What resolution needs from the request, owned so it can cross an await.
pub struct Attempt {
    pub presented: Presented,
    pub method: Method,
    pub csrf_header: Option<String>,
    pub context: EventContext,
}

impl Attempt {
    pub fn from_request(req: &HttpRequest, presented: Presented) -> Self {
        Self {
            presented,
            method: req.method().clone(),
            csrf_header: req.headers().get(csrf::HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned),
            context: super::context::of(req),
        }
    }
}

pub async fn resolve(state: &AppState, attempt: Attempt) -> Result<Principal, ApiError> {
    match attempt.presented {
        Presented::Bearer(token) => bearer(state, &token).await,
        Presented::ApiKey(raw) => {
            let key = api_keys::authenticate(state, &raw, &attempt.context).await?;
            let owner = state.auth_cache.user(&state.pool, key.user_id).await?.ok_or_else(ApiError::invalid_api_key)?;
            Ok(Principal {
                user_id: key.user_id,
                role: owner.role,
                via: Via::ApiKey { key_id: key.id, scopes: key.scopes },
            })
        }
        Presented::Cookie(secret) => {
            let principal = cookie(state, &secret).await?;
            if csrf::is_state_changing(&attempt.method) && !csrf::matches(&secret, attempt.csrf_header.as_deref()) {
                let token_sent = attempt.csrf_header.is_some();
                state.events.record_rejection(
                    &attempt.context,
                    Event::CsrfRejected,
                    Some(principal.user_id),
                    json!({"method": attempt.method.as_str(), "token_sent": token_sent}),
                    if token_sent { "wrong token" } else { "no token" },
                );
                return Err(ApiError::CsrfFailed);
            }
            Ok(principal)
        }
    }
}

async fn bearer(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state.jwt.verify(token)?;
    let user_id: i64 = claims.sub.parse().map_err(|_| ApiError::invalid_token())?;
    let user = state.auth_cache.user(&state.pool, user_id).await?.ok_or_else(ApiError::invalid_token)?;
    if user.token_version != claims.ver {
        return Err(ApiError::invalid_token());
    }
    let session = state.auth_cache.session(&state.pool, claims.sid).await?.ok_or_else(ApiError::invalid_token)?;
    if session.revoked || session.user_id != user_id {
        return Err(ApiError::invalid_token());
    }
    Ok(Principal { user_id, role: user.role, via: Via::Bearer { session_id: claims.sid } })
}

async fn cookie(state: &AppState, secret: &str) -> Result<Principal, ApiError> {
    let expired =
        || ApiError::Unauthorized { code: ErrorCode::InvalidSession, message: "Session expired or signed out" };
    let session =
        state.auth_cache.cookie_session(&state.pool, secrets::sha256_hex(secret)).await?.ok_or_else(expired)?;
    if !session.is_live(crate::db::now()) {
        return Err(expired());
    }
    let user = state.auth_cache.user(&state.pool, session.user_id).await?.ok_or_else(expired)?;
    if user.token_version != session.token_version {
        return Err(expired());
    }
    let via = Via::Cookie { session_id: session.id, expires_at: session.expires_at };
    Ok(Principal { user_id: session.user_id, role: user.role, via })
}

/// The outcome of resolving this request's credential, kept in the
/// request's extensions so later extractors (and the rate limiter) reuse it.
/// Failures are kept too, so a refused credential is checked (and
/// recorded) once per request, not once per extractor.
#[derive(Debug, Clone)]
pub struct Resolved(pub Result<Option<Principal>, ApiError>);

/// Resolves the request's credential once: `Ok(None)` when none was sent.
pub async fn principal_of(req: &HttpRequest, state: &AppState) -> Result<Option<Principal>, ApiError> {
    if let Some(resolved) = req.extensions().get::<Resolved>().cloned() {
        return resolved.0;
    }
    let session_cookie = req.app_data::<web::Data<HttpConfig>>().map(|h| h.cookies.session_name());
    let result = match presented(req, session_cookie.unwrap_or_default()) {
        Err(e) => Err(e),
        Ok(None) => Ok(None),
        Ok(Some(presented)) => resolve(state, Attempt::from_request(req, presented)).await.map(Some),
    };
    req.extensions_mut().insert(Resolved(result.clone()));
    result
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
                &super::context::of(req),
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
