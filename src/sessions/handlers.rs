//! Token and cookie-session routes.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use validator::Validate;

use crate::accounts::Credentials;
use crate::accounts::login::{self, Purpose};
use crate::audit::{Event, EventContext};
use crate::auth::cache::CurrentUser;
use crate::auth::jwt::Subject;
use crate::auth::sessions::{self as store, Kind, Rotation, Started};
use crate::auth::{Principal, Via, csrf};
use crate::db;
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::http::HttpConfig;
use crate::http::caller::{Caller, rules};
use crate::http::extract::ValidJson;
use crate::http::secret_response;
use crate::secrets;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; spend it at `/api/token/refresh` for a new pair. Each one
    /// works once.
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// A refresh token from `/api/token` or an earlier refresh. Any string
    /// that is not a live refresh token (spent, expired, unknown,
    /// malformed, an access token) is a 401 `invalid_refresh_token`.
    pub refresh_token: String,
}

/// Longer than any refresh token this server issues: refused unread.
const MAX_REFRESH_TOKEN_LEN: usize = 256;

/// The optional body of `/api/token/revoke`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// One of the caller's refresh tokens whose session should end too.
    #[validate(length(min = 1, max = 256, message = "length must be 1 to 256"))]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Send this as `X-CSRF-Token` on every POST, PUT, PATCH and DELETE.
    pub csrf_token: String,
    /// Seconds until the session expires.
    pub expires_in: i64,
}

fn invalid_refresh_token() -> ApiError {
    ApiError::Unauthorized { code: ErrorCode::InvalidRefreshToken, message: "Invalid or expired refresh token" }
}

fn token_pair(state: &AppState, subject: Subject<'_>, refresh_token: String) -> Result<HttpResponse, ApiError> {
    let access_token = state.jwt.issue(subject)?;
    Ok(secret_response(StatusCode::OK).json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.jwt.ttl.as_secs(),
        refresh_token,
    }))
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

/// Exchange a username and password for an access token and a refresh token.
///
/// Unknown usernames and wrong passwords get the same 401 in about the same
/// time. After too many failures for one username or client, 429 with
/// `Retry-After`. The response is never cached or compressed.
#[utoipa::path(
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Malformed or invalid body", body = ErrorEnvelope),
        (status = 401, description = "Invalid credentials (`invalid_credentials`)", body = ErrorEnvelope),
        (status = 415, description = "Not JSON", body = ErrorEnvelope),
        (status = 429, description = "Too many failures (`too_many_requests`); see `Retry-After`", body = ErrorEnvelope),
    )
)]
#[post("/api/token")]
pub async fn issue_token(
    state: web::Data<AppState>,
    context: EventContext,
    ValidJson(body): ValidJson<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let started = sign_in(&state, &context, body, Purpose::Token, Kind::Token, None).await?;
    let subject = Subject {
        user_id: started.user_id,
        role: started.role.as_str(),
        token_version: started.token_version,
        session_id: started.session_id,
    };
    let refresh_token =
        started.refresh_token.ok_or_else(|| ApiError::internal("a token session without a refresh token"))?;
    token_pair(&state, subject, refresh_token)
}

/// Spend a refresh token for a new access token and refresh token.
///
/// Presenting a refresh token that was already spent revokes its whole
/// family (every token descended from the same sign-in) and is recorded.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the presented refresh token is spent", body = TokenResponse),
        (status = 400, description = "Malformed body: not JSON, or no `refresh_token` string", body = ErrorEnvelope),
        (status = 401, description = "Not a live refresh token: unknown, malformed, expired, spent, revoked, past the session's maximum age, or an access token (`invalid_refresh_token`)", body = ErrorEnvelope),
    )
)]
#[post("/api/token/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    context: EventContext,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    if body.refresh_token.is_empty() || body.refresh_token.len() > MAX_REFRESH_TOKEN_LEN {
        return Err(invalid_refresh_token());
    }
    let lifetimes = state.lifetimes;
    let rotation = db::run(&state.pool, move |conn| store::rotate(conn, &body.refresh_token, lifetimes)).await?;
    match rotation {
        Rotation::Rotated { user_id, role, token_version, session_id, refresh_token } => {
            state.events.record(&context, Event::TokenRefreshed, Some(user_id), json!({"session_id": session_id}));
            let subject = Subject { user_id, role: role.as_str(), token_version, session_id };
            token_pair(&state, subject, refresh_token)
        }
        Rotation::Reused { user_id, session_id } => {
            state.auth_cache.sessions_ended(&[session_id]);
            state.events.record(
                &context,
                Event::RefreshTokenReused,
                Some(user_id),
                json!({"session_id": session_id, "action": "family revoked"}),
            );
            Err(invalid_refresh_token())
        }
        Rotation::Invalid => Err(invalid_refresh_token()),
    }
}

/// End the caller's session: its refresh tokens and access tokens die.
///
/// Optionally names one of the caller's refresh tokens whose session should
/// end too (another device of the same user).
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body(content = Option<RevokeRequest>, description = "Optional"),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Malformed body", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "An API key was used", body = ErrorEnvelope),
    )
)]
#[post("/api/token/revoke")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    caller: Caller<rules::Account>,
    context: EventContext,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let extra = crate::http::extract::optional_json::<RevokeRequest>(&req, &body)?.and_then(|r| r.refresh_token);
    let user_id = caller.user_id;
    let own = match caller.via {
        Via::Bearer { session_id } | Via::Cookie { session_id, .. } => Some(session_id),
        Via::ApiKey { .. } => None,
    };
    let revoked = db::run(&state.pool, move |conn| {
        let named = match extra {
            Some(extra) => store::session_of_refresh_token(conn, user_id, &extra)?,
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
        state.events.record(&context, Event::SessionRevoked, Some(user_id), json!({"session_ids": revoked}));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The session id and expiry of a caller signed in by cookie; other
/// credentials have no cookie session to show or end.
fn cookie_session(caller: &Principal) -> Result<(i64, i64), ApiError> {
    match caller.via {
        Via::Cookie { session_id, expires_at } => Ok((session_id, expires_at)),
        _ => Err(ApiError::Unauthorized { code: ErrorCode::InvalidSession, message: "No session cookie was sent" }),
    }
}

/// Sign in a browser app: sets an `HttpOnly` session cookie and a readable
/// CSRF cookie, and returns the CSRF value.
#[utoipa::path(
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in; cookies set", body = SessionResponse),
        (status = 400, description = "Malformed or invalid body", body = ErrorEnvelope),
        (status = 401, description = "Invalid credentials (`invalid_credentials`)", body = ErrorEnvelope),
        (status = 429, description = "Too many failures (`too_many_requests`); see `Retry-After`", body = ErrorEnvelope),
    )
)]
#[post("/api/session")]
pub async fn create_session(
    state: web::Data<AppState>,
    http: web::Data<HttpConfig>,
    context: EventContext,
    ValidJson(body): ValidJson<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let secret = secrets::new_credential();
    let hash = secrets::sha256_hex(&secret);
    let started = sign_in(&state, &context, body, Purpose::Session, Kind::Cookie, Some(hash)).await?;
    let csrf_token = csrf::token_for(&secret);
    let expires_in = (started.expires_at - db::now()).max(0);
    let mut response = secret_response(StatusCode::OK);
    for cookie in http.cookies.issue(secret, csrf_token.clone(), expires_in) {
        response.cookie(cookie);
    }
    Ok(response.json(SessionResponse { csrf_token, expires_in }))
}

/// The current cookie session's CSRF value, for a page that reloaded.
#[utoipa::path(
    tag = "auth",
    security(("session" = [])),
    responses(
        (status = 200, description = "The session's CSRF value", body = SessionResponse),
        (status = 401, description = "No live session cookie", body = ErrorEnvelope),
    )
)]
#[get("/api/session")]
pub async fn current_session(
    http: web::Data<HttpConfig>,
    caller: Caller<rules::AnyCredential>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (_, expires_at) = cookie_session(&caller)?;
    let secret = req.cookie(http.cookies.session_name()).map(|c| c.value().to_owned()).unwrap_or_default();
    let expires_in = (expires_at - db::now()).max(0);
    Ok(secret_response(StatusCode::OK).json(SessionResponse { csrf_token: csrf::token_for(&secret), expires_in }))
}

/// Sign out a browser app: the session dies and both cookies are cleared.
#[utoipa::path(
    tag = "auth",
    security(("session" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "No live session cookie", body = ErrorEnvelope),
        (status = 403, description = "Missing or wrong `X-CSRF-Token` (`csrf_failed`)", body = ErrorEnvelope),
    )
)]
#[delete("/api/session")]
pub async fn delete_session(
    state: web::Data<AppState>,
    http: web::Data<HttpConfig>,
    caller: Caller<rules::AnyCredential>,
    context: EventContext,
) -> Result<HttpResponse, ApiError> {
    let (session_id, _) = cookie_session(&caller)?;
    db::run(&state.pool, move |conn| Ok(store::revoke(conn, session_id)?)).await?;
    state.auth_cache.sessions_ended(&[session_id]);
    state.events.record(&context, Event::SessionRevoked, Some(caller.user_id), json!({"session_ids": [session_id]}));
    let mut response = HttpResponse::NoContent();
    for cookie in http.cookies.clear() {
        response.cookie(cookie);
    }
    Ok(response.finish())
}
