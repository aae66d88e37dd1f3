//! `/api/v1/api-keys` routes: the caller's own keys.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api_keys::{ApiKeyView, CreatedApiKey, NewApiKey, ops};
use crate::audit::EventContext;
use crate::error::{ApiError, ErrorEnvelope};
use crate::http::caller::{Caller, rules};
use crate::http::extract::ValidJson;
use crate::http::{Caching, secret_response};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyView>,
}

/// Create an API key for the caller. The key is in this response only.
///
/// Needs the account's current password, like a password change: a stolen
/// access token or cookie must not be able to mint a lasting credential.
#[utoipa::path(
    tag = "api-keys",
    security(("bearer" = []), ("session" = [])),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "Created; `key` is shown only now", body = CreatedApiKey),
        (status = 400, description = "Invalid body", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials, or a wrong `current_password` (`invalid_credentials`)", body = ErrorEnvelope),
        (status = 403, description = "An API key was used, or `books:write` asked for by a non-admin", body = ErrorEnvelope),
        (status = 409, description = "The account already holds `SHELF_API_KEYS_PER_USER` active keys (`too_many_api_keys`)", body = ErrorEnvelope),
        (status = 429, description = "Too many failed password checks for the account or client (`too_many_requests`)", body = ErrorEnvelope),
    )
)]
#[post("/api-keys")]
pub async fn create_api_key(
    state: web::Data<AppState>,
    caller: Caller<rules::Account>,
    context: EventContext,
    ValidJson(body): ValidJson<NewApiKey>,
) -> Result<HttpResponse, ApiError> {
    let created = ops::create(&state, &context, caller.user_id, caller.role, body).await?;
    Ok(secret_response(StatusCode::CREATED).json(created))
}

/// The caller's keys that are not revoked, newest first; never the keys
/// themselves.
#[utoipa::path(
    tag = "api-keys",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The caller's keys", body = ApiKeyList),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "An API key was used", body = ErrorEnvelope),
    )
)]
#[get("/api-keys")]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    caller: Caller<rules::Account>,
) -> Result<HttpResponse, ApiError> {
    let api_keys = ops::list(&state, caller.user_id).await?;
    let mut response = HttpResponse::Ok();
    Caching::Private.apply(&mut response);
    Ok(response.json(ApiKeyList { api_keys }))
}

/// Revoke one of the caller's keys; it fails from the next request on.
#[utoipa::path(
    tag = "api-keys",
    security(("bearer" = []), ("session" = [])),
    params(("id" = i64, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "An API key was used", body = ErrorEnvelope),
        (status = 404, description = "No such key of the caller's", body = ErrorEnvelope),
    )
)]
#[delete("/api-keys/{id}")]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    caller: Caller<rules::Account>,
    context: EventContext,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    ops::revoke(&state, &context, caller.user_id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
