//! The caller's own account, and user administration.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::login;
use super::{NewUser, PasswordChange, RoleChange, User};
use crate::audit::{Event, EventContext};
use crate::auth::Role;
use crate::auth::cache::CurrentUser;
use crate::auth::sessions;
use crate::db;
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::http::Caching;
use crate::http::caller::{Caller, rules};
use crate::http::extract::{ValidJson, ValidQuery};
use crate::paging::{Page, PageQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

fn private_json(status: StatusCode, body: impl Serialize) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    Caching::Private.apply(&mut response);
    response.json(body)
}

/// The signed-in user.
#[utoipa::path(
    tag = "account",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller", body = User),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
    )
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, caller: Caller<rules::AnyCredential>) -> Result<HttpResponse, ApiError> {
    let user_id = caller.user_id;
    let row =
        db::run(&state.pool, move |conn| Ok(super::find(conn, user_id)?)).await?.ok_or_else(ApiError::invalid_token)?;
    Ok(private_json(StatusCode::OK, User::from(row)))
}

/// Change the caller's password; every earlier access token, refresh token
/// and cookie session dies.
#[utoipa::path(
    tag = "account",
    security(("bearer" = []), ("session" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; sign in again with the new password"),
        (status = 400, description = "Invalid body (`validation_failed` lists the fields)", body = ErrorEnvelope),
        (status = 401, description = "Missing credentials, or the current password is wrong", body = ErrorEnvelope),
        (status = 403, description = "An API key was used, or a cookie write without `X-CSRF-Token`", body = ErrorEnvelope),
    )
)]
#[post("/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: Caller<rules::Account>,
    context: EventContext,
    ValidJson(body): ValidJson<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let user_id = caller.user_id;
    let row =
        db::run(&state.pool, move |conn| Ok(super::find(conn, user_id)?)).await?.ok_or_else(ApiError::invalid_token)?;
    super::password_problem("new_password", &row.username, &body.new_password)?;
    // A wrong current password counts against the account like a failed
    // sign-in: a stolen token must not buy unthrottled guesses.
    let stored = row.password_hash;
    let failure = |_: Option<&()>| login::Failure {
        event: Event::PasswordChangeFailed,
        user_id: Some(user_id),
        details: json!({}),
    };
    let load = async move { Ok(Some(((), stored))) };
    login::verify_throttled(&state, &context, &row.username, body.current_password, load, failure).await?;
    let hash = state.passwords.hash(body.new_password).await?;
    let (version, sessions_ended) = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            Ok::<_, ApiError>((super::set_password(conn, user_id, &hash)?, sessions::revoke_all(conn, user_id)?))
        })
    })
    .await?;
    state.auth_cache.user_changed(user_id, Some(CurrentUser { token_version: version, role: caller.role }));
    state.events.record(&context, Event::PasswordChanged, Some(user_id), json!({"sessions_ended": sessions_ended}));
    Ok(HttpResponse::NoContent().finish())
}

/// Create a user (admins only).
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("session" = [])),
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
    admin: Caller<rules::Admin>,
    context: EventContext,
    ValidJson(body): ValidJson<NewUser>,
) -> Result<HttpResponse, ApiError> {
    super::password_problem("password", &body.username, &body.password)?;
    let hash = state.passwords.hash(body.password).await?;
    let role = body.role.unwrap_or(Role::User);
    let username = body.username;
    let row = db::run(&state.pool, move |conn| super::insert(conn, &username, &hash, role)).await?;
    state.events.record(
        &context,
        Event::UserCreated,
        Some(admin.user_id),
        json!({"created_user_id": row.id, "role": role.as_str()}),
    );
    Ok(private_json(StatusCode::CREATED, User::from(row)))
}

/// List users (admins only).
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("session" = [])),
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
    _admin: Caller<rules::Admin>,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::from(query);
    let (rows, total) = db::run(&state.pool, move |conn| Ok(super::list(conn, page.offset(), page.limit())?)).await?;
    let users = rows.into_iter().map(User::from).collect();
    Ok(private_json(StatusCode::OK, UserList { users, page: page.page, per_page: page.per_page, total }))
}

fn not_yourself(admin: i64, target: i64) -> Result<(), ApiError> {
    if admin == target {
        return Err(ApiError::Conflict {
            code: ErrorCode::CannotChangeSelf,
            message: "Admins cannot delete or demote themselves; ask another admin",
        });
    }
    Ok(())
}

/// Change a user's role (admins only); the user's tokens and sessions end.
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "User id")),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The user as now stored", body = User),
        (status = 400, description = "Invalid body", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such user", body = ErrorEnvelope),
        (status = 409, description = "An admin's own account (`cannot_change_self`)", body = ErrorEnvelope),
    )
)]
#[put("/users/{id}/role")]
pub async fn change_role(
    state: web::Data<AppState>,
    admin: Caller<rules::Admin>,
    context: EventContext,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<RoleChange>,
) -> Result<HttpResponse, ApiError> {
    let (target, role) = (id.into_inner(), body.role);
    not_yourself(admin.user_id, target)?;
    let row = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if super::find(conn, target)?.is_none() {
                return Err(ApiError::NotFound("No such user"));
            }
            super::set_role(conn, target, role)?;
            sessions::revoke_all(conn, target)?;
            super::find(conn, target)?.ok_or(ApiError::NotFound("No such user"))
        })
    })
    .await?;
    state.auth_cache.user_changed(target, Some(CurrentUser { token_version: row.token_version, role }));
    state.events.record(
        &context,
        Event::RoleChanged,
        Some(admin.user_id),
        json!({"target_user_id": target, "role": role.as_str()}),
    );
    Ok(private_json(StatusCode::OK, User::from(row)))
}

/// Delete a user with everything they own (admins only).
#[utoipa::path(
    tag = "users",
    security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted; the user's tokens, sessions and keys stop working"),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such user", body = ErrorEnvelope),
        (status = 409, description = "An admin's own account (`cannot_change_self`)", body = ErrorEnvelope),
    )
)]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    admin: Caller<rules::Admin>,
    context: EventContext,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let target = id.into_inner();
    not_yourself(admin.user_id, target)?;
    if !db::run(&state.pool, move |conn| Ok(super::delete(conn, target)?)).await? {
        return Err(ApiError::NotFound("No such user"));
    }
    state.auth_cache.user_changed(target, None);
    state.events.record(&context, Event::UserDeleted, Some(admin.user_id), json!({"target_user_id": target}));
    Ok(HttpResponse::NoContent().finish())
}
