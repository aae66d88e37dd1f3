//! Login, the caller's own account, and user administration.

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_ENCODING, HeaderValue};
use actix_web::{HttpResponse, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Credentials, NewUser, PasswordChange, User};
use crate::auth::{AdminUser, AuthUser, Role};
use crate::db;
use crate::error::{ApiError, ErrorEnvelope};
use crate::http::Caching;
use crate::http::extract::{ValidJson, ValidQuery};
use crate::paging::{Page, PageQuery};
use crate::security::{self, Event};
use crate::startup::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

/// Exchange a username and password for an access token.
///
/// Unknown usernames and wrong passwords get the same 401 in about the same
/// time. The response is never cached or compressed.
#[utoipa::path(
    tag = "auth",
    request_body = Credentials,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 400, description = "Malformed or invalid body", body = ErrorEnvelope),
        (status = 401, description = "Invalid credentials (`invalid_credentials`)", body = ErrorEnvelope),
        (status = 415, description = "Not JSON", body = ErrorEnvelope),
    )
)]
#[post("/api/token")]
pub async fn issue_token(
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let username = body.username.clone();
    let row = db::run(&state.pool, move |conn| Ok(super::find_by_username(conn, &username)?)).await?;
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    if !state.passwords.verify(body.password, stored).await? {
        security::log(Event::LoginFailed, row.as_ref().map(|r| r.id), &body.username);
        return Err(ApiError::invalid_credentials());
    }
    let row = row.ok_or_else(ApiError::invalid_credentials)?;
    let role = Role::parse(&row.role).unwrap_or(Role::User);
    state.credentials.remember(
        row.id,
        Some(crate::auth::credentials::CurrentCredentials { token_version: row.token_version, role }),
    );
    let token = state.jwt.issue(row.id, role.as_str(), row.token_version)?;
    security::log(Event::LoginSucceeded, Some(row.id), &row.username);
    Ok(secret_response(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: state.jwt.ttl.as_secs(),
    }))
}

/// A response that carries a secret: never stored by caches, never
/// compressed (BREACH).
fn secret_response(body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((CONTENT_ENCODING, HeaderValue::from_static("identity")))
        .json(body)
}

/// The signed-in user.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = User),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
    )
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let row =
        db::run(&state.pool, move |conn| Ok(super::find(conn, user.id)?)).await?.ok_or_else(ApiError::invalid_token)?;
    let mut response = HttpResponse::Ok();
    Caching::Private.apply(&mut response);
    Ok(response.json(User::from(row)))
}

/// Change the caller's password; every earlier token stops working.
#[utoipa::path(
    tag = "account",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; sign in again with the new password"),
        (status = 400, description = "Invalid body (`validation_failed` lists the fields)", body = ErrorEnvelope),
        (status = 401, description = "Missing credentials, or the current password is wrong", body = ErrorEnvelope),
    )
)]
#[post("/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    user: AuthUser,
    ValidJson(body): ValidJson<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let row =
        db::run(&state.pool, move |conn| Ok(super::find(conn, user.id)?)).await?.ok_or_else(ApiError::invalid_token)?;
    if !state.passwords.verify(body.current_password, Some(row.password_hash)).await? {
        security::log(Event::PasswordChangeFailed, Some(user.id), "wrong current password");
        return Err(ApiError::invalid_credentials());
    }
    let hash = state.passwords.hash(body.new_password).await?;
    let version = db::run(&state.pool, move |conn| Ok(super::set_password(conn, user.id, &hash)?)).await?;
    state.credentials.remember(
        user.id,
        Some(crate::auth::credentials::CurrentCredentials { token_version: version, role: user.role }),
    );
    security::log(Event::PasswordChanged, Some(user.id), "all earlier tokens revoked");
    Ok(HttpResponse::NoContent().finish())
}

/// Create a user (admins only).
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "Invalid body", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
        (status = 409, description = "Username taken (`username_taken`)", body = ErrorEnvelope),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    admin: AdminUser,
    ValidJson(body): ValidJson<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let hash = state.passwords.hash(body.password).await?;
    let role = body.role.unwrap_or(Role::User);
    let username = body.username;
    let row = db::run(&state.pool, move |conn| super::insert(conn, &username, &hash, role)).await?;
    security::log(Event::UserCreated, Some(admin.0.id), &format!("created user {} as {}", row.id, role.as_str()));
    let mut response = HttpResponse::build(StatusCode::CREATED);
    Caching::Private.apply(&mut response);
    Ok(response.json(User::from(row)))
}

/// List users (admins only).
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of users", body = UserList),
        (status = 400, description = "Invalid paging", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    _admin: AdminUser,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::from(query);
    let (rows, total) = db::run(&state.pool, move |conn| Ok(super::list(conn, page.offset(), page.limit())?)).await?;
    let mut response = HttpResponse::Ok();
    Caching::Private.apply(&mut response);
    Ok(response.json(UserList {
        users: rows.into_iter().map(User::from).collect(),
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}
