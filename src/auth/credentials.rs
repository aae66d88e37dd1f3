//! What a valid token is checked against: each user's current token
//! version and role, cached so that accepting a token costs no database
//! round trip.
//!
//! The instance that changes a password updates its entry at once; other
//! instances see the change when their entry expires (`TTL`).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use diesel::prelude::*;

use super::Role;
use crate::db::{self, DbPool, schema::users};
use crate::error::ApiError;

const TTL: Duration = Duration::from_secs(10);
/// Past this many entries, expired ones are swept on insert.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentCredentials {
    pub token_version: i64,
    pub role: Role,
}

#[derive(Default)]
pub struct CredentialCache {
    entries: RwLock<HashMap<i64, (Option<CurrentCredentials>, Instant)>>,
}

impl CredentialCache {
    /// The user's current credentials, or `None` if the user is gone.
    pub async fn current(&self, pool: &DbPool, user_id: i64) -> Result<Option<CurrentCredentials>, ApiError> {
        if let Some((value, at)) = self.entries.read().ok().and_then(|e| e.get(&user_id).copied())
            && at.elapsed() < TTL
        {
            return Ok(value);
        }
        let loaded = db::run(pool, move |conn| load(conn, user_id)).await?;
        self.remember(user_id, loaded);
        Ok(loaded)
    }

    pub fn remember(&self, user_id: i64, value: Option<CurrentCredentials>) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= SWEEP_AT {
                entries.retain(|_, (_, at)| at.elapsed() < TTL);
            }
            entries.insert(user_id, (value, Instant::now()));
        }
    }
}

pub fn load(conn: &mut db::DbConnection, user_id: i64) -> Result<Option<CurrentCredentials>, ApiError> {
    let row: Option<(i64, String)> =
        users::table.find(user_id).select((users::token_version, users::role)).first(conn).optional()?;
    Ok(row.and_then(|(token_version, role)| Role::parse(&role).map(|role| CurrentCredentials { token_version, role })))
}
