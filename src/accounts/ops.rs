//! Account operations, one plain function each: the caller's own account,
//! and user administration.

use serde_json::json;

use super::{NewUser, PasswordChange, RoleChange, User, UserRow, login};
use crate::audit::{Event, EventContext};
use crate::auth::Role;
use crate::auth::cache::CurrentUser;
use crate::auth::sessions;
use crate::db;
use crate::error::{ApiError, ErrorCode};
use crate::paging::Page;
use crate::state::AppState;

/// One page of users, and how many there are.
pub struct UserPage {
    pub users: Vec<User>,
    pub total: i64,
}

async fn find(state: &AppState, user_id: i64) -> Result<Option<UserRow>, ApiError> {
    db::run(&state.pool, move |conn| Ok(super::find(conn, user_id)?)).await
}

/// The signed-in user (gone meanwhile: the credential no longer holds).
pub async fn me(state: &AppState, user_id: i64) -> Result<User, ApiError> {
    Ok(User::from(find(state, user_id).await?.ok_or_else(ApiError::invalid_token)?))
}

/// Changes the caller's password; every earlier access token, refresh
/// token and cookie session dies. A wrong current password counts against
/// the account like a failed sign-in: a stolen token must not buy
/// unthrottled guesses.
pub async fn change_password(
    state: &AppState,
    context: &EventContext,
    user_id: i64,
    role: Role,
    change: PasswordChange,
) -> Result<(), ApiError> {
    let row = find(state, user_id).await?.ok_or_else(ApiError::invalid_token)?;
    super::password_problem("new_password", &row.username, &change.new_password)?;
    let stored = row.password_hash;
    let failure = |_: Option<&()>| login::Failure {
        event: Event::PasswordChangeFailed,
        user_id: Some(user_id),
        details: json!({}),
    };
    let load = async move { Ok(Some(((), stored))) };
    login::verify_throttled(state, context, &row.username, change.current_password, load, failure).await?;
    let hash = state.passwords.hash(change.new_password).await?;
    let (version, sessions_ended) = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            Ok::<_, ApiError>((super::set_password(conn, user_id, &hash)?, sessions::revoke_all(conn, user_id)?))
        })
    })
    .await?;
    state.auth_cache.user_changed(user_id, Some(CurrentUser { token_version: version, role }));
    state.events.record(context, Event::PasswordChanged, Some(user_id), json!({"sessions_ended": sessions_ended}));
    Ok(())
}

/// Creates a user (the caller is an admin: the route's rule).
pub async fn create_user(state: &AppState, context: &EventContext, admin: i64, new: NewUser) -> Result<User, ApiError> {
    super::password_problem("password", &new.username, &new.password)?;
    let hash = state.passwords.hash(new.password).await?;
    let role = new.role.unwrap_or(Role::User);
    let username = new.username;
    let row = db::run(&state.pool, move |conn| super::insert(conn, &username, &hash, role)).await?;
    state.events.record(
        context,
        Event::UserCreated,
        Some(admin),
        json!({"created_user_id": row.id, "role": role.as_str()}),
    );
    Ok(User::from(row))
}

pub async fn list_users(state: &AppState, page: Page) -> Result<UserPage, ApiError> {
    let (rows, total) = db::run(&state.pool, move |conn| Ok(super::list(conn, page.offset(), page.limit())?)).await?;
    Ok(UserPage { users: rows.into_iter().map(User::from).collect(), total })
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

/// Changes a user's role; the user's tokens and sessions end.
pub async fn change_role(
    state: &AppState,
    context: &EventContext,
    admin: i64,
    target: i64,
    change: RoleChange,
) -> Result<User, ApiError> {
    let role = change.role;
    not_yourself(admin, target)?;
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
        context,
        Event::RoleChanged,
        Some(admin),
        json!({"target_user_id": target, "role": role.as_str()}),
    );
    Ok(User::from(row))
}

/// Deletes a user with everything they own; their credentials stop working.
pub async fn delete_user(state: &AppState, context: &EventContext, admin: i64, target: i64) -> Result<(), ApiError> {
    not_yourself(admin, target)?;
    if !db::run(&state.pool, move |conn| Ok(super::delete(conn, target)?)).await? {
        return Err(ApiError::NotFound("No such user"));
    }
    state.auth_cache.user_changed(target, None);
    state.events.record(context, Event::UserDeleted, Some(admin), json!({"target_user_id": target}));
    Ok(())
}
