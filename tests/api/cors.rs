//! Cross-origin access: only the configured origins, with credentials but
//! never `*`, the contract's request and exposed headers, and preflights
//! that are never rate limited.

use actix_web::test::TestRequest;

use crate::helpers::{TestApp, TestResponse, header};

const APP: &str = "https://app.example.com";

async fn preflight(app: &TestApp, origin: &str, headers: &str) -> TestResponse {
    let request = TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/api/v1/add_tag")
        .insert_header(("Origin", origin))
        .insert_header(("Access-Control-Request-Method", "POST"))
        .insert_header(("Access-Control-Request-Headers", headers));
    app.send(request).await
}

#[actix_web::test]
async fn a_configured_origin_gets_a_preflight_that_is_never_limited() {
    let app = TestApp::spawn_with(&[("SHELF_CORS_ORIGINS", APP), ("SHELF_LIMIT_ANONYMOUS", "1/1h")]).await;
    for _ in 0..5 {
        let response = preflight(&app, APP, "authorization, content-type, x-csrf-token, x-api-key").await;
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        assert_eq!(header(&response, "access-control-allow-origin"), APP);
        assert_eq!(header(&response, "access-control-allow-credentials"), "true");
        assert_eq!(header(&response, "access-control-max-age"), "3600");
        let allowed = header(&response, "access-control-allow-headers").to_lowercase();
        for name in ["authorization", "content-type", "x-api-key", "x-csrf-token"] {
            assert!(allowed.contains(name), "{name} in {allowed}");
        }
        assert!(response.header("x-ratelimit-limit").is_none());
    }
}

#[actix_web::test]
async fn answers_to_a_configured_origin_expose_the_contract_headers() {
    let app = TestApp::spawn_with(&[("SHELF_CORS_ORIGINS", APP), ("SHELF_LIMIT_SEARCH_ANONYMOUS", "1/1h")]).await;
    let search = || app.send(TestRequest::get().uri("/api/v1/search?q=x").insert_header(("Origin", APP)));
    let first = search().await;
    assert_eq!(first.status, 200);
    assert_eq!(header(&first, "access-control-allow-origin"), APP);
    assert_eq!(header(&first, "access-control-allow-credentials"), "true");
    assert!(header(&first, "vary").to_lowercase().contains("origin"), "caches must key on Origin");
    let exposed = header(&first, "access-control-expose-headers").to_lowercase();
    for name in [
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
    ] {
        assert!(exposed.split(',').any(|h| h.trim() == name), "{name} in {exposed}");
    }
    // A refusal is readable by the page too, so it can honour Retry-After.
    let refused = search().await;
    refused.assert_error(429, "too_many_requests");
    assert_eq!(header(&refused, "access-control-allow-origin"), APP);
}

#[actix_web::test]
async fn other_origins_get_no_cross_origin_access() {
    let app = TestApp::spawn_with(&[("SHELF_CORS_ORIGINS", APP)]).await;
    let response =
        app.send(TestRequest::get().uri("/api/v1/search?q=x").insert_header(("Origin", "https://evil.example"))).await;
    assert_eq!(response.status, 200, "served, but the browser keeps it from the page");
    assert!(response.header("access-control-allow-origin").is_none());
    let refused = preflight(&app, "https://evil.example", "content-type").await;
    refused.assert_error(400, "bad_request");
    assert!(refused.header("access-control-allow-origin").is_none());
    // A header outside the contract's list is refused even for the configured origin.
    preflight(&app, APP, "x-forwarded-for").await.assert_error(400, "bad_request");
}

#[actix_web::test]
async fn without_configured_origins_nothing_is_cross_origin() {
    let app = TestApp::spawn().await;
    let response = app.send(TestRequest::get().uri("/api/v1/search?q=x").insert_header(("Origin", APP))).await;
    assert_eq!(response.status, 200);
    assert!(response.header("access-control-allow-origin").is_none());
    let response = preflight(&app, APP, "content-type").await;
    assert!(response.header("access-control-allow-origin").is_none());
    assert!(response.status.is_client_error());
}
