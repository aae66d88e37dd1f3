//! Session operations, one plain function each: sign-ins, refreshes,
//! revocations and sign-outs.

use std::time::Instant;

use serde_json::json;

use super::{MAX_REFRESH_TOKEN_LEN, TokenResponse};
use crate::accounts::Credentials;
use crate::accounts::login::{self, Purpose};
use crate::audit::{Event, EventContext};
use crate::auth::cache::CurrentUser;
use crate::auth::csrf;
use crate::auth::jwt::Subject;
use crate::auth::sessions::{self as store, Kind, Rotation, Started};
use crate::db;
use crate::error::{ApiError, ErrorCode};
use crate::secrets;
use crate::state::AppState;

fn invalid_refresh_token() -> ApiError {
    ApiError::Unauthorized { code: ErrorCode::InvalidRefreshToken, message: "Invalid or expired refresh token" }
}

fn token_pair(state: &AppState, subject: Subject<'_>, refresh_token: String) -> Result<TokenResponse, ApiError> {
    let access_token = state.jwt.issue(subject)?;
    Ok(TokenResponse { access_token, token_type: "Bearer", expires_in: state.jwt.ttl.as_secs(), refresh_token })
}

/// A checked password sign-in that starts a session. The user's current
/// credentials are cached at once, so the first request with the new
/// credential needs no lookup, but only if nothing changed them meanwhile.
async fn sign_in(
    state: &AppState,
    context: &EventContext,
    credentials: Credentials,
    purpose: Purpose,
    kind: Kind,
    secret_hash: Option<String>,
) -> Result<Started, ApiError> {
    let user = login::check_password(state, context, credentials, purpose).await?;
    let (user_id, checked_version, lifetimes) = (user.id, user.token_version, state.lifetimes);
    let read_at = Instant::now();
    let started = db::run(&state.pool, move |conn| {
        store::start(conn, user_id, checked_version, kind, secret_hash.as_deref(), lifetimes)
    })
    .await?;
    let current = CurrentUser { token_version: started.token_version, role: started.role };
    state.auth_cache.remember_user(user_id, Some(current), read_at);
    Ok(started)
}

/// Signs in for an access token and a refresh token.
pub async fn issue_token(
    state: &AppState,
    context: &EventContext,
    credentials: Credentials,
) -> Result<TokenResponse, ApiError> {
    let started = sign_in(state, context, credentials, Purpose::Token, Kind::Token, None).await?;
    let subject = Subject {
        user_id: started.user_id,
        role: started.role.as_str(),
        token_version: started.token_version,
        session_id: started.session_id,
    };
    let refresh_token =
        started.refresh_token.ok_or_else(|| ApiError::internal("a token session without a refresh token"))?;
    token_pair(state, subject, refresh_token)
}

/// Spends a refresh token for a new pair. A spent one revokes its whole
/// family; anything that is not a live refresh token is 401.
pub async fn refresh(state: &AppState, context: &EventContext, presented: String) -> Result<TokenResponse, ApiError> {
    if presented.is_empty() || presented.len() > MAX_REFRESH_TOKEN_LEN {
        return Err(invalid_refresh_token());
    }
    let lifetimes = state.lifetimes;
    let rotation = db::run(&state.pool, move |conn| store::rotate(conn, &presented, lifetimes)).await?;
    match rotation {
        Rotation::Rotated { user_id, role, token_version, session_id, refresh_token } => {
            state.events.record(context, Event::TokenRefreshed, Some(user_id), json!({"session_id": session_id}));
            let subject = Subject { user_id, role: role.as_str(), token_version, session_id };
            token_pair(state, subject, refresh_token)
        }
        Rotation::Reused { user_id, session_id } => {
            state.auth_cache.sessions_ended(&[session_id]);
            state.events.record(
                context,
                Event::RefreshTokenReused,
                Some(user_id),
                json!({"session_id": session_id, "action": "family revoked"}),
            );
            Err(invalid_refresh_token())
        }
        Rotation::Invalid => Err(invalid_refresh_token()),
    }
}

/// Ends the caller's own session (if the credential belongs to one) and
/// the session of `named`, one of the caller's refresh tokens.
pub async fn revoke(
    state: &AppState,
    context: &EventContext,
    user_id: i64,
    own: Option<i64>,
    named: Option<String>,
) -> Result<(), ApiError> {
    let revoked = db::run(&state.pool, move |conn| {
        let named = match named {
            Some(token) => store::session_of_refresh_token(conn, user_id, &token)?,
            None => None,
        };
        let mut revoked = Vec::new();
        for session_id in own.into_iter().chain(named) {
            if store::revoke(conn, session_id)? {
                revoked.push(session_id);
            }
        }
        Ok(revoked)
    })
    .await?;
    state.auth_cache.sessions_ended(&revoked);
    if !revoked.is_empty() {
        state.events.record(context, Event::SessionRevoked, Some(user_id), json!({"session_ids": revoked}));
    }
    Ok(())
}

/// A cookie session just started: the cookie's secret (for the browser
/// only), its CSRF value, and seconds until it ends.
pub struct CookieSession {
    pub secret: String,
    pub csrf_token: String,
    pub expires_in: i64,
}

/// Signs a browser app in with a cookie session.
pub async fn start_cookie_session(
    state: &AppState,
    context: &EventContext,
    credentials: Credentials,
) -> Result<CookieSession, ApiError> {
    let secret = secrets::new_credential();
    let hash = secrets::sha256_hex(&secret);
    let started = sign_in(state, context, credentials, Purpose::Session, Kind::Cookie, Some(hash)).await?;
    let csrf_token = csrf::token_for(&secret);
    Ok(CookieSession { secret, csrf_token, expires_in: started.lifetime })
}

/// Signs a browser app out: its cookie session dies.
pub async fn end_cookie_session(
    state: &AppState,
    context: &EventContext,
    user_id: i64,
    session_id: i64,
) -> Result<(), ApiError> {
    db::run(&state.pool, move |conn| Ok(store::revoke(conn, session_id)?)).await?;
    state.auth_cache.sessions_ended(&[session_id]);
    state.events.record(context, Event::SessionRevoked, Some(user_id), json!({"session_ids": [session_id]}));
    Ok(())
}
