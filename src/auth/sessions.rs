//! The session store: what a password sign-in starts. A token session is a
//! family of rotating refresh tokens (and the access tokens they mint); a
//! cookie session is one `HttpOnly` cookie for a browser app. Revoking the
//! session row ends every credential it issued. Sign-in flows use it, and
//! so do account changes, which end every session of a user.

use std::time::Duration;

use diesel::prelude::*;

use super::Role;
use crate::db::{self, DbConnection, schema::refresh_tokens, schema::sessions, schema::users};
use crate::error::ApiError;
use crate::on_backend;
use crate::secrets;
use crate::time::seconds;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Token,
    Cookie,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Cookie => "cookie",
        }
    }
}

/// A session just started, with what its credentials carry.
#[derive(Debug)]
pub struct Started {
    pub user_id: i64,
    pub role: Role,
    pub token_version: i64,
    pub session_id: i64,
    /// Token sessions: the first refresh token of the family.
    pub refresh_token: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Seconds the session lives from its start: what a new session's
    /// cookie and `expires_in` say, whatever second the answer leaves in.
    pub lifetime: i64,
}

/// Starts a session for a user whose password was just checked against
/// the account as it stood at `checked_version`. The account is read again
/// here, in the transaction that writes the session: if a password or role
/// change (or a deletion) landed since, the check no longer speaks for the
/// account and nothing starts; otherwise the session carries the role and
/// version read now, never older ones.
pub fn start(
    conn: &mut DbConnection,
    user_id: i64,
    checked_version: i64,
    kind: Kind,
    secret_hash: Option<&str>,
    lifetimes: Lifetimes,
) -> Result<Started, ApiError> {
    db::write_transaction(conn, |conn| {
        let current: Option<(String, i64)> =
            users::table.find(user_id).select((users::role, users::token_version)).first(conn).optional()?;
        let Some((role, token_version)) = current.filter(|(_, version)| *version == checked_version) else {
            return Err(ApiError::invalid_credentials());
        };
        let ttl = match kind {
            Kind::Token => lifetimes.refresh_token,
            Kind::Cookie => lifetimes.cookie_session,
        }
        .min(lifetimes.max_age);
        let session_id = create(conn, user_id, kind, token_version, ttl, secret_hash)?;
        let now = db::now();
        let refresh_token = match kind {
            Kind::Token => {
                Some(issue_refresh_token(conn, session_id, lifetimes.refresh_token, lifetimes.ends_at(now))?)
            }
            Kind::Cookie => None,
        };
        let role = Role::parse(&role).unwrap_or(Role::User);
        Ok(Started {
            user_id,
            role,
            token_version,
            session_id,
            refresh_token,
            expires_at: now.saturating_add(seconds(ttl)),
            lifetime: seconds(ttl),
        })
    })
}

/// Starts a session; returns its id.
fn create(
    conn: &mut DbConnection,
    user_id: i64,
    kind: Kind,
    token_version: i64,
    ttl: Duration,
    secret_hash: Option<&str>,
) -> QueryResult<i64> {
    let now = db::now();
    let values = (
        sessions::user_id.eq(user_id),
        sessions::kind.eq(kind.as_str()),
        sessions::secret_hash.eq(secret_hash),
        sessions::token_version.eq(token_version),
        sessions::created_at.eq(now),
        sessions::expires_at.eq(now.saturating_add(seconds(ttl))),
    );
    on_backend!(conn, c => diesel::insert_into(sessions::table).values(values).returning(sessions::id).get_result(c))
}

/// A new refresh token in `session_id`'s family; only its hash is stored.
/// It lives `ttl`, but never past `ends_at`, the end of the family.
pub fn issue_refresh_token(
    conn: &mut DbConnection,
    session_id: i64,
    ttl: Duration,
    ends_at: i64,
) -> QueryResult<String> {
    let token = secrets::new_credential();
    let now = db::now();
    let expires_at = now.saturating_add(seconds(ttl)).min(ends_at);
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::token_hash.eq(secrets::sha256_hex(&token)),
            refresh_tokens::created_at.eq(now),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    diesel::update(sessions::table.find(session_id)).set(sessions::expires_at.eq(expires_at)).execute(conn)?;
    Ok(token)
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// The token was live: it is spent now, and this is its successor.
    Rotated { user_id: i64, role: Role, token_version: i64, session_id: i64, refresh_token: String },
    /// The token had been spent before: its whole family is revoked now.
    Reused { user_id: i64, session_id: i64 },
    /// Unknown, expired, or from a revoked or outdated session.
    Invalid,
}

/// A refresh token with its session and user, as rotation checks it.
#[derive(Queryable)]
struct PresentedToken {
    token_id: i64,
    spent_at: Option<i64>,
    expires_at: i64,
    session_id: i64,
    session_created_at: i64,
    session_version: i64,
    revoked_at: Option<i64>,
    user_id: i64,
    role: String,
    version: i64,
}

/// How long token families and cookie sessions may last, from sign-in.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub refresh_token: Duration,
    pub cookie_session: Duration,
    /// However often a family is refreshed, it ends this long after its
    /// sign-in (`SHELF_SESSION_MAX_AGE`).
    pub max_age: Duration,
}

impl Lifetimes {
    /// When a session that started at `created_at` ends at the latest.
    pub fn ends_at(&self, created_at: i64) -> i64 {
        created_at.saturating_add(seconds(self.max_age))
    }
}

/// Spends `presented` and issues its successor, atomically: of two
/// concurrent uses of one token, exactly one rotates and the other counts
/// as reuse. A family past its maximum age is over, however fresh the token.
pub fn rotate(conn: &mut DbConnection, presented: &str, lifetimes: Lifetimes) -> Result<Rotation, ApiError> {
    let hash = secrets::sha256_hex(presented);
    db::write_transaction(conn, |conn| {
        let found: Option<PresentedToken> = refresh_tokens::table
            .inner_join(sessions::table.inner_join(users::table))
            .filter(refresh_tokens::token_hash.eq(&hash))
            .select((
                refresh_tokens::id,
                refresh_tokens::spent_at,
                refresh_tokens::expires_at,
                sessions::id,
                sessions::created_at,
                sessions::token_version,
                sessions::revoked_at,
                users::id,
                users::role,
                users::token_version,
            ))
            .first(conn)
            .optional()?;
        let Some(PresentedToken {
            token_id,
            spent_at,
            expires_at,
            session_id,
            session_created_at,
            session_version,
            revoked_at,
            user_id,
            role,
            version,
        }) = found
        else {
            return Ok(Rotation::Invalid);
        };
        let now = db::now();
        if revoked_at.is_some() || session_version != version {
            return Ok(Rotation::Invalid);
        }
        if spent_at.is_some() {
            revoke(conn, session_id)?;
            return Ok(Rotation::Reused { user_id, session_id });
        }
        let ends_at = lifetimes.ends_at(session_created_at);
        if expires_at <= now || ends_at <= now {
            return Ok(Rotation::Invalid);
        }
        let spent = diesel::update(refresh_tokens::table.find(token_id).filter(refresh_tokens::spent_at.is_null()))
            .set(refresh_tokens::spent_at.eq(now))
            .execute(conn)?;
        if spent == 0 {
            revoke(conn, session_id)?;
            return Ok(Rotation::Reused { user_id, session_id });
        }
        let refresh_token = issue_refresh_token(conn, session_id, lifetimes.refresh_token, ends_at)?;
        Ok(Rotation::Rotated {
            user_id,
            role: Role::parse(&role).unwrap_or(Role::User),
            token_version: version,
            session_id,
            refresh_token,
        })
    })
}

/// Ends one session; true if it was live.
pub fn revoke(conn: &mut DbConnection, session_id: i64) -> QueryResult<bool> {
    diesel::update(sessions::table.find(session_id).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(db::now()))
        .execute(conn)
        .map(|n| n > 0)
}

/// Ends every live session of a user; returns how many.
pub fn revoke_all(conn: &mut DbConnection, user_id: i64) -> QueryResult<usize> {
    diesel::update(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::revoked_at.is_null()))
        .set(sessions::revoked_at.eq(db::now()))
        .execute(conn)
}

/// The session a refresh token belongs to, if it belongs to `user_id`.
pub fn session_of_refresh_token(conn: &mut DbConnection, user_id: i64, token: &str) -> QueryResult<Option<i64>> {
    refresh_tokens::table
        .inner_join(sessions::table)
        .filter(refresh_tokens::token_hash.eq(secrets::sha256_hex(token)))
        .filter(sessions::user_id.eq(user_id))
        .select(sessions::id)
        .first(conn)
        .optional()
}
