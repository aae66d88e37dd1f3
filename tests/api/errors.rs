//! The one error envelope, from every layer, and the headers every
//! response carries.

use std::time::Duration;

use actix_web::test::{self, TestRequest};
use serde_json::json;
use shelf::settings::{DatabaseUrl, Secret};
use shelf::startup;

use crate::helpers::{JWT_SECRET, TestApp, settings_for};

#[actix_web::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/nothing-here", None).await.assert_error(404, "not_found");
    app.get("/", None).await.assert_error(404, "not_found");
    app.send(TestRequest::delete().uri("/api/v1/search")).await.assert_error(405, "method_not_allowed");
    app.send(TestRequest::get().uri("/api/token")).await.assert_error(405, "method_not_allowed");
    app.get("/api/v1/books/not-a-number", Some(&app.admin_token().await)).await.assert_error(404, "not_found");
}

#[actix_web::test]
async fn malformed_json_wrong_type_and_empty_bodies_are_400_or_415() {
    let app = TestApp::spawn().await;
    let token = app.user_token("reader").await;
    let post = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = TestRequest::post()
            .uri("/api/v1/add_tag")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .set_payload(body);
        if let Some(content_type) = content_type {
            req = req.insert_header(("Content-Type", content_type));
        }
        req
    };
    app.send(post("{\"tag\": ", Some("application/json"))).await.assert_error(400, "invalid_json");
    app.send(post("", Some("application/json"))).await.assert_error(400, "invalid_json");
    let error = app.send(post("[1,2]", Some("application/json"))).await.assert_error(400, "validation_failed");
    assert_eq!(error["details"], serde_json::json!([{"field": "body", "message": "must be a JSON object"}]));
    app.send(post("{\"tag\":\"a\",\"book_id\":1}", Some("text/plain")))
        .await
        .assert_error(415, "unsupported_media_type");
    app.send(post("{\"tag\":\"a\",\"book_id\":1}", None)).await.assert_error(415, "unsupported_media_type");
    app.send(post("tag=a&book_id=1", Some("application/x-www-form-urlencoded")))
        .await
        .assert_error(415, "unsupported_media_type");
}

#[actix_web::test]
async fn bodies_over_one_mebibyte_are_413() {
    let app = TestApp::spawn().await;
    let over = format!("{{\"username\":\"{}\",\"password\":\"x\"}}", "a".repeat(1024 * 1024));
    let response = app
        .send(
            TestRequest::post().uri("/api/token").insert_header(("Content-Type", "application/json")).set_payload(over),
        )
        .await;
    response.assert_error(413, "payload_too_large");

    // Exactly at the limit is read (and then fails validation, not size).
    let padding = 1024 * 1024 - "{\"username\":\"\",\"password\":\"x\"}".len();
    let at_limit = format!("{{\"username\":\"{}\",\"password\":\"x\"}}", "a".repeat(padding));
    assert_eq!(at_limit.len(), 1024 * 1024);
    let response = app
        .send(
            TestRequest::post()
                .uri("/api/token")
                .insert_header(("Content-Type", "application/json"))
                .set_payload(at_limit),
        )
        .await;
    response.assert_error(400, "validation_failed");
}

#[actix_web::test]
async fn request_ids_are_echoed_only_when_safe() {
    let app = TestApp::spawn().await;
    let with_id = |id: &str| TestRequest::get().uri("/health").insert_header(("X-Request-Id", id.to_owned()));
    let echoed = app.send(with_id("abc-123_x.y")).await;
    assert_eq!(echoed.header("x-request-id"), Some("abc-123_x.y"));
    let longest = "a".repeat(64);
    assert_eq!(app.send(with_id(&longest)).await.header("x-request-id"), Some(longest.as_str()));
    for bad in ["a".repeat(65), "has space".into(), "semi;colon".into(), "<script>".into()] {
        let replaced = app.send(with_id(&bad)).await;
        let id = replaced.header("x-request-id").unwrap();
        assert_ne!(id, bad);
        assert!(shelf::http::envelope::is_acceptable_request_id(id));
    }
    let error = app.send(with_id("trace-42").uri("/nope")).await.assert_error(404, "not_found");
    assert_eq!(error["request_id"], "trace-42");
}

#[actix_web::test]
async fn security_headers_are_on_successes_and_errors() {
    let app = TestApp::spawn().await;
    for response in [app.get("/health", None).await, app.get("/nope", None).await, app.get("/api/v1/me", None).await] {
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(response.header("content-security-policy"), Some("default-src 'none'; frame-ancestors 'none'"));
        assert!(response.header("strict-transport-security").is_none());
        assert!(response.header("x-request-id").is_some());
    }
    let hsts = TestApp::spawn_with(&[("SHELF_HSTS", "true")]).await;
    let response = hsts.get("/health", None).await;
    assert!(response.header("strict-transport-security").unwrap().starts_with("max-age="));
}

#[actix_web::test]
async fn errors_never_leak_internals() {
    let app = TestApp::spawn().await;
    let token = app.user_token("reader").await;
    for response in [
        app.post("/api/v1/add_tag", Some(&token), json!({"tag": "a", "book_id": i64::MAX})).await,
        app.get("/api/v1/search?q=%27%20OR%201%3D1--", None).await,
        app.login("nobody", "whatever").await,
    ] {
        let text = String::from_utf8_lossy(&response.body).to_lowercase();
        for leak in ["select", "sqlite", "postgres", "diesel", "src/", "panicked", "argon2", "nobody"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
    }
}

#[actix_web::test]
async fn an_unreachable_database_is_503_and_health_stays_up() {
    for url in [
        DatabaseUrl::Postgres(Secret::new("postgres://postgres@127.0.0.1:1/nowhere")),
        DatabaseUrl::Sqlite("/nonexistent-dir/for/shelf/test.db".into()),
    ] {
        let settings = settings_for("sqlite://unused.db", &[]);
        let pool = shelf::db::pool(&url, 2, Duration::from_millis(500));
        let shared = startup::Shared::new(&settings, pool, &Secret::new(JWT_SECRET)).unwrap();
        let service = test::init_service(startup::app(&shared, &settings)).await;
        let call = |uri: &str| test::call_service(&service, TestRequest::get().uri(uri).to_request());

        let ready = call("/ready").await;
        assert_eq!(ready.status(), 503);
        assert_eq!(ready.headers().get("retry-after").unwrap(), "5");
        let body: serde_json::Value = test::read_body_json(ready).await;
        assert_eq!(body["error"]["code"], "service_unavailable");
        let search = call("/api/v1/search?q=war").await;
        assert_eq!(search.status(), 503);
        let text = String::from_utf8_lossy(&test::read_body(search).await).to_lowercase();
        assert!(!text.contains("127.0.0.1") && !text.contains("nonexistent"), "{text}");
        assert_eq!(call("/health").await.status(), 200);
    }
}

#[actix_web::test]
async fn nul_and_control_characters_are_400_wherever_text_reaches_the_database() {
    // Found by fuzzing the OpenAPI document: a NUL in `q` broke SQLite's
    // full-text query (500), and PostgreSQL refuses NUL in any text.
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let book = app.book("Dune", "Frank Herbert").await;
    for path in ["/api/v1/search?q=a%00bcd", "/api/v1/search?q=%00", "/api/v1/books?q=du%01ne"] {
        let error = app.get(path, Some(&admin)).await.assert_error(400, "validation_failed");
        assert_eq!(error["details"][0]["field"], "q", "{path}");
    }
    let library = app.get("/api/v1/library?tag=a%00b", Some(&admin)).await;
    library.assert_error(400, "validation_failed");

    let cases = [
        ("/api/v1/books", json!({"title": "Du\u{0}ne", "author": "Frank Herbert"}), "title"),
        ("/api/v1/books", json!({"title": "Dune", "author": "Frank\u{1b}[31m Herbert"}), "author"),
        (
            "/api/v1/books",
            json!({"title": "Dune", "author": "F", "specifications_flat": "a\u{0}b"}),
            "specifications_flat",
        ),
        ("/api/v1/add_tag", json!({"tag": "a\u{0}b", "book_id": book}), "tag"),
        (
            "/api/v1/api-keys",
            json!({"name": "n\u{0}", "scopes": ["books:read"], "current_password": crate::helpers::ADMIN_PASSWORD}),
            "name",
        ),
        ("/api/token", json!({"username": "ad\u{0}min", "password": "x"}), "username"),
    ];
    for (path, body, field) in cases {
        let token = (path != "/api/token").then_some(admin.as_str());
        let error = app.post(path, token, body).await.assert_error(400, "validation_failed");
        assert_eq!(error["details"][0]["field"], field, "{path}");
    }
    // Line breaks stay allowed in the long text field, and nothing else was written.
    let fine = json!({"title": "Dune", "author": "Frank Herbert", "specifications_flat": "Pages: 412\nCover: paper"});
    assert_eq!(app.post("/api/v1/books", Some(&admin), fine).await.status, 201);
    assert_eq!(app.get("/api/v1/books", Some(&admin)).await.json()["total"], 2);
}

#[actix_web::test]
async fn a_405_names_the_allowed_methods_for_every_spelling_of_the_path() {
    let app = TestApp::spawn().await;
    let cases = [
        (actix_web::http::Method::DELETE, "/health", "GET, HEAD"),
        (actix_web::http::Method::GET, "/api/token", "POST"),
        (actix_web::http::Method::GET, "/api/%74oken", "POST"),
        (actix_web::http::Method::PUT, "/api/v1/books", "GET, HEAD, POST"),
        (actix_web::http::Method::PATCH, "/api/v1/books/7", "DELETE, GET, HEAD, PUT"),
        (actix_web::http::Method::GET, "/api/v1/change%5Fstatus", "POST"),
        (actix_web::http::Method::PUT, "/api/session", "DELETE, GET, HEAD, POST"),
        (actix_web::http::Method::POST, "/api/v2/books/7/status", "DELETE, PUT"),
        (actix_web::http::Method::GET, "/api/v2/books/7/tags/x%20y", "DELETE, PUT"),
        (actix_web::http::Method::DELETE, "/api/v2/books", "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let response = app.send(TestRequest::default().method(method).uri(path)).await;
        response.assert_error(405, "method_not_allowed");
        assert_eq!(response.header("allow"), Some(allow), "{path}");
    }
}
