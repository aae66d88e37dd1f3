//! Password checks: the sign-in of `POST /api/token` and `POST /api/session`,
//! and the `current_password` of account changes. Every one is throttled
//! by the same failure counts, timed the same for unknown users, and
//! recorded.

use std::future::Future;

use serde_json::{Value, json};

use super::{Credentials, UserRow};
use crate::audit::{Event, EventContext};
use crate::auth::throttle::{Locked, Throttle, username_key};
use crate::db;
use crate::error::ApiError;
use crate::limits::gcra::ceil_seconds;
use crate::state::AppState;
use crate::telemetry::SignIn;

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

/// What to record when a password is wrong.
pub struct Failure {
    pub event: Event,
    pub user_id: Option<i64>,
    pub details: Value,
}

/// Checks `password` for the account `username` under its failure counts.
///
/// A place on the hashing pool comes first (503 `sign_in_busy` when it
/// would wait too long), then a failure is taken from the username's and
/// the client's counts (429 when either has none left, before any hashing);
/// `load` then yields the account and its stored hash (`None`: no such
/// account, checked against a dummy hash so the time is the same). Right:
/// the account, and the counts get the attempt back. Wrong: the failure
/// stays, `failure` says what to record, the start of a lockout is
/// recorded too, and the answer is 401 `invalid_credentials`. An error
/// before the check (database, hashing pool) gives the attempt back.
pub async fn verify_throttled<T, L>(
    state: &AppState,
    context: &EventContext,
    username: &str,
    password: String,
    load: L,
    failure: impl FnOnce(Option<&T>) -> Failure,
) -> Result<T, ApiError>
where
    L: Future<Output = Result<Option<(T, String)>, ApiError>>,
{
    let admission = state.passwords.admit()?;
    let throttle = Throttle::new(&state.limiter, &state.events, &username_key(username), context.client_ip);
    let taken = throttle.take().await.map_err(|wait| ApiError::TooManyRequests {
        message: "Too many failed sign-in attempts; try again later".into(),
        retry_after_seconds: ceil_seconds(wait),
    })?;
    let checked = async {
        let found = load.await?;
        let (account, stored) = found.map_or((None, None), |(account, hash)| (Some(account), Some(hash)));
        let valid = state.passwords.verify(admission, password, stored).await?;
        Ok::<_, ApiError>((account, valid))
    }
    .await;
    match checked {
        Err(e) => {
            taken.unchecked().await;
            Err(e)
        }
        Ok((Some(account), true)) => {
            taken.succeeded().await;
            Ok(account)
        }
        Ok((account, _)) => {
            let Failure { event, user_id, details } = failure(account.as_ref());
            state.events.record(context, event, user_id, details);
            if let Some(locked) = taken.failed() {
                let details = json!({
                    "username": user_id.map(|_| username),
                    "by": if locked == Locked::Username { "username" } else { "client" },
                });
                state.events.record(context, Event::LoginLocked, user_id, details);
            }
            Err(ApiError::invalid_credentials())
        }
    }
}

/// How a sign-in ended, for the metrics.
fn sign_in_outcome<T>(checked: &Result<T, ApiError>) -> SignIn {
    match checked {
        Ok(_) => SignIn::Succeeded,
        Err(ApiError::Unauthorized { .. }) => SignIn::Failed,
        Err(ApiError::TooManyRequests { .. }) => SignIn::Locked,
        Err(_) => SignIn::Unavailable,
    }
}

/// Stores a hash at today's settings; a failure only leaves the old hash,
/// which still verifies.
async fn upgrade_hash(state: &AppState, user_id: i64, old_hash: String, password: String) {
    let result = match state.passwords.hash(password).await {
        Ok(new_hash) => {
            db::run(&state.pool, move |conn| Ok(super::upgrade_hash(conn, user_id, &old_hash, &new_hash)?)).await
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
    let lookup = username.clone();
    let load = async move {
        let row = db::run(&state.pool, move |conn| Ok(super::find_by_username(conn, &lookup)?)).await?;
        Ok(row.map(|row| {
            let hash = row.password_hash.clone();
            (row, hash)
        }))
    };
    // An unknown name is not stored: it may be a password typed into the
    // wrong field.
    let failure = |row: Option<&UserRow>| Failure {
        event: Event::LoginFailed,
        user_id: row.map(|r| r.id),
        details: json!({"via": purpose.as_str(), "username": row.map(|r| r.username.as_str())}),
    };
    let password = credentials.password;
    let checked = verify_throttled(state, context, &username, password.clone(), load, failure).await;
    state.telemetry.sign_in(purpose.as_str(), sign_in_outcome(&checked));
    let row = checked?;
    if crate::auth::password::needs_rehash(&row.password_hash) {
        upgrade_hash(state, row.id, row.password_hash.clone(), password).await;
    }
    state.events.record(context, Event::LoginSucceeded, Some(row.id), json!({"via": purpose.as_str()}));
    Ok(row)
}
