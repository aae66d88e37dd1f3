//! The password check shared by `POST /api/token` and `POST /api/session`:
//! throttled, timed the same for unknown users, and recorded.

use serde_json::json;

use crate::accounts::{self, Credentials, UserRow};
use crate::auth::throttle::{Attempt, Locked, username_key};
use crate::db;
use crate::error::ApiError;
use crate::security::{Event, EventContext};
use crate::startup::AppState;

/// How the login is used, for the event record.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    Token,
    Session,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Session => "session",
        }
    }
}

/// Stores a hash at today's settings; a failure only leaves the old hash,
/// which still verifies.
async fn upgrade_hash(state: &AppState, user_id: i64, old_hash: String, password: String) {
    let result = match state.passwords.hash(password).await {
        Ok(new_hash) => {
            db::run(&state.pool, move |conn| Ok(accounts::upgrade_hash(conn, user_id, &old_hash, &new_hash)?)).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        log::warn!("could not upgrade the password hash of user {user_id}: {e}");
    }
}

/// Checks a username and password; the user on success.
///
/// Wrong username and wrong password are the same 401. A locked username or
/// client gets 429 before any hashing, whatever the password.
pub async fn check_password(
    state: &AppState,
    context: &EventContext,
    credentials: Credentials,
    purpose: Purpose,
) -> Result<UserRow, ApiError> {
    let username = username_key(&credentials.username);
    let throttle = Attempt::new(&state.limiter, &state.events, &username, context.client_ip);
    if let Err(wait) = throttle.check().await {
        return Err(ApiError::TooManyRequests {
            message: "Too many failed sign-in attempts; try again later".into(),
            retry_after_seconds: crate::limits::gcra::ceil_seconds(wait),
        });
    }

    let lookup = username.clone();
    let row = db::run(&state.pool, move |conn| Ok(accounts::find_by_username(conn, &lookup)?)).await?;
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let password = credentials.password;
    let valid = state.passwords.verify(password.clone(), stored).await?;
    match row {
        Some(row) if valid => {
            throttle.succeeded().await;
            if crate::auth::password::needs_rehash(&row.password_hash) {
                upgrade_hash(state, row.id, row.password_hash.clone(), password).await;
            }
            state.events.record(context, Event::LoginSucceeded, Some(row.id), json!({"via": purpose.as_str()}));
            Ok(row)
        }
        row => {
            let user_id = row.as_ref().map(|r| r.id);
            // An unknown name is not stored: it may be a password typed
            // into the wrong field.
            let details = json!({
                "via": purpose.as_str(),
                "username": row.as_ref().map(|r| r.username.as_str()),
            });
            state.events.record(context, Event::LoginFailed, user_id, details);
            if let Some(locked) = throttle.failed().await {
                let details = json!({
                    "username": row.as_ref().map(|r| r.username.as_str()),
                    "by": if locked == Locked::Username { "username" } else { "client" },
                });
                state.events.record(context, Event::LoginLocked, user_id, details);
            }
            Err(ApiError::invalid_credentials())
        }
    }
}
