//! What a presented credential is checked against, cached so that
//! accepting a valid bearer token or session cookie costs no database round
//! trip on most requests.
//!
//! Entries live `TTL` (10 s). The instance that changes something (a
//! password, a role, a deleted user, a revoked session) updates its own
//! entry at once; other instances see the change when their entry expires.
//! That is the staleness bound: 10 seconds across instances, none on the
//! instance that made the change.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use diesel::prelude::*;

use super::Role;
use crate::db::{self, DbPool, schema::sessions, schema::users};
use crate::error::ApiError;

pub const TTL: Duration = Duration::from_secs(10);
/// Past this many entries, expired ones are swept on insert.
const SWEEP_AT: usize = 10_000;

/// A map whose entries expire; negative answers (`None`) are cached too, so
/// a flood of tokens for a deleted user does not reach the database.
pub struct TtlCache<K, V> {
    entries: RwLock<HashMap<K, (V, Instant)>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self { entries: RwLock::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash + Clone + Send + 'static, V: Clone + Send + 'static> TtlCache<K, V> {
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.read().ok()?;
        entries.get(key).filter(|(_, at)| at.elapsed() < TTL).map(|(value, _)| value.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= SWEEP_AT {
                entries.retain(|_, (_, at)| at.elapsed() < TTL);
            }
            entries.insert(key, (value, Instant::now()));
        }
    }

    pub fn forget_where(&self, mut matches: impl FnMut(&K, &V) -> bool) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|k, (v, _)| !matches(k, v));
        }
    }

    /// The cached value, or `load` run on the blocking pool and remembered.
    pub async fn get_or_load<F>(&self, pool: &DbPool, key: K, load: F) -> Result<V, ApiError>
    where
        F: FnOnce(&mut db::DbConnection) -> Result<V, ApiError> + Send + 'static,
    {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let value = db::run(pool, load).await?;
        self.put(key, value.clone());
        Ok(value)
    }
}

/// A user's token version and role, as of the last load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentUser {
    pub token_version: i64,
    pub role: Role,
}

/// A session as authentication needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    pub id: i64,
    pub user_id: i64,
    pub token_version: i64,
    pub expires_at: i64,
    pub revoked: bool,
}

impl SessionState {
    pub fn is_live(&self, now: i64) -> bool {
        !self.revoked && self.expires_at > now
    }
}

/// The caches behind authentication.
#[derive(Default)]
pub struct AuthCache {
    users: TtlCache<i64, Option<CurrentUser>>,
    /// Token sessions by id, for the `sid` of access tokens.
    sessions: TtlCache<i64, Option<SessionState>>,
    /// Cookie sessions by the SHA-256 of the cookie.
    cookies: TtlCache<String, Option<SessionState>>,
    /// Tells other instances about changes; `None` without Redis.
    publisher: Option<super::invalidation::Publisher>,
}

impl AuthCache {
    pub fn with_publisher(publisher: super::invalidation::Publisher) -> Self {
        Self { publisher: Some(publisher), ..Self::default() }
    }

    /// A user's password, role or existence changed: every instance drops
    /// what it knows of the user and their sessions. `now` is what this
    /// instance knows already (`None`: the user is gone).
    pub fn user_changed(&self, user_id: i64, now: Option<CurrentUser>) {
        self.users.put(user_id, now);
        self.forget_sessions(|s| s.user_id == user_id);
        self.publish(super::invalidation::Change::User(user_id));
    }

    /// Sessions were revoked: every instance drops them.
    pub fn sessions_ended(&self, session_ids: &[i64]) {
        if session_ids.is_empty() {
            return;
        }
        self.forget_sessions(|s| session_ids.contains(&s.id));
        self.publish(super::invalidation::Change::Sessions(session_ids.to_vec()));
    }

    fn publish(&self, change: super::invalidation::Change) {
        if let Some(publisher) = &self.publisher {
            publisher.publish(change);
        }
    }

    /// A change another instance made: drop the entries, so the next use
    /// reads the database.
    pub fn apply(&self, change: &super::invalidation::Change) {
        match change {
            super::invalidation::Change::User(user_id) => {
                self.users.forget_where(|id, _| id == user_id);
                self.forget_sessions(|s| s.user_id == *user_id);
            }
            super::invalidation::Change::Sessions(ids) => self.forget_sessions(|s| ids.contains(&s.id)),
        }
    }

    /// The user's current credentials, or `None` if the user is gone.
    pub async fn user(&self, pool: &DbPool, user_id: i64) -> Result<Option<CurrentUser>, ApiError> {
        self.users.get_or_load(pool, user_id, move |conn| Ok(load_user(conn, user_id)?)).await
    }

    pub fn remember_user(&self, user_id: i64, value: Option<CurrentUser>) {
        self.users.put(user_id, value);
    }

    pub async fn session(&self, pool: &DbPool, session_id: i64) -> Result<Option<SessionState>, ApiError> {
        self.sessions.get_or_load(pool, session_id, move |conn| Ok(load_session(conn, session_id)?)).await
    }

    pub async fn cookie_session(&self, pool: &DbPool, secret_hash: String) -> Result<Option<SessionState>, ApiError> {
        let key = secret_hash.clone();
        self.cookies.get_or_load(pool, key, move |conn| Ok(load_cookie_session(conn, &secret_hash)?)).await
    }

    /// Drops sessions from this instance's caches only.
    fn forget_sessions(&self, mut dead: impl FnMut(&SessionState) -> bool) {
        let mut is_dead = |s: &Option<SessionState>| s.as_ref().is_some_and(&mut dead);
        self.sessions.forget_where(|_, s| is_dead(s));
        self.cookies.forget_where(|_, s| is_dead(s));
    }
}

pub fn load_user(conn: &mut db::DbConnection, user_id: i64) -> QueryResult<Option<CurrentUser>> {
    let row: Option<(i64, String)> =
        users::table.find(user_id).select((users::token_version, users::role)).first(conn).optional()?;
    Ok(row.and_then(|(token_version, role)| Role::parse(&role).map(|role| CurrentUser { token_version, role })))
}

type SessionColumns =
    (sessions::id, sessions::user_id, sessions::token_version, sessions::expires_at, sessions::revoked_at);
const SESSION_COLUMNS: SessionColumns =
    (sessions::id, sessions::user_id, sessions::token_version, sessions::expires_at, sessions::revoked_at);

fn to_state((id, user_id, token_version, expires_at, revoked_at): (i64, i64, i64, i64, Option<i64>)) -> SessionState {
    SessionState { id, user_id, token_version, expires_at, revoked: revoked_at.is_some() }
}

fn load_session(conn: &mut db::DbConnection, session_id: i64) -> QueryResult<Option<SessionState>> {
    sessions::table
        .find(session_id)
        .filter(sessions::kind.eq("token"))
        .select(SESSION_COLUMNS)
        .first(conn)
        .optional()
        .map(|row| row.map(to_state))
}

fn load_cookie_session(conn: &mut db::DbConnection, secret_hash: &str) -> QueryResult<Option<SessionState>> {
    sessions::table
        .filter(sessions::secret_hash.eq(secret_hash))
        .filter(sessions::kind.eq("cookie"))
        .select(SESSION_COLUMNS)
        .first(conn)
        .optional()
        .map(|row| row.map(to_state))
}
