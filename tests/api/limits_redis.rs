//! Redis between instances: rate limits shared by several server
//! processes, the fallback to in-process limits while Redis is down, the
//! same GCRA arithmetic as the in-process store, and credential changes
//! that reach every instance at once.
//!
//! These tests need the local Redis on 127.0.0.1:6379 (and `redis-server` /
//! `redis-cli` on the PATH). Without it they print a note and pass, unless
//! `CI` or `SHELF_TEST_REQUIRE_REDIS` is set: then a missing Redis fails
//! them. Each test keeps its keys under a prefix of its own and deletes
//! them at the end.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{ADMIN_PASSWORD, JWT_SECRET, RawResponse, TestApp, TestResponse, captured_log};

const REDIS_PORT: u16 = 6379;

/// Whether Redis answers `PING` on `port` of 127.0.0.1.
fn redis_answers(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "PING"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "PONG")
}

/// Whether a missing Redis must fail the test rather than skip it.
fn redis_required() -> bool {
    ["CI", "SHELF_TEST_REQUIRE_REDIS"].iter().any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// True when the local Redis answers; false (after a note) when the test
/// may skip; a panic when it may not.
fn local_redis(test: &str) -> bool {
    if redis_answers(REDIS_PORT) {
        return true;
    }
    assert!(
        !redis_required(),
        "Redis does not answer PING on 127.0.0.1:{REDIS_PORT} (or redis-cli is missing); it is required when CI or \
         SHELF_TEST_REQUIRE_REDIS is set"
    );
    eprintln!(
        "note: {test} skipped: no Redis on 127.0.0.1:{REDIS_PORT} (set SHELF_TEST_REQUIRE_REDIS=1 to fail instead)"
    );
    false
}

/// A key prefix no other test or run uses; its keys are deleted on drop.
struct Prefix {
    prefix: String,
    port: u16,
}

impl Prefix {
    fn new(port: u16) -> Self {
        Self { prefix: format!("shelf-test-{}:", uuid::Uuid::new_v4().simple()), port }
    }

    fn as_str(&self) -> &str {
        &self.prefix
    }

    fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The keys under the prefix, sorted.
    fn keys(&self) -> Vec<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--scan", "--pattern"])
            .arg(format!("{}*", self.prefix))
            .output()
            .expect("redis-cli");
        assert!(out.status.success(), "redis-cli --scan: {}", String::from_utf8_lossy(&out.stderr));
        let mut keys: Vec<String> =
            String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
        keys.sort();
        keys
    }

    fn delete_keys(&self) {
        let keys = self.keys();
        if keys.is_empty() {
            return;
        }
        let _ = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "DEL"])
            .args(&keys)
            .stdout(Stdio::null())
            .status();
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        if redis_answers(self.port) {
            self.delete_keys();
        }
    }
}

/// A child process that is killed when the test ends, however it ends.
struct KillOnDrop(Child);

impl KillOnDrop {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `ready` every 50 ms until it holds or `limit` has passed.
fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ready()
}

/// A throwaway `redis-server` on `port` that keeps nothing on disk.
fn private_redis(port: u16, dir: &Path) -> KillOnDrop {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server on the PATH");
    let server = KillOnDrop(child);
    assert!(
        wait_until(Duration::from_secs(10), || redis_answers(port)),
        "private redis-server on {port} did not start"
    );
    server
}

/// `GET path` on 127.0.0.1:`port` over a fresh connection, anonymously.
fn http_get(port: u16, path: &str) -> std::io::Result<RawResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no complete response head"))?;
    let (status, headers) = RawResponse::parse_head(&raw[..end]).ok_or_else(|| {
        std::io::Error::other(format!("bad status line in {:?}", String::from_utf8_lossy(&raw[..end])))
    })?;
    let response = RawResponse { status, headers, body: raw[end + 4..].to_vec() };
    assert_ne!(response.header("transfer-encoding"), Some("chunked"), "unexpected chunked answer");
    Ok(response)
}

/// The `shelf` binary serving on a port of its own, with its own SQLite
/// file, killed on drop.
struct ShelfProcess {
    port: u16,
    dir: tempfile::TempDir,
    // Last, so the process is killed before its directory goes.
    child: KillOnDrop,
}

impl ShelfProcess {
    fn start(vars: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = File::create(dir.path().join("shelf.log")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_shelf"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("SHELF_DATABASE_URL", format!("sqlite://{}", dir.path().join("shelf.db").display()))
            .env("SHELF_BIND", format!("127.0.0.1:{port}"))
            .env("SHELF_JWT_SECRET", JWT_SECRET)
            .env("SHELF_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut process = Self { port, child: KillOnDrop(command.spawn().unwrap()), dir };
        let up = wait_until(Duration::from_secs(30), || {
            if let Ok(Some(status)) = process.child.0.try_wait() {
                panic!("shelf exited with {status} before answering:\n{}", process.log());
            }
            http_get(port, "/health").is_ok_and(|r| r.status == 200)
        });
        assert!(up, "shelf on port {port} did not answer /health:\n{}", process.log());
        process
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("shelf.log")).unwrap_or_default()
    }
}

#[test]
fn two_server_processes_sharing_redis_together_allow_exactly_the_limit() {
    if !local_redis("two_server_processes_sharing_redis_together_allow_exactly_the_limit") {
        return;
    }
    let prefix = Prefix::new(REDIS_PORT);
    let redis_url = prefix.redis_url();
    let vars = [
        ("SHELF_REDIS_URL", redis_url.as_str()),
        ("SHELF_REDIS_PREFIX", prefix.as_str()),
        ("SHELF_LIMIT_SEARCH_ANONYMOUS", "10/1h"),
    ];
    let servers = [ShelfProcess::start(&vars), ShelfProcess::start(&vars)];
    assert_ne!(servers[0].port, servers[1].port);

    let mut answered = Vec::new();
    for i in 0..16 {
        let server = &servers[i % 2];
        let response = http_get(server.port, "/api/v1/search?q=x")
            .unwrap_or_else(|e| panic!("request {} to port {}: {e}\n{}", i + 1, server.port, server.log()));
        answered.push((response.status, response.header("x-ratelimit-remaining").map(str::to_owned)));
        if i < 10 {
            assert_eq!(response.status, 200, "request {} (port {}): {}", i + 1, server.port, server.log());
            // One bucket for both: what is left counts the other's requests.
            assert_eq!(response.header("x-ratelimit-limit"), Some("10"));
            assert_eq!(response.header("x-ratelimit-remaining"), Some((9 - i).to_string().as_str()), "{answered:?}");
        } else {
            assert_eq!(response.status, 429, "request {} (port {}): {answered:?}", i + 1, server.port);
            let retry_after: u64 = response
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no Retry-After in seconds: {:?}", response.headers));
            // 10 per hour refills one every 360 s.
            assert!((1..=360).contains(&retry_after), "Retry-After {retry_after}");
            assert_eq!(response.header("x-ratelimit-remaining"), Some("0"));
            assert_eq!(response.header("content-type"), Some("application/json"));
            let body = response.json();
            assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
            assert_eq!(body["error"]["status_code"], 429, "{body}");
        }
    }
    let allowed = answered.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(allowed, 10, "{answered:?}");

    // The one bucket both servers used lives in Redis, under the prefix.
    let keys = prefix.keys();
    assert!(keys.contains(&format!("{}search:10/3600s:ip:127.0.0.1", prefix.as_str())), "{keys:?}");

    drop(servers);
    prefix.delete_keys();
    assert_eq!(prefix.keys(), Vec::<String>::new());
}

/// Lines of the captured log that record a security event of `kind`.
fn security_lines(kind: &str) -> usize {
    captured_log().iter().filter(|l| l.starts_with(&format!("security: type={kind} "))).count()
}

/// `GET /api/v1/search?q=x`, anonymously.
async fn search(app: &TestApp) -> TestResponse {
    app.get("/api/v1/search?q=x", None).await
}

#[actix_web::test]
async fn with_redis_stopped_the_server_keeps_answering_and_records_one_outage_event() {
    // The local Redis is not used, but its absence says Redis is not
    // installed here; a private server is started on a port of its own.
    if !local_redis("with_redis_stopped_the_server_keeps_answering_and_records_one_outage_event") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut redis = private_redis(port, dir.path());
    let prefix = Prefix::new(port);
    let redis_url = prefix.redis_url();
    let app = TestApp::spawn_with(&[
        ("SHELF_REDIS_URL", redis_url.as_str()),
        ("SHELF_REDIS_PREFIX", prefix.as_str()),
        ("SHELF_LIMIT_SEARCH_ANONYMOUS", "5/1h"),
    ])
    .await;
    // Before the outage: admin requests count under `authenticated`, which
    // the helpers leave huge.
    let admin = app.admin_token().await;
    let unavailable_lines = security_lines("rate_limit_store_unavailable");

    for remaining in ["4", "3"] {
        let response = search(&app).await;
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        assert_eq!(response.header("x-ratelimit-remaining"), Some(remaining));
    }
    let keys = prefix.keys();
    assert!(keys.contains(&format!("{}search:5/3600s:ip:unknown", prefix.as_str())), "{keys:?}");

    redis.kill();
    assert!(!redis_answers(port));

    // The fallback limits on its own, from a whole quota: 5 more, then 429.
    // The pause crosses the once-a-second retry, which fails again without
    // a second event.
    let mut statuses = Vec::new();
    for i in 0..7 {
        if i == 3 {
            actix_web::rt::time::sleep(Duration::from_millis(1200)).await;
        }
        let response = search(&app).await;
        assert!(!response.status.is_server_error(), "{}", String::from_utf8_lossy(&response.body));
        if response.status == 429 {
            response.assert_error(429, "too_many_requests");
            assert!(response.header("retry-after").is_some());
        }
        statuses.push(response.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
    // Other routes still answer during the outage.
    assert_eq!(app.get("/api/v1/books", Some(&admin)).await.status, 200);

    let events = app.events(&admin, "type=rate_limit_store_unavailable").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["details"]["fallback"], "in-process", "{events:?}");
    // No other test here loses its Redis, so the lines written since this
    // test started are this app's.
    assert_eq!(security_lines("rate_limit_store_unavailable") - unavailable_lines, 1);
    assert!(app.events(&admin, "type=rate_limit_store_recovered").await.is_empty());

    // Redis comes back (empty: it kept nothing); after the retry interval
    // the next decision is taken there again.
    let _redis = private_redis(port, dir.path());
    actix_web::rt::time::sleep(Duration::from_millis(1200)).await;
    let response = search(&app).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.header("x-ratelimit-remaining"), Some("4"), "the decision was not taken in the new Redis");
    let keys = prefix.keys();
    assert!(keys.contains(&format!("{}search:5/3600s:ip:unknown", prefix.as_str())), "{keys:?}");

    let recovered = app.events(&admin, "type=rate_limit_store_recovered").await;
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(app.events(&admin, "type=rate_limit_store_unavailable").await.len(), 1);

    prefix.delete_keys();
    assert_eq!(prefix.keys(), Vec::<String>::new());
}

/// What a client sees of one request: status, `X-RateLimit-Remaining`,
/// `X-RateLimit-Reset`, `Retry-After`.
type Seen = (u16, Option<String>, Option<String>, Option<String>);

/// The quota sequence of the GCRA test on one app.
async fn gcra_sequence(app: &TestApp) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut observe = |response: &TestResponse| {
        let header = |name: &str| response.header(name).map(str::to_owned);
        assert_eq!(response.header("x-ratelimit-limit"), Some("3"));
        assert_eq!(response.header("ratelimit-policy"), Some("\"search-3s\";q=3;w=3"));
        if response.status == 429 {
            response.assert_error(429, "too_many_requests");
        }
        seen.push((
            response.status.as_u16(),
            header("x-ratelimit-remaining"),
            header("x-ratelimit-reset"),
            header("retry-after"),
        ));
    };
    for _ in 0..4 {
        observe(&search(app).await);
    }
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..2 {
        observe(&search(app).await);
    }
    seen
}

#[actix_web::test]
async fn redis_and_in_process_stores_agree_on_the_gcra_arithmetic() {
    if !local_redis("redis_and_in_process_stores_agree_on_the_gcra_arithmetic") {
        return;
    }
    let prefix = Prefix::new(REDIS_PORT);
    let redis_url = prefix.redis_url();
    let quota = ("SHELF_LIMIT_SEARCH_ANONYMOUS", "3/3s");
    let in_redis =
        TestApp::spawn_with(&[("SHELF_REDIS_URL", redis_url.as_str()), ("SHELF_REDIS_PREFIX", prefix.as_str()), quota])
            .await;
    let in_process = TestApp::spawn_with(&[quota]).await;

    // 3 per 3 s: a burst of 3, then one more each second. After the burst
    // the next one conforms in 1 s; 1.1 s later exactly one more does.
    let some = |s: &str| Some(s.to_owned());
    let expected: Vec<Seen> = vec![
        (200, some("2"), some("1"), None),
        (200, some("1"), some("2"), None),
        (200, some("0"), some("3"), None),
        (429, some("0"), some("1"), some("1")),
        (200, some("0"), some("3"), None),
        (429, some("0"), some("1"), some("1")),
    ];
    let redis_seen = gcra_sequence(&in_redis).await;
    assert!(!prefix.keys().is_empty(), "nothing was kept in Redis");
    let process_seen = gcra_sequence(&in_process).await;
    assert_eq!(redis_seen, expected, "Redis store");
    assert_eq!(process_seen, expected, "in-process store");

    prefix.delete_keys();
    assert_eq!(prefix.keys(), Vec::<String>::new());
}

/// How many instances listen for credential changes under `prefix`.
fn listeners(prefix: &Prefix) -> usize {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &prefix.port.to_string(), "PUBSUB", "NUMSUB"])
        .arg(format!("{}credential-changes", prefix.as_str()))
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

#[actix_web::test]
async fn a_password_change_or_a_revocation_on_one_instance_holds_on_another_at_once() {
    if !local_redis("a_password_change_or_a_revocation_on_one_instance_holds_on_another_at_once") {
        return;
    }
    let prefix = Prefix::new(REDIS_PORT);
    let url = prefix.redis_url();
    let shared = [("SHELF_REDIS_URL", url.as_str()), ("SHELF_REDIS_PREFIX", prefix.as_str())];
    let app = TestApp::spawn_with(&shared).await;
    let (_, other) = app.sibling(&shared).await;
    assert!(wait_until(Duration::from_secs(5), || listeners(&prefix) >= 2), "both instances listen");

    // Refused on the other instance well inside the 10 s its cache would
    // otherwise keep the old answer.
    let refused_soon = |token: String| {
        let other = other.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                let me = actix_web::test::TestRequest::get()
                    .uri("/api/v1/me")
                    .insert_header(("Authorization", format!("Bearer {token}")))
                    .to_request();
                if other(me).await.status == 401 {
                    return true;
                }
                if Instant::now() > deadline {
                    return false;
                }
                actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let me_on_other = |token: &str| {
        other(
            actix_web::test::TestRequest::get()
                .uri("/api/v1/me")
                .insert_header(("Authorization", format!("Bearer {token}")))
                .to_request(),
        )
    };

    let token = app.user_token("reader").await;
    assert_eq!(me_on_other(&token).await.status, 200, "the other instance now has it cached");
    let body = serde_json::json!({"current_password": crate::helpers::USER_PASSWORD, "new_password": "a wholly new passphrase"});
    assert_eq!(app.post("/api/v1/me/password", Some(&token), body).await.status, 204);
    assert!(refused_soon(token).await, "the old token still works on the other instance");

    let pair = app.token_pair("reader", "a wholly new passphrase").await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me_on_other(&access).await.status, 200);
    assert_eq!(app.post("/api/token/revoke", Some(&access), serde_json::json!({})).await.status, 204);
    assert!(refused_soon(access).await, "the revoked session still works on the other instance");
}

#[actix_web::test]
async fn the_lockout_holds_for_concurrent_attempts_spread_over_instances_sharing_redis() {
    if !local_redis("the_lockout_holds_for_concurrent_attempts_spread_over_instances_sharing_redis") {
        return;
    }
    let prefix = Prefix::new(REDIS_PORT);
    let url = prefix.redis_url();
    let shared = [
        ("SHELF_REDIS_URL", url.as_str()),
        ("SHELF_REDIS_PREFIX", prefix.as_str()),
        ("SHELF_TRUSTED_PROXIES", "127.0.0.1"),
        // Every attempt gets a hashing thread, so all reach the counts.
        ("SHELF_PASSWORD_THREADS", "16"),
    ];
    let app = TestApp::spawn_with(&shared).await;
    let (other, other_settings) = app.sibling_state(&shared);
    let ports = [crate::helpers::serve(&app).await, crate::helpers::serve_state(other, other_settings).await];
    // Fifteen wrong passwords for one username from fifteen clients, at
    // once, spread over both instances.
    let responses = futures_util::future::join_all(ports.iter().enumerate().map(|(i, port)| {
        let attempts = (0..15)
            .filter(|n| n % 2 == i)
            .map(|n| {
                crate::helpers::raw_post(
                    "/api/token",
                    &format!("X-Forwarded-For: 198.51.100.{n}\r\n"),
                    &serde_json::json!({"username": "admin", "password": format!("wrong {n}!")}),
                )
            })
            .collect();
        crate::helpers::at_once(*port, attempts)
    }))
    .await
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();
    assert_eq!(crate::helpers::status_counts(&responses), [(401, 5), (429, 10)]);
    assert!(prefix.keys().iter().any(|k| k.contains("login_failures")), "{:?}", prefix.keys());
}
