//! The unversioned sign-in routes: `/api/token*` for bearer tokens and
//! `/api/session` for browser cookie sessions.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};

use crate::accounts::Credentials;
use crate::audit::EventContext;
use crate::auth::{Principal, Via, csrf};
use crate::db;
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::http::HttpConfig;
use crate::http::caller::{Caller, rules};
use crate::http::extract::ValidJson;
use crate::http::secret_response;
use crate::sessions::{RefreshRequest, RevokeRequest, SessionResponse, TokenResponse, ops};
use crate::state::AppState;

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
    Ok(secret_response(StatusCode::OK).json(ops::issue_token(&state, &context, body).await?))
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
    Ok(secret_response(StatusCode::OK).json(ops::refresh(&state, &context, body.refresh_token).await?))
}

/// End the caller's session: its refresh tokens and access tokens die.
///
/// Optionally names one of the caller's refresh tokens whose session should
/// end too (another device of the same user).
#[utoipa::path(
    tag = "auth",
    security(("bearer" = []), ("session" = [])),
    request_body(content = Option<RevokeRequest>, description = "Optional"),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Malformed body", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "An API key was used, or a session cookie without `X-CSRF-Token`", body = ErrorEnvelope),
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
    let named = crate::http::extract::optional_json::<RevokeRequest>(&req, &body)?.and_then(|r| r.refresh_token);
    let own = match caller.via {
        Via::Bearer { session_id } | Via::Cookie { session_id, .. } => Some(session_id),
        Via::ApiKey { .. } => None,
    };
    ops::revoke(&state, &context, caller.user_id, own, named).await?;
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
    let session = ops::start_cookie_session(&state, &context, body).await?;
    let mut response = secret_response(StatusCode::OK);
    for cookie in http.cookies.issue(session.secret, session.csrf_token.clone(), session.expires_in) {
        response.cookie(cookie);
    }
    Ok(response.json(SessionResponse { csrf_token: session.csrf_token, expires_in: session.expires_in }))
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
    ops::end_cookie_session(&state, &context, caller.user_id, session_id).await?;
    let mut response = HttpResponse::NoContent();
    for cookie in http.cookies.clear() {
        response.cookie(cookie);
    }
    Ok(response.finish())
}
