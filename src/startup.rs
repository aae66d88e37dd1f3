//! Building the application: database, state, middleware order, server.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_cors::Cors;
use actix_http::{HttpService, KeepAlive, Protocol};
use actix_service::{IntoServiceFactory, ServiceFactoryExt, fn_service, map_config};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{Compress, Condition, from_fn};
use actix_web::rt::net::TcpStream;
use actix_web::{App, web};
use utoipa_actix_web::AppExt;

use crate::api::{openapi, ops};
use crate::db::{self, DbPool, MigrationError};
use crate::error::ApiError;
use crate::http::HttpConfig;
use crate::http::allow::AllowedMethods;
use crate::http::body_limit::BodyBudget;
use crate::http::client_ip::Proxies;
use crate::http::connection::Lingering;
use crate::http::cookies::SessionCookies;
use crate::http::observe::{self, Observe};
use crate::http::{body_limit, envelope, etag, extract, headers, rate_limit, whole_body};
use crate::limits::RouteClasses;
use crate::settings::{Secret, Settings};
use crate::state::{AppState, StateError};
use crate::telemetry::Telemetry;
use crate::{accounts, api, books, secrets};
use diesel::connection::SimpleConnection;

/// What the app is built from: the services, the HTTP layer's settings and
/// the documents. The server and the tests build it the same way.
#[derive(Clone)]
pub struct Shared {
    pub state: web::Data<AppState>,
    pub http: web::Data<HttpConfig>,
    pub docs: web::Data<ops::Documents>,
}

impl Shared {
    /// With metrics of their own when the settings ask for them.
    pub fn new(settings: &Settings, pool: DbPool, jwt_secret: &Secret) -> Result<Self, StartError> {
        Self::with_telemetry(settings, pool, jwt_secret, telemetry_for(settings))
    }

    pub fn with_telemetry(
        settings: &Settings,
        pool: DbPool,
        jwt_secret: &Secret,
        telemetry: Telemetry,
    ) -> Result<Self, StartError> {
        let routes = RouteClasses::new(api::limit_rows());
        let state = AppState::new(settings, pool, jwt_secret, routes, telemetry)?;
        let http = HttpConfig {
            proxies: Proxies { trusted: settings.trusted_proxies.clone(), header: settings.forwarded_header },
            cookies: SessionCookies { secure: settings.cookie_secure },
            request_body_timeout: settings.request_body_timeout,
            body_budget: BodyBudget::new(settings.request_body_budget),
            allowed_methods: allowed_methods(),
        };
        let document = |version| web::Bytes::from(openapi::json(version).unwrap_or_default());
        let docs = ops::Documents { v1: document("v1"), v2: document("v2") };
        Ok(Self { state: web::Data::new(state), http: web::Data::new(http), docs: web::Data::new(docs) })
    }
}

/// Every documented route, and the docs pages mounted beside them.
fn allowed_methods() -> AllowedMethods {
    let docs = [("/docs".to_owned(), Method::GET), ("/docs/{tail:.*}".to_owned(), Method::GET)];
    let routes = api::limit_rows().into_iter().map(|(method, path, _)| (path, method));
    AllowedMethods::new(routes.chain(docs))
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    State(#[from] StateError),
    #[error("SHELF_DATABASE_URL: cannot connect to the database ({0})")]
    Connect(String),
    #[error("{0}")]
    Migration(#[from] MigrationError),
    #[error("start-up database work failed: {0}")]
    Database(String),
    #[error("SHELF_BIND: cannot listen on {0}: {1}")]
    Bind(std::net::SocketAddr, std::io::Error),
    #[error("SHELF_METRICS_BIND: cannot listen on {0}: {1}")]
    MetricsBind(std::net::SocketAddr, std::io::Error),
}

const JWT_SECRET_KEY: &str = "jwt_secret";

/// Metrics are kept only where they can be read: with a metrics listener.
pub fn telemetry_for(settings: &Settings) -> Telemetry {
    if settings.metrics_bind.is_some() { Telemetry::on() } else { Telemetry::off() }
}

/// Connects and migrates: what every command needs before it touches data.
pub fn prepare_database(settings: &Settings) -> Result<DbPool, StartError> {
    prepare_observed_database(settings, Telemetry::off())
}

/// The same, with the pool's waits reported to `telemetry`.
pub fn prepare_observed_database(settings: &Settings, telemetry: Telemetry) -> Result<DbPool, StartError> {
    let pool = db::observed_pool(
        &settings.database_url,
        settings.database_pool_size,
        settings.database_pool_timeout,
        telemetry,
    );
    let mut conn = pool.get().map_err(|e| StartError::Connect(e.to_string()))?;
    let applied = db::migrate(&mut conn)?;
    if applied > 0 {
        log::info!("applied {applied} database migration(s)");
    }
    books::sanitize::refresh_if_policy_changed(&mut conn).map_err(|e| StartError::Database(e.to_string()))?;
    books::search::refresh_keys_if_changed(&mut conn).map_err(|e| StartError::Database(e.to_string()))?;
    books::import::ensure_order_indexes(&mut conn).map_err(|e| StartError::Database(e.to_string()))?;
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

/// Everything a server needs before it listens: the database migrated, the
/// signing secret, the first admin, and the shared state. The tests build
/// their apps with this too.
pub fn prepare(settings: &Settings) -> Result<(DbPool, Shared), StartError> {
    let telemetry = telemetry_for(settings);
    let pool = prepare_observed_database(settings, telemetry.clone())?;
    let secret = signing_secret(&pool, settings)?;
    bootstrap_admin(&pool, settings)?;
    let shared = Shared::with_telemetry(settings, pool.clone(), &secret, telemetry)?;
    Ok((pool, shared))
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
    shared: &Shared,
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
    let observe = Observe {
        access_log: log::log_enabled!(target: observe::ACCESS_LOG, log::Level::Info),
        metrics: shared.state.telemetry.enabled(),
    };
    let (app, _) = api::mount(App::new().into_utoipa_app(), api::tables()).split_for_parts();
    app.app_data(shared.state.clone())
        .app_data(shared.http.clone())
        .app_data(shared.docs.clone())
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
        .wrap(headers::security_headers(settings.hsts))
        // The access log formats a line per request; skip it entirely when
        // the log filter would drop the line anyway, and the metrics when
        // no listener serves them.
        .wrap(Condition::new(observe.any(), from_fn(move |req, next| observe::observe(observe, req, next))))
}

/// The metrics listener's app: `GET /metrics` and 404s in the envelope.
fn metrics_app(
    shared: &Shared,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody + use<>>,
        Error = actix_web::Error,
        InitError = (),
    > + use<>,
> {
    App::new()
        .app_data(shared.state.clone())
        .app_data(shared.http.clone())
        .configure(api::metrics::routes)
        .default_service(web::to(envelope::no_route))
        .wrap(from_fn(envelope::envelope))
        .wrap(headers::security_headers(false))
}

/// Cross-origin access for the configured origins only (never `*`, which
/// settings refuse). Credentials are allowed, so a page of the same site on
/// another origin can use a cookie session; its writes still need the CSRF
/// token in `X-CSRF-Token`. A page on another port of the same host can read
/// the CSRF cookie (cookies ignore ports), but sending that header takes a
/// preflight, which only an allowed origin passes. A request from any other
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
    state: web::Data<AppState>,
    metrics_port: Option<u16>,
}

impl Application {
    /// Prepares the database and binds `settings.bind` (port 0 picks a
    /// free port, which tests use).
    pub fn build(settings: Settings) -> Result<Self, StartError> {
        let (_, shared) = prepare(&settings)?;
        let listener = listener(settings.bind).map_err(|e| StartError::Bind(settings.bind, e))?;
        Self::serve(listener, shared, settings)
    }

    /// Serves on `listener`: actix-http's HTTP/1.1 service over the
    /// connections of `http::connection` (no delay, lingering close), with
    /// actix-web's defaults for time limits, one worker per core.
    /// With `SHELF_METRICS_BIND` set, `GET /metrics` is served on a second
    /// listener of the same server (its workers, its shutdown), never on
    /// `listener`.
    pub fn serve(listener: TcpListener, shared: Shared, settings: Settings) -> Result<Self, StartError> {
        let address = listener.local_addr().map_err(|e| StartError::Bind(settings.bind, e))?;
        let state = shared.state.clone();
        let metrics = match settings.metrics_bind {
            Some(bind) => {
                let metrics = self::listener(bind).map_err(|e| StartError::MetricsBind(bind, e))?;
                let port = metrics.local_addr().map_err(|e| StartError::MetricsBind(bind, e))?.port();
                Some((bind, metrics, port))
            }
            None => None,
        };
        let metrics_port = metrics.as_ref().map(|(_, _, port)| *port);
        let mut builder = actix_server::Server::build();
        if let Some((bind, metrics, _)) = metrics {
            let shared = shared.clone();
            builder = builder
                .listen("shelf-metrics", metrics, move || {
                    HttpService::build()
                        .keep_alive(KeepAlive::Timeout(Duration::from_secs(5)))
                        .client_request_timeout(Duration::from_secs(5))
                        .finish(map_config(metrics_app(&shared).into_factory(), |_| AppConfig::default()))
                        .tcp()
                })
                .map_err(|e| StartError::MetricsBind(bind, e))?;
        }
        let server = builder
            .listen("shelf", listener, move || {
                let http = HttpService::build()
                    .keep_alive(KeepAlive::Timeout(Duration::from_secs(5)))
                    .client_request_timeout(Duration::from_secs(5))
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .local_addr(address)
                    .finish(map_config(app(&shared, &settings).into_factory(), |_| AppConfig::default()));
                fn_service(|stream: TcpStream| async move {
                    let peer = stream.peer_addr().ok();
                    Ok((Lingering::new(stream), Protocol::Http1, peer))
                })
                .and_then(http)
            })
            .map_err(|e| StartError::Bind(address, e))?
            .shutdown_timeout(30)
            .run();
        Ok(Self { server, port: address.port(), metrics_port, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// Serves until SIGTERM/SIGINT has drained the requests, then writes
    /// the queued security events and, on SQLite, folds the write-ahead log
    /// into the database file, so a stopped server leaves one complete file
    /// (for a copy, or `shelf restore`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        self.state.events.flush().await;
        let checkpoint = db::run(&self.state.pool, |conn| {
            if let db::DbConnection::Sqlite(sqlite) = conn {
                sqlite
                    .batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    .map_err(|e| ApiError::internal(e.to_string()))?;
            }
            Ok(())
        })
        .await;
        if let Err(e) = checkpoint {
            log::warn!("the write-ahead log was not checkpointed at shutdown: {e}");
        }
        Ok(())
    }
}
