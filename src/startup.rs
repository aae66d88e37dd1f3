//! Building the application: database, state, middleware order, server.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_http::{HttpService, KeepAlive, Protocol};
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{Compress, Condition, DefaultHeaders, Logger, from_fn};
use actix_web::rt::net::TcpStream;
use actix_web::{App, web};
use utoipa_actix_web::AppExt;

use crate::audit::SecurityEvents;
use crate::auth::cache::AuthCache;
use crate::auth::invalidation::Publisher;
use crate::auth::jwt::JwtKeys;
use crate::auth::password::Passwords;
use crate::auth::sessions::Lifetimes;
use crate::books::cache::PageCache;
use crate::db::{self, DbPool, MigrationError};
use crate::http::allow::AllowedMethods;
use crate::http::body_limit::BodyBudget;
use crate::http::client_ip::Proxies;
use crate::http::connection::Lingering;
use crate::http::cookies::SessionCookies;
use crate::http::{body_limit, envelope, etag, extract, rate_limit, whole_body};
use crate::limits::memory::MemoryStore;
use crate::limits::redis::RedisStore;
use crate::limits::{RateLimiter, RouteClasses, Store};
use crate::settings::{Secret, Settings};
use crate::{accounts, api, books, openapi, ops, secrets};

/// Everything a handler may need, built once and shared by all workers.
pub struct AppState {
    pub pool: DbPool,
    pub jwt: JwtKeys,
    pub passwords: Passwords,
    pub auth_cache: Arc<AuthCache>,
    pub events: SecurityEvents,
    pub cookies: SessionCookies,
    pub proxies: Proxies,
    pub lifetimes: Lifetimes,
    /// Active API keys one user may hold.
    pub api_keys_per_user: u32,
    pub request_body_timeout: std::time::Duration,
    pub limiter: RateLimiter,
    pub catalog: PageCache,
    pub openapi_v1: web::Bytes,
    /// Bytes of request bodies buffered at once, across all connections.
    pub body_budget: BodyBudget,
    /// The methods of every route, for the `Allow` header of a 405.
    pub allowed_methods: AllowedMethods,
}

impl AppState {
    pub fn new(settings: &Settings, pool: DbPool, jwt_secret: &Secret) -> Result<Self, StartError> {
        let jwt = JwtKeys::new(jwt_secret, &settings.jwt_previous_secrets, settings.access_token_ttl)
            .map_err(|e| StartError::Secret(e.to_string()))?;
        Ok(Self {
            events: SecurityEvents::start(pool.clone(), settings.security_event_retention),
            pool,
            jwt,
            passwords: Passwords::with_threads(settings.password_threads),
            auth_cache: auth_cache(settings)?,
            cookies: SessionCookies { secure: settings.cookie_secure },
            proxies: Proxies { trusted: settings.trusted_proxies.clone(), header: settings.forwarded_header },
            api_keys_per_user: settings.api_keys_per_user,
            lifetimes: Lifetimes {
                refresh_token: settings.refresh_token_ttl,
                cookie_session: settings.session_ttl,
                max_age: settings.session_max_age,
            },
            request_body_timeout: settings.request_body_timeout,
            limiter: rate_limiter(settings)?,
            catalog: PageCache::default(),
            openapi_v1: web::Bytes::from(openapi::v1_json()),
            allowed_methods: allowed_methods(),
            body_budget: BodyBudget::new(settings.request_body_budget),
        })
    }
}

/// Every documented route, and the docs pages mounted beside them.
fn allowed_methods() -> AllowedMethods {
    let docs = [("/docs".to_owned(), Method::GET), ("/docs/{tail:.*}".to_owned(), Method::GET)];
    AllowedMethods::new(openapi::routes(&openapi::v1()).into_iter().chain(docs))
}

/// With Redis, credential changes reach the other instances at once.
fn auth_cache(settings: &Settings) -> Result<Arc<AuthCache>, StartError> {
    let Some(url) = &settings.redis_url else { return Ok(Arc::new(AuthCache::default())) };
    let client = redis::Client::open(url.expose()).map_err(|e| StartError::Redis(e.to_string()))?;
    let publisher = Publisher::new(client, format!("{}credential-changes", settings.redis_prefix));
    let cache = Arc::new(AuthCache::with_publisher(publisher.clone()));
    publisher.listen(Arc::downgrade(&cache));
    Ok(cache)
}

/// The limits, in Redis when `SHELF_REDIS_URL` is set, else in process.
fn rate_limiter(settings: &Settings) -> Result<RateLimiter, StartError> {
    let store = match &settings.redis_url {
        Some(url) => Store::Redis(Box::new(
            RedisStore::new(url.expose(), settings.redis_prefix.clone())
                .map_err(|e| StartError::Redis(e.to_string()))?,
        )),
        None => Store::Memory(MemoryStore::default()),
    };
    Ok(RateLimiter::new(
        settings.rate_limits_enabled,
        settings.limits.clone(),
        settings.ipv6_prefix,
        store,
        RouteClasses::new(api::LIMITED_ROUTES),
    ))
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("SHELF_REDIS_URL: unusable ({0})")]
    Redis(String),
    #[error("SHELF_DATABASE_URL: cannot connect to the database ({0})")]
    Connect(String),
    #[error("{0}")]
    Migration(#[from] MigrationError),
    #[error("start-up database work failed: {0}")]
    Database(String),
    #[error("SHELF_JWT_SECRET: unusable ({0})")]
    Secret(String),
    #[error("SHELF_BIND: cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, std::io::Error),
}

const JWT_SECRET_KEY: &str = "jwt_secret";

/// Connects and migrates: what every command needs before it touches data.
pub fn prepare_database(settings: &Settings) -> Result<DbPool, StartError> {
    let pool = db::pool(&settings.database_url, settings.database_pool_size, settings.database_pool_timeout);
    let mut conn = pool.get().map_err(|e| StartError::Connect(e.to_string()))?;
    let applied = db::migrate(&mut conn)?;
    if applied > 0 {
        log::info!("applied {applied} database migration(s)");
    }
    books::sanitize::refresh_if_policy_changed(&mut conn).map_err(|e| StartError::Database(e.to_string()))?;
    Ok(pool)
}

/// The token signing secret: `SHELF_JWT_SECRET`, else one generated once
/// and kept in the database (so every instance and restart agrees).
pub fn signing_secret(pool: &DbPool, settings: &Settings) -> Result<Secret, StartError> {
    match &settings.jwt_secret {
        Some(secret) => Ok(secret.clone()),
        None => {
            log::warn!(
                "SHELF_JWT_SECRET is not set: signing tokens with a secret generated once and kept in the \
                 database. Set SHELF_JWT_SECRET (32+ bytes) in production."
            );
            let mut conn = pool.get().map_err(|e| StartError::Connect(e.to_string()))?;
            let stored = db::put_setting_if_absent(&mut conn, JWT_SECRET_KEY, &secrets::random_token(32))
                .map_err(|e| StartError::Database(e.to_string()))?;
            Ok(Secret::new(stored))
        }
    }
}

/// Creates the first admin on an empty database; prints a generated
/// password once, to the terminal rather than the log.
pub fn bootstrap_admin(pool: &DbPool, settings: &Settings) -> Result<(), StartError> {
    let mut conn = pool.get().map_err(|e| StartError::Connect(e.to_string()))?;
    let given = settings.admin_password.as_ref().map(Secret::expose);
    match accounts::bootstrap_admin(&mut conn, given).map_err(|e| StartError::Database(e.to_string()))? {
        accounts::Bootstrap::AlreadyHasUsers => {}
        accounts::Bootstrap::CreatedWithGivenPassword => {
            log::info!("created user 'admin' with the password from SHELF_ADMIN_PASSWORD");
        }
        accounts::Bootstrap::CreatedWithRandomPassword(password) => {
            println!("Created user 'admin' with password: {password}");
            println!("It is shown only this once. Change it with POST /api/v1/me/password.");
        }
    }
    Ok(())
}

/// The application with its routes and middleware. The last `wrap` runs
/// first: the logger sees the final response, security headers land on
/// every response including errors, and the envelope catches everything
/// inside it.
pub fn app(
    state: web::Data<AppState>,
    settings: &Settings,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<>>,
        Error = actix_web::Error,
        InitError = (),
    > + use<>,
> {
    let (app, _) = api::mount(App::new().into_utoipa_app()).split_for_parts();
    app.app_data(state)
        .app_data(extract::json_config())
        .app_data(extract::payload_config())
        .app_data(extract::query_config())
        .app_data(extract::path_config())
        .route("/docs", web::get().to(ops::docs_redirect))
        .route("/docs/{tail:.*}", web::get().to(ops::docs))
        .default_service(web::to(envelope::no_route))
        .wrap(from_fn(body_limit::body_limit))
        .wrap(from_fn(etag::etag))
        .wrap(from_fn(rate_limit::rate_limit))
        .wrap(Condition::new(!settings.cors_origins.is_empty(), cors(&settings.cors_origins)))
        .wrap(from_fn(envelope::envelope))
        .wrap(Compress::default())
        .wrap(from_fn(whole_body::whole_body))
        .wrap(security_headers(settings.hsts))
        // The access log formats a line per request; skip it entirely when
        // the log filter would drop the line anyway.
        .wrap(Condition::new(
            log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info),
            Logger::new("%a \"%r\" %s %b %Dms request_id=%{x-request-id}o"),
        ))
}

/// Cross-origin access for the configured origins only (never `*`, which
/// settings refuse). Credentials are allowed, so a page of the same site on
/// another origin can use a cookie session; its writes still need the CSRF
/// token, which only an allowed origin can read. A request from any other
/// origin is served without CORS headers, so the browser keeps the answer
/// from the page; a preflight from one is refused. Preflights are answered
/// here, before the rate limiter, so they are never limited.
fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .block_on_origin_mismatch(false)
        .allowed_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("x-api-key"),
            header::HeaderName::from_static("x-csrf-token"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            "x-request-id",
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "ratelimit",
            "ratelimit-policy",
            "retry-after",
            "etag",
            "link",
            "deprecation",
            "sunset",
        ])
        .supports_credentials()
        .max_age(3600)
}

/// The headers every response carries (lower-case names).
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
];

/// Added only where a handler did not set its own (the docs page sets a
/// looser Content-Security-Policy).
fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = SECURITY_HEADERS.into_iter().fold(DefaultHeaders::new(), |headers, h| headers.add(h));
    if hsts { headers.add(("Strict-Transport-Security", "max-age=31536000; includeSubDomains")) } else { headers }
}

/// Connections that may wait in the kernel for the server to accept them.
/// Rust std's `TcpListener::bind` asks for 128: a burst of 1,000 clients
/// then has its surplus SYNs dropped and retried a second later. Linux caps
/// the number at `net.core.somaxconn` (4096 by default since 5.4).
pub const LISTEN_BACKLOG: i32 = 4096;

/// The server's listening socket on `address` (port 0 picks a free port),
/// with [`LISTEN_BACKLOG`] and `SO_REUSEADDR`, so that a restart can bind
/// while the last run's connections linger in `TIME_WAIT`.
pub fn listener(address: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// A bound, ready-to-run server.
pub struct Application {
    server: Server,
    port: u16,
}

impl Application {
    /// Prepares the database and binds `settings.bind` (port 0 picks a
    /// free port, which tests use).
    pub fn build(settings: Settings) -> Result<Self, StartError> {
        let pool = prepare_database(&settings)?;
        let secret = signing_secret(&pool, &settings)?;
        bootstrap_admin(&pool, &settings)?;
        let state = web::Data::new(AppState::new(&settings, pool, &secret)?);
        let listener = listener(settings.bind).map_err(|e| StartError::Bind(settings.bind, e))?;
        Self::serve(listener, state, settings)
    }

    /// Serves on `listener`, best made by [`listener`].
    /// Serves on `listener`: actix-http's HTTP/1.1 service over the
    /// connections of `http::connection` (no delay, lingering close), with
    /// actix-web's defaults for time limits, one worker per core.
    pub fn serve(listener: TcpListener, state: web::Data<AppState>, settings: Settings) -> Result<Self, StartError> {
        let address = listener.local_addr().map_err(|e| StartError::Bind(settings.bind, e))?;
        let server = actix_server::Server::build()
            .listen("shelf", listener, move || {
                let http = HttpService::build()
                    .keep_alive(KeepAlive::Timeout(Duration::from_secs(5)))
                    .client_request_timeout(Duration::from_secs(5))
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .local_addr(address)
                    .finish(map_config(app(state.clone(), &settings).into_factory(), |_| AppConfig::default()));
                fn_service(|stream: TcpStream| async move {
                    let peer = stream.peer_addr().ok();
                    Ok((Lingering::new(stream), Protocol::Http1, peer))
                })
                .and_then(http)
            })
            .map_err(|e| StartError::Bind(address, e))?
            .shutdown_timeout(30)
            .run();
        Ok(Self { server, port: address.port() })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
