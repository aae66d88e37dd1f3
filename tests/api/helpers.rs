//! One `TestApp` per test: a fresh database (a SQLite file, or a PostgreSQL
//! database created for the test and dropped after it), the real app, and
//! helpers to seed users and books and to call routes.
//!
//! `SHELF_TEST_BACKEND=postgres` runs the suite on PostgreSQL
//! (`SHELF_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432`);
//! otherwise SQLite. An unreachable PostgreSQL fails the tests.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_http::Request;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use actix_web::web::{self, Bytes};
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};
use shelf::auth::Role;
use shelf::books::{BookColumns, BookInput, queries as books};
use shelf::db::DbPool;
use shelf::settings::Settings;
use shelf::startup::{self, Shared};
use shelf::state::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";
pub const ADMIN_PASSWORD: &str = "admin-password-123";
pub const USER_PASSWORD: &str = "user-password-1234";

/// The database a test runs on; dropping it removes it.
pub enum TestDb {
    // Held only so the directory lives as long as the test.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { server: String, name: String },
}

impl TestDb {
    pub fn create() -> (Self, String) {
        match std::env::var("SHELF_TEST_BACKEND").as_deref() {
            Ok("postgres") => {
                let server = std::env::var("SHELF_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
                let name = format!("shelf_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&format!("{server}/postgres"))
                    .unwrap_or_else(|e| panic!("PostgreSQL at {server} is required for this run: {e}"));
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).unwrap();
                let url = format!("{server}/{name}");
                (Self::Postgres { server, name }, url)
            }
            Ok("sqlite") | Err(_) => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("shelf.db").display());
                (Self::Sqlite(dir), url)
            }
            Ok(other) => panic!("SHELF_TEST_BACKEND must be sqlite or postgres, not {other}"),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres { .. })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Self::Postgres { server, name } = self
            && let Ok(mut conn) = PgConnection::establish(&format!("{server}/postgres"))
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and that the body is the error envelope with
    /// `code`; returns the `error` object.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        let error = &body["error"];
        assert_eq!(error["code"], code, "{body}");
        assert_eq!(error["status_code"], status, "{body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        let request_id = error["request_id"].as_str().unwrap_or_default();
        assert!(!request_id.is_empty(), "{body}");
        assert_eq!(self.header("x-request-id"), Some(request_id));
        error.clone()
    }
}

pub type Call = Rc<dyn Fn(Request) -> LocalBoxFuture<'static, TestResponse>>;

pub struct TestApp {
    pub state: web::Data<AppState>,
    /// What the app was built from (the state above is `shared.state`).
    pub shared: Shared,
    pub settings: Settings,
    pub pool: DbPool,
    /// The test database's `SHELF_DATABASE_URL`.
    pub database_url: String,
    call: Call,
    // Last, so the app's connections close before the database is dropped.
    pub db: TestDb,
}

pub fn settings_for(url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = [
        ("SHELF_DATABASE_URL", url),
        ("SHELF_JWT_SECRET", JWT_SECRET),
        ("SHELF_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("SHELF_BIND", "127.0.0.1:0"),
        // Tests not about rate limits must never meet one; those about
        // them set their own quotas.
        ("SHELF_LIMIT_ANONYMOUS", "1000000/1h"),
        ("SHELF_LIMIT_AUTHENTICATED", "1000000/1h"),
        ("SHELF_LIMIT_SEARCH_ANONYMOUS", "1000000/1h"),
        ("SHELF_LIMIT_STATUS_CHANGE", "1000000/1h"),
        ("SHELF_LIMIT_LOGIN_IP", "1000000/1h"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::from_vars(&vars).unwrap()
}

/// The in-process app for `state`, as a function from request to response.
async fn caller(shared: &Shared, settings: &Settings) -> Call {
    let service = Rc::new(test::init_service(startup::app(shared, settings)).await);
    Rc::new(move |req| {
        let service = service.clone();
        Box::pin(async move {
            let response = test::call_service(&*service, req).await;
            let status = response.status();
            let headers = response.headers().clone();
            let body = test::read_body(response).await;
            TestResponse { status, headers, body }
        })
    })
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        capture_logs();
        let (db, url) = TestDb::create();
        let settings = settings_for(&url, extra);
        // Built exactly as the server builds itself.
        let (pool, shared) = startup::prepare(&settings).unwrap();
        let state = shared.state.clone();
        let call = caller(&shared, &settings).await;
        Self { state, shared, settings, pool, database_url: url, call, db }
    }

    pub async fn send(&self, req: TestRequest) -> TestResponse {
        (self.call)(req.to_request()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.send(with_token(TestRequest::get().uri(path), token)).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.send(with_token(TestRequest::post().uri(path).set_json(body), token)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> TestResponse {
        self.send(with_token(TestRequest::put().uri(path).set_json(body), token)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.send(with_token(TestRequest::delete().uri(path), token)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> TestResponse {
        self.post("/api/token", None, json!({"username": username, "password": password})).await
    }

    /// A token for the bootstrap admin.
    pub async fn admin_token(&self) -> String {
        token_of(&self.login("admin", ADMIN_PASSWORD).await)
    }

    /// Creates a user (password `USER_PASSWORD`) and returns a token for it.
    pub async fn user_token(&self, username: &str) -> String {
        self.create_user(username, Role::User).await;
        token_of(&self.login(username, USER_PASSWORD).await)
    }

    pub async fn create_user(&self, username: &str, role: Role) -> i64 {
        let username = username.to_owned();
        shelf::db::run(&self.pool, move |conn| {
            let hash = shelf::auth::password::hash_blocking(USER_PASSWORD)?;
            shelf::accounts::insert(conn, &username, &hash, role)
        })
        .await
        .unwrap()
        .id
    }

    /// Inserts a book straight into the catalog; returns its id.
    pub async fn book(&self, title: &str, author: &str) -> i64 {
        self.book_with(title, author, None).await
    }

    pub async fn book_with(&self, title: &str, author: &str, rating: Option<f64>) -> i64 {
        let input = BookInput {
            title: title.to_owned(),
            author: author.to_owned(),
            rating,
            isbn: None,
            published_year: None,
            specifications_flat: None,
        };
        let id = shelf::db::run(&self.pool, move |conn| {
            books::create(conn, &BookColumns::from_input(input, shelf::db::now()))
        })
        .await
        .unwrap()
        .id;
        // Written behind the app's back, like another instance would.
        self.state.catalog.invalidate();
        id
    }
}

impl TestApp {
    /// A second app (another "instance") on the same database, with its
    /// own settings on top of this one's.
    pub async fn sibling(&self, extra: &[(&str, &str)]) -> (web::Data<AppState>, Call) {
        let (shared, settings) = self.sibling_state(extra);
        let call = caller(&shared, &settings).await;
        (shared.state, call)
    }

    /// What a second instance on the same database is built from, and its
    /// settings.
    pub fn sibling_state(&self, extra: &[(&str, &str)]) -> (Shared, Settings) {
        let settings = settings_for(&self.database_url, extra);
        let secret = startup::signing_secret(&self.pool, &settings).unwrap();
        (Shared::new(&settings, self.pool.clone(), &secret).unwrap(), settings)
    }

    /// Signs in over `POST /api/token`; the whole JSON answer.
    pub async fn token_pair(&self, username: &str, password: &str) -> Value {
        let response = self.login(username, password).await;
        assert_eq!(response.status, StatusCode::OK, "{}", String::from_utf8_lossy(&response.body));
        response.json()
    }

    /// Signs in over `POST /api/session`; the session cookie's value and
    /// the CSRF token.
    pub async fn cookie_session(&self, username: &str, password: &str) -> (String, String) {
        let response = self.post("/api/session", None, json!({"username": username, "password": password})).await;
        assert_eq!(response.status, StatusCode::OK, "{}", String::from_utf8_lossy(&response.body));
        let cookie = set_cookie_value(&response, SESSION_COOKIE).expect("no session cookie");
        (cookie, response.json()["csrf_token"].as_str().unwrap().to_owned())
    }

    /// Creates an API key for the holder of `token`; the full key.
    pub async fn api_key(&self, token: &str, scopes: &[&str]) -> String {
        self.api_key_with(token, password_of(token), scopes).await
    }

    /// Creates an API key for the holder of `token`, whose password is
    /// `password`; the full key.
    pub async fn api_key_with(&self, token: &str, password: &str, scopes: &[&str]) -> String {
        let body = json!({"name": "test key", "scopes": scopes, "current_password": password});
        let response = self.post("/api/v1/api-keys", Some(token), body).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&response.body));
        response.json()["key"].as_str().unwrap().to_owned()
    }

    /// Security events through the admin route, newest first; `query` is a
    /// query string such as `type=login_failed`. Takes an admin token so
    /// that reading does not itself add a `login_succeeded` event.
    pub async fn events(&self, admin_token: &str, query: &str) -> Vec<Value> {
        let response = self.get(&format!("/api/v1/admin/security-events?limit=500&{query}"), Some(admin_token)).await;
        assert_eq!(response.status, StatusCode::OK, "{}", String::from_utf8_lossy(&response.body));
        response.json()["events"].as_array().unwrap().clone()
    }
}

/// One HTTP/1.1 answer read off a real socket.
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The status and headers of a response head (the bytes before the
    /// blank line); `None` if the status line is not HTTP.
    pub fn parse_head(head: &[u8]) -> Option<(u16, Vec<(String, String)>)> {
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers =
            lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
        Some((status, headers))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Reads one HTTP/1.1 response with a Content-Length body.
pub async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        buffer.extend_from_slice(&chunk[..n]);
    };
    let (status, headers) = RawResponse::parse_head(&buffer[..header_end]).expect("an HTTP response head");
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = buffer[header_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    RawResponse { status, headers, body }
}

/// Serves `app` as the server does, with its metrics listener
/// (`SHELF_METRICS_BIND` must be set); the API's port and the metrics' port.
pub async fn serve_with_metrics(app: &TestApp) -> (u16, u16) {
    let listener = shelf::startup::listener("127.0.0.1:0".parse().unwrap()).unwrap();
    let server = shelf::startup::Application::serve(listener, app.shared.clone(), app.settings.clone()).unwrap();
    let ports = (server.port(), server.metrics_port().expect("SHELF_METRICS_BIND is set"));
    actix_web::rt::spawn(server.run_until_stopped());
    ports
}

pub async fn serve(app: &TestApp) -> u16 {
    serve_state(app.shared.clone(), app.settings.clone()).await
}

/// Serves `state` (another instance, say) on a free port of its own.
pub async fn serve_state(shared: Shared, settings: Settings) -> u16 {
    // Bound the way the server binds (its backlog), on port 0.
    let listener = startup::listener("127.0.0.1:0".parse().unwrap()).unwrap();
    let server = startup::Application::serve(listener, shared, settings).unwrap();
    let port = server.port();
    actix_web::rt::spawn(server.run_until_stopped());
    port
}

pub async fn request(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> RawResponse {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    request_with(port, method, path, &auth, body).await
}

/// A request with extra header lines (each ending in `\r\n`), on a fresh
/// connection.
pub async fn request_with(port: u16, method: &str, path: &str, headers: &str, body: Option<Value>) -> RawResponse {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    read_response(&mut stream).await
}

/// One request per entry, all at once: every connection is opened first,
/// then every request is written before any answer is read, and the
/// answers are read concurrently. For attacks where concurrency is the
/// point (a check-then-act raced by many clients).
pub async fn at_once(port: u16, requests: Vec<String>) -> Vec<RawResponse> {
    staggered(port, requests.into_iter().map(|r| (Duration::ZERO, r)).collect()).await
}

/// Like [`at_once`], with each request written after its own delay from
/// the common start, to land one request inside another's critical
/// window.
pub async fn staggered(port: u16, requests: Vec<(Duration, String)>) -> Vec<RawResponse> {
    let mut streams = Vec::with_capacity(requests.len());
    for _ in &requests {
        streams.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    let tasks: Vec<_> = streams
        .into_iter()
        .zip(requests)
        .map(|(mut stream, (delay, request))| {
            actix_web::rt::spawn(async move {
                if !delay.is_zero() {
                    actix_web::rt::time::sleep(delay).await;
                }
                stream.write_all(request.as_bytes()).await.unwrap();
                read_response(&mut stream).await
            })
        })
        .collect();
    futures_util::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect()
}

/// A JSON POST as raw HTTP/1.1, with extra header lines (each ending in
/// `\r\n`).
pub fn raw_post(path: &str, headers: &str, body: &Value) -> String {
    let body = body.to_string();
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// How many of `responses` have each status, as (status, count) sorted.
pub fn status_counts(responses: &[RawResponse]) -> Vec<(u16, usize)> {
    let mut counts: Vec<(u16, usize)> = Vec::new();
    for response in responses {
        match counts.iter_mut().find(|(status, _)| *status == response.status) {
            Some((_, n)) => *n += 1,
            None => counts.push((response.status, 1)),
        }
    }
    counts.sort();
    counts
}

/// A header that must be there, as text.
#[track_caller]
pub fn header(response: &TestResponse, name: &str) -> String {
    response.header(name).unwrap_or_else(|| panic!("no {name} header")).to_owned()
}

/// When a request was sent and when its answer came back: the server
/// decided somewhere in between.
#[derive(Clone, Copy)]
pub struct Span(Instant, Instant);

pub async fn timed<F: Future<Output = TestResponse>>(request: F) -> (TestResponse, Span) {
    let sent = Instant::now();
    let response = request.await;
    (response, Span(sent, Instant::now()))
}

/// Asserts `Retry-After` is GCRA's wait, exactly: a quota whose next
/// request conforms `full` after the decision at `anchor` answers a refusal
/// decided during `refused` with `full - (refused - anchor)`, rounded up.
/// The bounds come from the spans, so a slow machine cannot fail it.
#[track_caller]
pub fn assert_wait(response: &TestResponse, full: Duration, anchor: Span, refused: Span) {
    let ceil = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let shortest = full.saturating_sub(refused.1.duration_since(anchor.0));
    let longest = full.saturating_sub(refused.0.duration_since(anchor.1));
    let got: u64 = header(response, "retry-after").parse().unwrap();
    assert!(
        (ceil(shortest).max(1)..=ceil(longest).max(1)).contains(&got),
        "Retry-After {got}, expected {shortest:?}..{longest:?}"
    );
}

/// The session cookie's name with `SHELF_COOKIE_SECURE` on (the default).
pub const SESSION_COOKIE: &str = "__Host-shelf_session";
pub const CSRF_COOKIE: &str = "__Host-shelf_csrf";

/// The value a response sets for cookie `name`.
pub fn set_cookie_value(response: &TestResponse, name: &str) -> Option<String> {
    set_cookie_header(response, name)
        .and_then(|h| h.split(';').next().map(str::to_owned))
        .and_then(|pair| pair.split_once('=').map(|(_, v)| v.to_owned()))
}

/// The whole `Set-Cookie` header for cookie `name`.
pub fn set_cookie_header(response: &TestResponse, name: &str) -> Option<String> {
    response
        .headers
        .get_all("set-cookie")
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// A request authenticated by an API key.
pub fn with_api_key(req: TestRequest, key: &str) -> TestRequest {
    req.insert_header(("X-API-Key", key))
}

/// A request authenticated by a session cookie, with an optional
/// `X-CSRF-Token`.
pub fn with_session(req: TestRequest, cookie: &str, csrf: Option<&str>) -> TestRequest {
    let req = req.insert_header(("Cookie", format!("{SESSION_COOKIE}={cookie}")));
    match csrf {
        Some(csrf) => req.insert_header(("X-CSRF-Token", csrf)),
        None => req,
    }
}

/// Every log line written so far by any test in this process (the tests
/// share one logger), as `target: message`.
pub fn captured_log() -> Vec<String> {
    LOG.get().map(|l| l.lines.lock().unwrap().clone()).unwrap_or_default()
}

/// The same lines as `SHELF_LOG_FORMAT=json` writes them, fields and all.
pub fn captured_json_log() -> Vec<String> {
    LOG.get().map(|l| l.json.lock().unwrap().clone()).unwrap_or_default()
}

struct CapturingLogger {
    lines: Mutex<Vec<String>>,
    json: Mutex<Vec<String>>,
}

static LOG: OnceLock<&'static CapturingLogger> = OnceLock::new();

impl log::Log for CapturingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{}: {}", record.target(), record.args());
        self.lines.lock().unwrap().push(line);
        self.json.lock().unwrap().push(shelf::logging::json_line(record).to_string());
    }

    fn flush(&self) {}
}

fn capture_logs() {
    LOG.get_or_init(|| {
        let logger: &'static CapturingLogger =
            Box::leak(Box::new(CapturingLogger { lines: Mutex::new(Vec::new()), json: Mutex::new(Vec::new()) }));
        if log::set_logger(logger).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
        logger
    });
}

fn with_token(req: TestRequest, token: Option<&str>) -> TestRequest {
    match token {
        Some(token) => req.insert_header(("Authorization", format!("Bearer {token}"))),
        None => req,
    }
}

/// The password of the holder of a test `token`: the bootstrap admin (user
/// 1) has `ADMIN_PASSWORD`, every user the tests create `USER_PASSWORD`.
pub fn password_of(token: &str) -> &'static str {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    if claims["sub"] == "1" { ADMIN_PASSWORD } else { USER_PASSWORD }
}

/// `body` with the account password of `token`'s holder as
/// `current_password`, unless it names one already.
pub fn with_current_password(mut body: Value, token: &str) -> Value {
    if let Some(fields) = body.as_object_mut() {
        fields.entry("current_password").or_insert_with(|| json!(password_of(token)));
    }
    body
}

#[track_caller]
pub fn token_of(response: &TestResponse) -> String {
    assert_eq!(response.status, StatusCode::OK, "{}", String::from_utf8_lossy(&response.body));
    response.json()["access_token"].as_str().unwrap().to_owned()
}

/// The titles of a `{"books": [...]}` page, in order.
pub fn titles(body: &Value) -> Vec<String> {
    body["books"].as_array().unwrap().iter().map(|b| b["title"].as_str().unwrap().to_owned()).collect()
}
