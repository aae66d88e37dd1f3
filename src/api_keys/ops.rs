//! API key operations, one plain function each: a user's own keys.

use serde_json::json;

use super::{ApiKeyView, CreatedApiKey, NewApiKey};
use crate::accounts::{self, login};
use crate::audit::{Event, EventContext};
use crate::auth::Role;
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// Creates a key for the caller, after their password: a stolen access
/// token or cookie must not be able to mint a lasting credential. The
/// result holds the key, shown once.
pub async fn create(
    state: &AppState,
    context: &EventContext,
    user_id: i64,
    role: Role,
    request: NewApiKey,
) -> Result<CreatedApiKey, ApiError> {
    if let Err(denied) = super::check_grantable(&request.scopes, role) {
        state.events.record(
            context,
            Event::PermissionDenied,
            Some(user_id),
            json!({"required": "admin", "action": "create API key with books:write"}),
        );
        return Err(denied);
    }
    let account = db::run(&state.pool, move |conn| Ok(accounts::find(conn, user_id)?))
        .await?
        .ok_or_else(ApiError::invalid_token)?;
    let spec = request.spec();
    let stored = account.password_hash;
    let load = async move { Ok(Some(((), stored))) };
    let failure = |_: Option<&()>| login::Failure {
        event: Event::LoginFailed,
        user_id: Some(user_id),
        details: json!({"via": "api_key_creation", "username": account.username}),
    };
    login::verify_throttled(state, context, &account.username, request.current_password, load, failure).await?;
    let max_active = state.api_keys_per_user;
    let created = db::run(&state.pool, move |conn| super::create(conn, user_id, &spec, max_active)).await?;
    state.events.record(
        context,
        Event::ApiKeyCreated,
        Some(user_id),
        json!({"key_id": created.view.id, "prefix": created.view.prefix, "scopes": created.view.scopes}),
    );
    Ok(created)
}

/// The user's keys that are not revoked, newest first.
pub async fn list(state: &AppState, user_id: i64) -> Result<Vec<ApiKeyView>, ApiError> {
    let rows = db::run(&state.pool, move |conn| Ok(super::list(conn, user_id)?)).await?;
    Ok(rows.into_iter().map(ApiKeyView::from).collect())
}

/// Revokes one of the user's keys; another user's key is "not found".
pub async fn revoke(state: &AppState, context: &EventContext, user_id: i64, key_id: i64) -> Result<(), ApiError> {
    db::run(&state.pool, move |conn| super::revoke(conn, user_id, key_id)).await?;
    state.events.record(context, Event::ApiKeyRevoked, Some(user_id), json!({"key_id": key_id}));
    Ok(())
}
