//! What a presented credential is checked against, cached so that
//! accepting a valid bearer token or session cookie costs no database round
//! trip on most requests.
//!
//! Entries live `TTL` (10 s). The instance that changes something (a
//! password, a role, a deleted user, a revoked session) updates its own
//! entry at once; other instances drop theirs when the change reaches them
//! through Redis, or see it when their entry expires. That is the
//! staleness bound: 10 seconds across instances without Redis, none on the
//! instance that made the change. An answer read before a change is never
//! cached over it (see [`TtlCache`]).

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
///
/// Every value is stored with the moment it was read, and a value read
/// before the latest change is never stored: a load (or a sign-in) that
/// read the database before a demotion, a password change or a revocation
/// finished cannot put the old answer back after that change updated or
/// dropped entries. (A drop holds back every older read, not only the
/// dropped keys': such reads are simply not cached, and are loaded again.)
pub struct TtlCache<K, V> {
    inner: RwLock<Inner<K, V>>,
}

struct Inner<K, V> {
    /// Each value with the moment it was read.
    entries: HashMap<K, (V, Instant)>,
    /// When entries were last dropped because something changed.
    forgotten_at: Option<Instant>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self { inner: RwLock::new(Inner { entries: HashMap::new(), forgotten_at: None }) }
    }
}

impl<K: Eq + Hash + Clone + Send + 'static, V: Clone + Send + 'static> TtlCache<K, V> {
    pub fn get(&self, key: &K) -> Option<V> {
        let inner = self.inner.read().ok()?;
        inner.entries.get(key).filter(|(_, read_at)| read_at.elapsed() < TTL).map(|(value, _)| value.clone())
    }

    /// Stores `value` as read at `read_at`, unless something newer is known:
    /// a value of the key read later, or a change since `read_at`.
    pub fn put(&self, key: K, value: V, read_at: Instant) {
        let Ok(mut inner) = self.inner.write() else { return };
        let newer = inner.entries.get(&key).is_some_and(|(_, at)| *at > read_at);
        if newer || inner.forgotten_at.is_some_and(|at| at > read_at) {
            return;
        }
        if inner.entries.len() >= SWEEP_AT {
            inner.entries.retain(|_, (_, at)| at.elapsed() < TTL);
        }
        inner.entries.insert(key, (value, read_at));
    }

    /// Drops the matching entries, and holds back every value read before now.
    pub fn forget_where(&self, mut matches: impl FnMut(&K, &V) -> bool) {
        let Ok(mut inner) = self.inner.write() else { return };
        inner.entries.retain(|k, (v, _)| !matches(k, v));
        inner.forgotten_at = Some(Instant::now());
    }

    /// The cached value, or `load` run on the blocking pool and remembered.
    pub async fn get_or_load<F>(&self, pool: &DbPool, key: K, load: F) -> Result<V, ApiError>
    where
        F: FnOnce(&mut db::DbConnection) -> Result<V, ApiError> + Send + 'static,
    {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        let read_at = Instant::now();
        let value = db::run(pool, load).await?;
        self.put(key, value.clone(), read_at);
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
        self.users.forget_where(|id, _| *id == user_id);
        self.users.put(user_id, now, Instant::now());
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

    /// A user's credentials as read at `read_at` (by a sign-in), kept only
    /// if nothing changed the user since.
    pub fn remember_user(&self, user_id: i64, value: Option<CurrentUser>, read_at: Instant) {
        self.users.put(user_id, value, read_at);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_read_before_a_change_is_not_cached_over_it() {
        let cache: TtlCache<i64, &str> = TtlCache::default();
        let read_before = Instant::now();
        // A change lands while the old value is in flight.
        cache.forget_where(|_, _| true);
        cache.put(1, "admin (stale)", read_before);
        assert_eq!(cache.get(&1), None);
        // A value read after the change is cached.
        cache.put(1, "user", Instant::now());
        assert_eq!(cache.get(&1), Some("user"));
    }

    #[test]
    fn an_older_read_never_replaces_a_newer_one() {
        let cache: TtlCache<i64, &str> = TtlCache::default();
        let older = Instant::now();
        let newer = Instant::now();
        cache.put(1, "new", newer);
        cache.put(1, "old", older);
        assert_eq!(cache.get(&1), Some("new"));
    }
}
