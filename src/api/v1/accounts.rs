//! `/api/v1` routes of the caller's own account, and user administration.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::{NewUser, PasswordChange, RoleChange, User, ops};
use crate::audit::EventContext;
use crate::error::{ApiError, ErrorEnvelope};
use crate::http::caller::{Caller, rules};
use crate::http::extract::{ValidJson, ValidQuery};
use crate::http::private_json;
use crate::paging::{Page, PageQuery};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
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
    Ok(private_json(StatusCode::OK, ops::me(&state, caller.user_id).await?))
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
    ops::change_password(&state, &context, caller.user_id, caller.role, body).await?;
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
    Ok(private_json(StatusCode::CREATED, ops::create_user(&state, &context, admin.user_id, body).await?))
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
    let ops::UserPage { users, total } = ops::list_users(&state, page).await?;
    Ok(private_json(StatusCode::OK, UserList { users, page: page.page, per_page: page.per_page, total }))
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
    Ok(private_json(StatusCode::OK, ops::change_role(&state, &context, admin.user_id, id.into_inner(), body).await?))
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
    ops::delete_user(&state, &context, admin.user_id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
