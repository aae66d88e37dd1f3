//! `GET /metrics`: served on the metrics listener only, and counting
//! exactly the traffic each test sends. Every app keeps its own recorder,
//! so tests running side by side never see each other's counts.

use shelf::auth::Role;

use crate::helpers::{
    ADMIN_PASSWORD, TestApp, USER_PASSWORD, request, request_with, serve, serve_with_metrics, token_of, with_api_key,
};
use actix_web::test::TestRequest;

const METRICS_ON: (&str, &str) = ("SHELF_METRICS_BIND", "127.0.0.1:0");

/// The scraped text, from the metrics listener over a real socket.
async fn scrape(metrics_port: u16) -> String {
    let response = request(metrics_port, "GET", "/metrics", None, None).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    String::from_utf8(response.body).unwrap()
}

/// The value of the series `name` whose labels are exactly `labels` (in
/// any order); `None` when there is no such series.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, mut found) = match series.split_once('{') {
            Some((n, rest)) => {
                (n, rest.strip_suffix('}')?.split("\",").map(|l| format!("{}\"", l.trim_end_matches('"'))).collect())
            }
            None => (series, Vec::new()),
        };
        found.sort();
        (series_name == name && found == wanted).then(|| value.parse().ok()).flatten()
    })
}

#[track_caller]
fn assert_sample(text: &str, name: &str, labels: &[(&str, &str)], expected: f64) {
    assert_eq!(sample(text, name, labels), Some(expected), "{name}{labels:?} in:\n{text}");
}

#[actix_web::test]
async fn metrics_are_served_on_their_own_listener_and_never_on_the_api_port() {
    let app = TestApp::spawn_with(&[METRICS_ON]).await;
    let (api_port, metrics_port) = serve_with_metrics(&app).await;

    let on_api = request(api_port, "GET", "/metrics", None, None).await;
    assert_eq!(on_api.status, 404);
    assert_eq!(on_api.json()["error"]["code"], "not_found");

    let text = scrape(metrics_port).await;
    assert!(text.contains("# TYPE shelf_http_requests_total counter"), "{text}");
    assert!(text.contains("# TYPE shelf_http_request_duration_seconds histogram"), "{text}");

    // The metrics listener serves nothing else, in the same envelope.
    let api_on_metrics = request(metrics_port, "GET", "/api/v1/books", None, None).await;
    assert_eq!(api_on_metrics.status, 404);
    assert_eq!(api_on_metrics.json()["error"]["code"], "not_found");
}

#[actix_web::test]
async fn without_a_metrics_listener_there_is_no_metrics_route_anywhere() {
    let app = TestApp::spawn().await;
    assert!(!app.state.telemetry.enabled());
    app.get("/metrics", None).await.assert_error(404, "not_found");
    let port = serve(&app).await;
    let response = request(port, "GET", "/metrics", None, None).await;
    assert_eq!(response.status, 404);
    assert_eq!(response.json()["error"]["code"], "not_found");
}

#[actix_web::test]
async fn requests_are_counted_by_route_pattern_never_by_raw_path() {
    let app = TestApp::spawn_with(&[METRICS_ON]).await;
    let (api_port, metrics_port) = serve_with_metrics(&app).await;
    let token = app.admin_token().await;
    let ids =
        [app.book("Emma", "Austen").await, app.book("Persuasion", "Austen").await, app.book("Ulysses", "Joyce").await];

    for id in ids {
        assert_eq!(app.get(&format!("/api/v1/books/{id}"), Some(&token)).await.status, 200);
    }
    app.get("/api/v1/books/999999", Some(&token)).await.assert_error(404, "not_found");
    // Two paths no route matches, one over the real socket.
    app.get("/nowhere/1", None).await.assert_error(404, "not_found");
    assert_eq!(request(api_port, "GET", "/nowhere/2", None, None).await.status, 404);
    // A method nobody uses is one label, whatever its name.
    let invented = TestRequest::default().method("BREW".parse().unwrap()).uri("/api/v1/search");
    assert_eq!(app.send(invented).await.status, 405);

    let text = scrape(metrics_port).await;
    let series = |method, route, status| [("route", route), ("method", method), ("status", status)];
    assert_sample(&text, "shelf_http_requests_total", &series("GET", "/api/v1/books/{id}", "200"), 3.0);
    assert_sample(&text, "shelf_http_requests_total", &series("GET", "/api/v1/books/{id}", "404"), 1.0);
    assert_sample(&text, "shelf_http_requests_total", &series("GET", "unmatched", "404"), 2.0);
    assert_sample(&text, "shelf_http_requests_total", &series("other", "/api/v1/search", "405"), 1.0);
    assert_sample(&text, "shelf_http_requests_total", &series("POST", "/api/token", "200"), 1.0);
    assert_sample(&text, "shelf_http_request_duration_seconds_count", &series("GET", "/api/v1/books/{id}", "200"), 3.0);
    assert_sample(
        &text,
        "shelf_http_request_duration_seconds_bucket",
        &[("route", "/api/v1/books/{id}"), ("method", "GET"), ("status", "200"), ("le", "+Inf")],
        3.0,
    );
    for id in ids {
        assert!(!text.contains(&format!("/api/v1/books/{id}\"")), "a raw path became a label:\n{text}");
    }
    assert!(!text.contains("/nowhere") && !text.contains("BREW"), "{text}");
    // The scrapes themselves are not API traffic.
    assert!(!text.contains("route=\"/metrics\""), "{text}");
}

#[actix_web::test]
async fn a_refused_request_counts_under_the_policy_that_refused_it() {
    let app = TestApp::spawn_with(&[METRICS_ON, ("SHELF_LIMIT_SEARCH_ANONYMOUS", "2/1h")]).await;
    let (_, metrics_port) = serve_with_metrics(&app).await;
    for _ in 0..2 {
        assert_eq!(app.get("/api/v1/search?q=austen", None).await.status, 200);
    }
    app.get("/api/v1/search?q=austen", None).await.assert_error(429, "too_many_requests");

    let text = scrape(metrics_port).await;
    let decisions = "shelf_rate_limit_decisions_total";
    assert_sample(&text, decisions, &[("policy", "search-1h"), ("outcome", "allowed")], 2.0);
    assert_sample(&text, decisions, &[("policy", "search-1h"), ("outcome", "refused")], 1.0);
    let refused = [("route", "/api/v1/search"), ("method", "GET"), ("status", "429")];
    assert_sample(&text, "shelf_http_requests_total", &refused, 1.0);
    assert_sample(&text, "shelf_security_events_total", &[("type", "rate_limited")], 1.0);
}

#[actix_web::test]
async fn sign_ins_are_counted_by_outcome_with_failures_and_lockouts() {
    let app = TestApp::spawn_with(&[METRICS_ON, ("SHELF_LIMIT_LOGIN_FAILURES", "2/15m")]).await;
    let (_, metrics_port) = serve_with_metrics(&app).await;
    app.create_user("reader", Role::User).await;

    token_of(&app.login("admin", ADMIN_PASSWORD).await);
    app.login("reader", "not-the-password-1").await.assert_error(401, "invalid_credentials");
    app.login("reader", "not-the-password-2").await.assert_error(401, "invalid_credentials");
    // The username's count is used up: refused before any check.
    app.login("reader", USER_PASSWORD).await.assert_error(429, "too_many_requests");
    app.cookie_session("admin", ADMIN_PASSWORD).await;

    let text = scrape(metrics_port).await;
    let sign_ins = "shelf_sign_ins_total";
    assert_sample(&text, sign_ins, &[("via", "token"), ("outcome", "succeeded")], 1.0);
    assert_sample(&text, sign_ins, &[("via", "token"), ("outcome", "failed")], 2.0);
    assert_sample(&text, sign_ins, &[("via", "token"), ("outcome", "locked")], 1.0);
    assert_sample(&text, sign_ins, &[("via", "token"), ("outcome", "unavailable")], 0.0);
    assert_sample(&text, sign_ins, &[("via", "session"), ("outcome", "succeeded")], 1.0);
    assert_sample(&text, sign_ins, &[("via", "session"), ("outcome", "failed")], 0.0);
    assert_sample(&text, "shelf_security_events_total", &[("type", "login_failed")], 2.0);
    assert_sample(&text, "shelf_security_events_total", &[("type", "login_locked")], 1.0);
    assert_sample(&text, "shelf_security_events_total", &[("type", "login_succeeded")], 2.0);
}

#[actix_web::test]
async fn api_key_uses_are_counted_accepted_and_rejected() {
    let app = TestApp::spawn_with(&[METRICS_ON]).await;
    let (_, metrics_port) = serve_with_metrics(&app).await;
    let token = app.admin_token().await;
    let key = app.api_key(&token, &["books:read"]).await;

    for _ in 0..2 {
        assert_eq!(app.send(with_api_key(TestRequest::get().uri("/api/v1/books"), &key)).await.status, 200);
    }
    let (public, _) = key.rsplit_once('_').unwrap();
    let wrong = format!("{public}_{}", "x".repeat(43));
    let refused = app.send(with_api_key(TestRequest::get().uri("/api/v1/books"), &wrong)).await;
    refused.assert_error(401, "invalid_api_key");

    let text = scrape(metrics_port).await;
    assert_sample(&text, "shelf_api_key_authentications_total", &[("outcome", "accepted")], 2.0);
    assert_sample(&text, "shelf_api_key_authentications_total", &[("outcome", "rejected")], 1.0);
    assert_sample(&text, "shelf_security_events_total", &[("type", "api_key_created")], 1.0);
    assert_sample(&text, "shelf_security_events_total", &[("type", "api_key_rejected")], 1.0);
}

#[actix_web::test]
async fn the_database_pool_is_measured() {
    let app = TestApp::spawn_with(&[METRICS_ON, ("SHELF_DATABASE_POOL_SIZE", "3")]).await;
    let (_, metrics_port) = serve_with_metrics(&app).await;
    let token = app.admin_token().await;
    assert_eq!(app.get("/api/v1/books", Some(&token)).await.status, 200);

    let text = scrape(metrics_port).await;
    assert_sample(&text, "shelf_db_pool_max_connections", &[], 3.0);
    let open = sample(&text, "shelf_db_pool_connections", &[]).unwrap();
    let in_use = sample(&text, "shelf_db_pool_connections_in_use", &[]).unwrap();
    assert!((1.0..=3.0).contains(&open) && in_use <= open, "open {open}, in use {in_use}:\n{text}");
    // The sign-in and the page each checked a connection out, at least.
    let waits = sample(&text, "shelf_db_pool_wait_seconds_count", &[]).unwrap();
    assert!(waits >= 2.0, "{waits} checkouts:\n{text}");
    assert_sample(&text, "shelf_db_pool_timeouts_total", &[], 0.0);
}

#[actix_web::test]
async fn decisions_made_without_redis_are_counted_as_fallbacks() {
    // Nothing listens on port 1: every decision falls back to the process.
    let prefix = format!("shelf:test:{}:", uuid::Uuid::new_v4().simple());
    let app =
        TestApp::spawn_with(&[METRICS_ON, ("SHELF_REDIS_URL", "redis://127.0.0.1:1"), ("SHELF_REDIS_PREFIX", &prefix)])
            .await;
    let (api_port, metrics_port) = serve_with_metrics(&app).await;
    for _ in 0..3 {
        let response = request_with(api_port, "GET", "/api/v1/search?q=austen", "", None).await;
        assert_eq!(response.status, 200);
    }

    let text = scrape(metrics_port).await;
    assert_sample(&text, "shelf_rate_limit_store_fallbacks_total", &[], 3.0);
    assert_sample(&text, "shelf_security_events_total", &[("type", "rate_limit_store_unavailable")], 1.0);
    // The decisions themselves were made, in process.
    let allowed = [("policy", "search-1h"), ("outcome", "allowed")];
    assert_sample(&text, "shelf_rate_limit_decisions_total", &allowed, 3.0);
    assert_sample(&text, "shelf_security_events_dropped_total", &[], 0.0);
}
