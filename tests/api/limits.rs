//! Rate limits with the in-process store: the contract's table, its keys,
//! its headers, and the ways a client might try to get around them. Short
//! periods stand in for hours and days; the arithmetic is GCRA's (a quota
//! of N per P refills one request every P/N and allows a burst of N).

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::test::TestRequest;
use serde_json::json;
use shelf::auth::Role;

use crate::helpers::{TestApp, TestResponse, USER_PASSWORD, assert_wait, header, timed, token_of};

fn peer(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 40000)
}

async fn get_from(app: &TestApp, path: &str, ip: &str, token: Option<&str>) -> TestResponse {
    let mut request = TestRequest::get().uri(path).peer_addr(peer(ip));
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    app.send(request).await
}

#[actix_web::test]
async fn a_burst_of_anonymous_requests_is_refused_at_the_51st() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "50/1h,200/1d")]).await;
    let (first, first_span) = timed(get_from(&app, "/api/v1/openapi.json", "198.51.100.1", None)).await;
    assert_eq!(first.status, 200);
    assert_eq!(header(&first, "x-ratelimit-limit"), "50");
    assert_eq!(header(&first, "x-ratelimit-remaining"), "49");
    // Whole again 72 s (one refill) after one request.
    assert_eq!(header(&first, "x-ratelimit-reset"), "72");
    assert_eq!(header(&first, "ratelimit-policy"), r#""anonymous-1h";q=50;w=3600, "anonymous-1d";q=200;w=86400"#);
    assert_eq!(header(&first, "ratelimit"), r#""anonymous-1h";r=49;t=72, "anonymous-1d";r=199;t=432"#);
    for n in 2..=50 {
        let response = get_from(&app, "/api/v1/openapi.json", "198.51.100.1", None).await;
        assert_eq!(response.status, 200, "request {n}");
    }
    let (refused, refused_span) = timed(get_from(&app, "/api/v1/openapi.json", "198.51.100.1", None)).await;
    let error = refused.assert_error(429, "too_many_requests");
    assert!(error["message"].as_str().unwrap().contains("anonymous-1h"), "{error}");
    // After 50 at once, the next conforms one refill (3600 s / 50) after the first.
    assert_wait(&refused, Duration::from_secs(72), first_span, refused_span);
    assert_eq!(header(&refused, "x-ratelimit-remaining"), "0");
    assert_eq!(header(&refused, "x-ratelimit-reset"), header(&refused, "retry-after"));
    // The refusal cost nothing: the daily quota still has 150.
    assert!(header(&refused, "ratelimit").contains(r#""anonymous-1d";r=150"#), "{}", header(&refused, "ratelimit"));
    // Another client is not affected.
    assert_eq!(get_from(&app, "/api/v1/openapi.json", "198.51.100.2", None).await.status, 200);
}

#[actix_web::test]
async fn the_longer_quota_refuses_a_sustained_rate_the_shorter_one_allows() {
    // "2 per 2 s" refills every 1 s; "3 per 12 s" refills every 4 s with a
    // burst of 3: a steady request a second passes the first, not the second.
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "2/2s,3/12s")]).await;
    let call = || get_from(&app, "/api/v1/openapi.json", "198.51.100.3", None);
    let (first, first_span) = timed(call()).await;
    assert_eq!(header(&first, "ratelimit"), r#""anonymous-2s";r=1;t=1, "anonymous-12s";r=2;t=4"#);
    assert_eq!(call().await.status, 200);
    // The short quota is spent for now, and that refusal costs nothing.
    let refused = call().await;
    refused.assert_error(429, "too_many_requests");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("anonymous-2s"));
    assert_eq!(header(&refused, "retry-after"), "1");

    std::thread::sleep(Duration::from_millis(1200));
    let third = call().await;
    assert_eq!(third.status, 200, "the short quota has refilled one");
    // The long quota: 3 taken of a burst of 3.
    assert!(header(&third, "ratelimit").contains(r#""anonymous-12s";r=0"#), "{}", header(&third, "ratelimit"));

    std::thread::sleep(Duration::from_millis(1200));
    let (refused, refused_span) = timed(call()).await;
    let error = refused.assert_error(429, "too_many_requests");
    assert!(error["message"].as_str().unwrap().contains("anonymous-12s"), "{error}");
    // The long quota's TAT is 12 s after the first request; it conforms
    // again at TAT - 8 s, i.e. 4 s after the first request (~1.6 s from now).
    assert_wait(&refused, Duration::from_secs(4), first_span, refused_span);
}

#[actix_web::test]
async fn a_signed_in_user_is_counted_by_user_id_from_any_address() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_AUTHENTICATED", "3/1h"), ("SHELF_LIMIT_ANONYMOUS", "3/1h")]).await;
    let reader = app.user_token("reader").await;
    let other = app.user_token("other").await;
    for ip in ["198.51.100.10", "198.51.100.11", "198.51.100.12"] {
        assert_eq!(get_from(&app, "/api/v1/me", ip, Some(&reader)).await.status, 200);
    }
    let refused = get_from(&app, "/api/v1/me", "198.51.100.13", Some(&reader)).await;
    let error = refused.assert_error(429, "too_many_requests");
    assert!(error["message"].as_str().unwrap().contains("authenticated-1h"), "{error}");
    // Another user, and anonymous callers from the same addresses, are not affected.
    assert_eq!(get_from(&app, "/api/v1/me", "198.51.100.13", Some(&other)).await.status, 200);
    assert_eq!(get_from(&app, "/api/v1/openapi.json", "198.51.100.10", None).await.status, 200);
}

#[actix_web::test]
async fn change_status_refuses_the_31st_call_in_a_minute_and_other_routes_still_work() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_STATUS_CHANGE", "30/1m")]).await;
    let book = app.book("Dune", "Frank Herbert").await;
    let token = app.user_token("reader").await;
    let change = |status: &'static str| {
        app.post("/api/v1/change_status", Some(&token), json!({"book_id": book, "status": status}))
    };
    let (first, first_span) = timed(change("want_to_read")).await;
    assert_eq!(first.status, 200);
    for n in 2..=30 {
        let response = change(if n % 2 == 0 { "read" } else { "reading" }).await;
        assert_eq!(response.status, 200, "call {n}");
    }
    let (refused, refused_span) = timed(change("abandoned")).await;
    let error = refused.assert_error(429, "too_many_requests");
    assert!(error["message"].as_str().unwrap().contains("status_change-1m"), "{error}");
    // One refill (60 s / 30) after the first call.
    assert_wait(&refused, Duration::from_secs(2), first_span, refused_span);
    // Both of the user's limits are announced.
    assert_eq!(
        header(&refused, "ratelimit-policy"),
        r#""authenticated-1h";q=1000000;w=3600, "status_change-1m";q=30;w=60"#
    );
    // The refused change did not happen, and the user's other routes work.
    let library = app.get("/api/v1/library", Some(&token)).await;
    assert_eq!(library.status, 200);
    assert_eq!(library.json()["books"][0]["status"], "read", "the 30th call set it; the refused 31st did not");
    assert_eq!(app.get("/api/v1/tags", Some(&token)).await.status, 200);
}

#[actix_web::test]
async fn anonymous_search_has_its_own_larger_limit_instead_of_the_default() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "5/1h"), ("SHELF_LIMIT_SEARCH_ANONYMOUS", "8/1h")]).await;
    for n in 1..=8 {
        let response = get_from(&app, "/api/v1/search?q=dune", "198.51.100.20", None).await;
        assert_eq!(response.status, 200, "search {n}");
        assert_eq!(header(&response, "x-ratelimit-limit"), "8");
    }
    let refused = get_from(&app, "/api/v1/search?q=dune", "198.51.100.20", None).await;
    let error = refused.assert_error(429, "too_many_requests");
    assert!(error["message"].as_str().unwrap().contains("search-1h"), "{error}");
    // Searching did not use the default quota.
    let other = get_from(&app, "/api/v1/openapi.json", "198.51.100.20", None).await;
    assert_eq!(header(&other, "x-ratelimit-remaining"), "4");
}

#[actix_web::test]
async fn signed_in_search_is_not_held_to_the_anonymous_search_limit() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_SEARCH_ANONYMOUS", "2/1h")]).await;
    let token = app.user_token("reader").await;
    for n in 1..=6 {
        let response = get_from(&app, "/api/v1/search?q=dune", "198.51.100.21", Some(&token)).await;
        assert_eq!(response.status, 200, "search {n}");
        assert!(!header(&response, "ratelimit-policy").contains("search"));
    }
}

#[actix_web::test]
async fn rotating_forwarded_for_from_an_untrusted_peer_gains_nothing() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "2/1h")]).await;
    let statuses: Vec<u16> = futures_util::future::join_all((0..4).map(|n| {
        let request = TestRequest::get()
            .uri("/api/v1/openapi.json")
            .peer_addr(peer("203.0.113.5"))
            .insert_header(("X-Forwarded-For", format!("192.0.2.{n}")))
            .insert_header(("Forwarded", format!("for=192.0.2.{}", n + 100)));
        app.send(request)
    }))
    .await
    .into_iter()
    .map(|r| r.status.as_u16())
    .collect();
    assert_eq!(statuses, [200, 200, 429, 429]);
}

#[actix_web::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_client() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "2/1h"), ("SHELF_TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    let through_proxy = |client: &str| {
        // The client's own header value comes first; the proxy appends what it saw.
        let request = TestRequest::get()
            .uri("/api/v1/openapi.json")
            .peer_addr(peer("10.0.0.7"))
            .insert_header(("X-Forwarded-For", format!("6.6.6.6, {client}")));
        app.send(request)
    };
    for client in ["198.51.100.30", "198.51.100.31", "198.51.100.32"] {
        assert_eq!(through_proxy(client).await.status, 200, "{client} has its own count");
    }
    assert_eq!(through_proxy("198.51.100.30").await.status, 200);
    through_proxy("198.51.100.30").await.assert_error(429, "too_many_requests");
}

#[actix_web::test]
async fn ipv6_clients_are_counted_by_their_64_bit_prefix() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "2/1h")]).await;
    assert_eq!(get_from(&app, "/api/v1/openapi.json", "2001:db8:1:2::1", None).await.status, 200);
    assert_eq!(get_from(&app, "/api/v1/openapi.json", "2001:db8:1:2:aaaa::9", None).await.status, 200);
    get_from(&app, "/api/v1/openapi.json", "2001:db8:1:2:ffff:ffff:ffff:ffff", None)
        .await
        .assert_error(429, "too_many_requests");
    // The next /64 is another client.
    assert_eq!(get_from(&app, "/api/v1/openapi.json", "2001:db8:1:3::1", None).await.status, 200);
}

#[actix_web::test]
async fn a_client_succeeds_again_once_retry_after_has_passed() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "1/1s")]).await;
    assert_eq!(get_from(&app, "/api/v1/openapi.json", "198.51.100.40", None).await.status, 200);
    let refused = get_from(&app, "/api/v1/openapi.json", "198.51.100.40", None).await;
    refused.assert_error(429, "too_many_requests");
    let wait: u64 = header(&refused, "retry-after").parse().unwrap();
    assert_eq!(wait, 1);
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(get_from(&app, "/api/v1/openapi.json", "198.51.100.40", None).await.status, 200);
}

#[actix_web::test]
async fn a_304_costs_no_request() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_SEARCH_ANONYMOUS", "2/1h")]).await;
    app.book("Dune", "Frank Herbert").await;
    let first = get_from(&app, "/api/v1/search?q=dune", "198.51.100.50", None).await;
    assert_eq!(header(&first, "x-ratelimit-remaining"), "1");
    let etag = header(&first, "etag");
    for _ in 0..5 {
        let request = TestRequest::get()
            .uri("/api/v1/search?q=dune")
            .peer_addr(peer("198.51.100.50"))
            .insert_header(("If-None-Match", etag.clone()));
        let response = app.send(request).await;
        assert_eq!(response.status, 304);
        assert_eq!(header(&response, "x-ratelimit-remaining"), "1");
    }
    let second = get_from(&app, "/api/v1/search?q=dune&page=1", "198.51.100.50", None).await;
    assert_eq!(second.status, 200);
    assert_eq!(header(&second, "x-ratelimit-remaining"), "0");
}

#[actix_web::test]
async fn failed_credentials_are_counted_as_anonymous_by_client_ip() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "2/1h")]).await;
    for _ in 0..2 {
        get_from(&app, "/api/v1/me", "198.51.100.60", Some("forged.token.value"))
            .await
            .assert_error(401, "invalid_token");
    }
    // A fresh forged token (a fresh "user") buys nothing.
    get_from(&app, "/api/v1/me", "198.51.100.60", Some("another.forged.token"))
        .await
        .assert_error(429, "too_many_requests");
    get_from(&app, "/api/v1/openapi.json", "198.51.100.60", None).await.assert_error(429, "too_many_requests");
}

#[actix_web::test]
async fn sign_in_routes_have_their_own_per_client_limit() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_LOGIN_IP", "3/1m")]).await;
    app.create_user("reader", Role::User).await;
    let login = |route: &'static str| {
        app.send(
            TestRequest::post()
                .uri(route)
                .peer_addr(peer("198.51.100.70"))
                .set_json(json!({"username": "reader", "password": USER_PASSWORD})),
        )
    };
    let (first, first_span) = timed(login("/api/token")).await;
    token_of(&first);
    assert_eq!(login("/api/session").await.status, 200);
    token_of(&login("/api/token").await);
    let (refused, refused_span) = timed(login("/api/token")).await;
    let error = refused.assert_error(429, "too_many_requests");
    assert!(error["message"].as_str().unwrap().contains("login-1m"), "{error}");
    // One refill (60 s / 3) after the first sign-in.
    assert_wait(&refused, Duration::from_secs(20), first_span, refused_span);
}

#[actix_web::test]
async fn health_checks_are_never_limited() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "1/1h")]).await;
    for _ in 0..5 {
        for path in ["/health", "/ready"] {
            let response = get_from(&app, path, "198.51.100.80", None).await;
            assert_eq!(response.status, 200);
            assert!(response.header("x-ratelimit-limit").is_none());
        }
    }
}

#[actix_web::test]
async fn limits_can_be_switched_off_for_a_gateway_that_limits_instead() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "1/1h"), ("SHELF_RATE_LIMITS", "false")]).await;
    for _ in 0..3 {
        let response = get_from(&app, "/api/v1/openapi.json", "198.51.100.90", None).await;
        assert_eq!(response.status, 200);
        assert!(response.header("ratelimit-policy").is_none());
    }
}

/// Spellings of one path that the router decodes to the same route.
const STATUS_SPELLINGS: [&str; 5] = [
    "/api/v1/change_status",
    "/api/v1/change%5Fstatus",
    "/api/v1/change%5fstatus",
    "/api/v1/%63hange_status",
    "/api/%76%31/change%5Fstatu%73",
];

#[actix_web::test]
async fn the_status_limit_holds_for_every_spelling_of_the_path() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_STATUS_CHANGE", "2/1m")]).await;
    let book = app.book("Dune", "Frank Herbert").await;
    let token = app.user_token("reader").await;
    let change = |path: &'static str| app.post(path, Some(&token), json!({"book_id": book, "status": "reading"}));
    // Each spelling reaches the handler: the first two calls succeed.
    assert_eq!(change(STATUS_SPELLINGS[1]).await.status, 200);
    assert_eq!(change(STATUS_SPELLINGS[4]).await.status, 200);
    for path in STATUS_SPELLINGS {
        let refused = change(path).await;
        let error = refused.assert_error(429, "too_many_requests");
        assert!(error["message"].as_str().unwrap().contains("status_change-1m"), "{path}: {error}");
    }
}

#[actix_web::test]
async fn the_sign_in_limit_holds_for_every_spelling_of_the_path() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_LOGIN_IP", "2/1m")]).await;
    app.create_user("reader", Role::User).await;
    let login = |path: &'static str| {
        app.send(
            TestRequest::post()
                .uri(path)
                .peer_addr(peer("198.51.100.71"))
                .set_json(json!({"username": "reader", "password": USER_PASSWORD})),
        )
    };
    assert_eq!(login("/api/%74oken").await.status, 200);
    assert_eq!(login("/api/sessio%6E").await.status, 200);
    for path in ["/api/token", "/api/%74oken", "/api/session", "/%61pi/session"] {
        let error = login(path).await.assert_error(429, "too_many_requests");
        assert!(error["message"].as_str().unwrap().contains("login-1m"), "{path}: {error}");
    }
}

#[actix_web::test]
async fn another_spelling_of_search_is_still_held_to_the_search_limit() {
    let app =
        TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "50/1h"), ("SHELF_LIMIT_SEARCH_ANONYMOUS", "2/1h")]).await;
    assert_eq!(get_from(&app, "/api/v1/%73earch?q=dune", "198.51.100.21", None).await.status, 200);
    assert_eq!(get_from(&app, "/api/v1/searc%68?q=dune", "198.51.100.21", None).await.status, 200);
    let error =
        get_from(&app, "/api/v1/search?q=dune", "198.51.100.21", None).await.assert_error(429, "too_many_requests");
    assert!(error["message"].as_str().unwrap().contains("search-1h"), "{error}");
    // The anonymous quota was not used by any of them.
    let other = get_from(&app, "/api/v1/openapi.json", "198.51.100.21", None).await;
    assert_eq!(header(&other, "x-ratelimit-remaining"), "49");
}

#[actix_web::test]
async fn health_checks_stay_exempt_and_nothing_else_is_by_another_spelling() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "1/1h")]).await;
    for _ in 0..3 {
        assert_eq!(get_from(&app, "/h%65alth", "198.51.100.81", None).await.status, 200);
    }
    assert_eq!(get_from(&app, "/api/v1/openapi.json", "198.51.100.81", None).await.status, 200);
    get_from(&app, "/api/v1/open%61pi.json", "198.51.100.81", None).await.assert_error(429, "too_many_requests");
}

#[actix_web::test]
async fn if_none_match_star_gets_a_304_that_still_costs_a_request() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_SEARCH_ANONYMOUS", "3/1h")]).await;
    app.book("Dune", "Frank Herbert").await;
    let with = |value: &'static str| {
        app.send(
            TestRequest::get()
                .uri("/api/v1/search?q=dune")
                .peer_addr(peer("198.51.100.51"))
                .insert_header(("If-None-Match", value)),
        )
    };
    for (n, value) in ["*", r#"W/"0000000000000000", *"#, r#""stale-tag""#].into_iter().enumerate() {
        let response = with(value).await;
        assert!(matches!(response.status.as_u16(), 200 | 304), "{value}: {}", response.status);
        assert_eq!(header(&response, "x-ratelimit-remaining"), (2 - n).to_string(), "{value} was not free");
    }
    with("*").await.assert_error(429, "too_many_requests");
}
