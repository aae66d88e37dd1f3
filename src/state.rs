//! `AppState`: the services every operation may need, built once and shared
//! by all workers. It knows no routes and no HTTP; what only the HTTP layer
//! needs is `http::HttpConfig`.

use std::sync::Arc;

use crate::audit::SecurityEvents;
use crate::auth::cache::AuthCache;
use crate::auth::invalidation::Publisher;
use crate::auth::jwt::JwtKeys;
use crate::auth::password::Passwords;
use crate::auth::sessions::Lifetimes;
use crate::cursor::CursorKey;
use crate::db::DbPool;
use crate::limits::memory::MemoryStore;
use crate::limits::redis::RedisStore;
use crate::limits::{RateLimiter, RouteClasses, Store};
use crate::pages::PageCache;
use crate::settings::{Secret, Settings};
use crate::telemetry::Telemetry;

pub struct AppState {
    pub pool: DbPool,
    pub jwt: JwtKeys,
    pub passwords: Passwords,
    pub auth_cache: Arc<AuthCache>,
    pub events: SecurityEvents,
    pub lifetimes: Lifetimes,
    /// Active API keys one user may hold.
    pub api_keys_per_user: u32,
    pub limiter: RateLimiter,
    /// Rendered catalog pages (`books::ops` and `catalog::ops` key them).
    pub catalog: PageCache,
    /// Signs v2's paging cursors.
    pub cursors: CursorKey,
    /// What the services count for `/metrics` (inert without a metrics listener).
    pub telemetry: Telemetry,
}

/// A service that could not be built from the settings; names the variable.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("SHELF_REDIS_URL: unusable ({0})")]
    Redis(String),
    #[error("SHELF_JWT_SECRET: unusable ({0})")]
    Secret(String),
}

impl AppState {
    /// `routes`: which routes have limits of their own (the route tables').
    pub fn new(
        settings: &Settings,
        pool: DbPool,
        jwt_secret: &Secret,
        routes: RouteClasses,
        telemetry: Telemetry,
    ) -> Result<Self, StateError> {
        let jwt = JwtKeys::new(jwt_secret, &settings.jwt_previous_secrets, settings.access_token_ttl)
            .map_err(|e| StateError::Secret(e.to_string()))?;
        Ok(Self {
            events: SecurityEvents::start(pool.clone(), settings.security_event_retention, telemetry.clone()),
            pool,
            jwt,
            passwords: Passwords::with_threads(settings.password_threads),
            auth_cache: auth_cache(settings)?,
            api_keys_per_user: settings.api_keys_per_user,
            lifetimes: Lifetimes {
                refresh_token: settings.refresh_token_ttl,
                cookie_session: settings.session_ttl,
                max_age: settings.session_max_age,
            },
            limiter: rate_limiter(settings, routes, &telemetry)?,
            catalog: PageCache::default(),
            cursors: CursorKey::derive(jwt_secret.expose().as_bytes()),
            telemetry,
        })
    }
}

/// With Redis, credential changes reach the other instances at once.
fn auth_cache(settings: &Settings) -> Result<Arc<AuthCache>, StateError> {
    let Some(url) = &settings.redis_url else { return Ok(Arc::new(AuthCache::default())) };
    let client = redis::Client::open(url.expose()).map_err(|e| StateError::Redis(e.to_string()))?;
    let publisher = Publisher::new(client, format!("{}credential-changes", settings.redis_prefix));
    let cache = Arc::new(AuthCache::with_publisher(publisher.clone()));
    publisher.listen(Arc::downgrade(&cache));
    Ok(cache)
}

/// The limits, in Redis when `SHELF_REDIS_URL` is set, else in process.
fn rate_limiter(settings: &Settings, routes: RouteClasses, telemetry: &Telemetry) -> Result<RateLimiter, StateError> {
    let store = match &settings.redis_url {
        Some(url) => Store::Redis(Box::new(
            RedisStore::new(url.expose(), settings.redis_prefix.clone(), telemetry.clone())
                .map_err(|e| StateError::Redis(e.to_string()))?,
        )),
        None => Store::Memory(MemoryStore::default()),
    };
    Ok(RateLimiter::new(settings.rate_limits_enabled, settings.limits.clone(), settings.ipv6_prefix, store, routes))
}
