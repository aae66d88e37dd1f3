//! `/health`, `/ready`, the OpenAPI document and the docs page.

use crate::helpers::TestApp;

#[actix_web::test]
async fn health_and_ready_answer_ok() {
    let app = TestApp::spawn().await;
    for path in ["/health", "/ready"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.json(), serde_json::json!({"status": "ok"}));
    }
}

/// The drift test: each served document is the committed copy, byte for
/// byte.
#[actix_web::test]
async fn served_openapi_documents_match_the_committed_copies() {
    let app = TestApp::spawn().await;
    for version in shelf::api::openapi::VERSIONS {
        let response = app.get(&format!("/api/{version}/openapi.json"), None).await;
        assert_eq!(response.status, 200);
        let path = format!("{}/api/openapi-{version}.json", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{path} is missing"));
        assert!(
            committed.as_bytes() == &response.body[..],
            "api/openapi-{version}.json is out of date: regenerate it with \
             `cargo run -q -- openapi {version} > api/openapi-{version}.json`"
        );
    }
}

#[actix_web::test]
async fn openapi_document_lists_every_route_and_the_envelope() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/v1/openapi.json", None).await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        ("/api/token", "post"),
        ("/api/token/refresh", "post"),
        ("/api/token/revoke", "post"),
        ("/api/session", "post"),
        ("/api/session", "get"),
        ("/api/session", "delete"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/api/v1/openapi.json", "get"),
        ("/api/v1/books", "get"),
        ("/api/v1/books", "post"),
        ("/api/v1/books/{id}", "get"),
        ("/api/v1/books/{id}", "put"),
        ("/api/v1/books/{id}", "delete"),
        ("/api/v1/search", "get"),
        ("/api/v1/add_tag", "post"),
        ("/api/v1/remove_tag", "post"),
        ("/api/v1/change_status", "post"),
        ("/api/v1/tags", "get"),
        ("/api/v1/library", "get"),
        ("/api/v1/me", "get"),
        ("/api/v1/me/password", "post"),
        ("/api/v1/users", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{id}/role", "put"),
        ("/api/v1/users/{id}", "delete"),
        ("/api/v1/api-keys", "post"),
        ("/api/v1/api-keys", "get"),
        ("/api/v1/api-keys/{id}", "delete"),
        ("/api/v1/admin/security-events", "get"),
    ];
    for (path, method) in expected {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(operation["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}");
    }
    let paths = doc["paths"].as_object().unwrap();
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(operations, expected.len(), "undocumented or unexpected operations: {:?}", paths.keys());
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());
    for scheme in ["bearer", "api_key", "session"] {
        assert!(doc["components"]["securitySchemes"][scheme].is_object(), "{scheme}");
    }
    let search_params = doc["paths"]["/api/v1/search"]["get"]["parameters"].as_array().unwrap();
    let names: Vec<&str> = search_params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["q", "page", "per_page", "sortColumn", "sortOrder"]);
}

#[actix_web::test]
async fn docs_page_is_served_from_the_binary_with_no_third_party_origin() {
    let app = TestApp::spawn().await;
    let redirect = app.get("/docs", None).await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("/docs/"));

    let page = app.get("/docs/", None).await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    let policy = page.header("content-security-policy").unwrap();
    assert!(!policy.contains("http"), "{policy}");
    let html = String::from_utf8_lossy(&page.body);
    assert!(!html.contains("http://") && !html.contains("https://"), "{html}");

    let init = app.get("/docs/swagger-initializer.js", None).await;
    assert_eq!(init.status, 200);
    let script = String::from_utf8_lossy(&init.body);
    assert!(script.contains("/api/v1/openapi.json") && script.contains("/api/v2/openapi.json"), "{script}");
    assert!(script.contains("\"validatorUrl\": \"none\""), "{script}");
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"] {
        assert_eq!(app.get(asset, None).await.status, 200, "{asset}");
    }
    app.get("/docs/missing.js", None).await.assert_error(404, "not_found");
}

#[actix_web::test]
async fn responses_are_compressed_on_request_except_those_carrying_a_secret() {
    use actix_web::test::TestRequest;
    let app = TestApp::spawn().await;
    for i in 0..20 {
        app.book(&format!("Compressible title number {i}"), "Same Author").await;
    }
    for encoding in ["gzip", "br", "zstd"] {
        let response = app
            .send(TestRequest::get().uri("/api/v1/search?per_page=20").insert_header(("Accept-Encoding", encoding)))
            .await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-encoding"), Some(encoding));
    }
    let token = app
        .send(
            TestRequest::post()
                .uri("/api/token")
                .insert_header(("Accept-Encoding", "gzip, br, zstd"))
                .set_json(serde_json::json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(token.status, 200);
    assert_eq!(token.header("content-encoding"), Some("identity"));
    assert!(token.json()["access_token"].is_string());
}

#[actix_web::test]
async fn successful_gets_carry_an_etag_and_a_matching_if_none_match_is_304() {
    use actix_web::test::TestRequest;
    let app = TestApp::spawn().await;
    app.book("Dune", "Frank Herbert").await;
    let token = app.user_token("reader").await;
    for path in ["/api/v1/search?q=dune", "/api/v1/books", "/api/v1/me", "/api/v1/library", "/health"] {
        let first = app.get(path, Some(&token)).await;
        let tag = first.header("etag").unwrap_or_else(|| panic!("no ETag on {path}")).to_owned();
        assert!(tag.starts_with("W/\""), "{tag}");
        let again = app
            .send(
                TestRequest::get()
                    .uri(path)
                    .insert_header(("Authorization", format!("Bearer {token}")))
                    .insert_header(("If-None-Match", tag.clone())),
            )
            .await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(tag.as_str()));
        assert_eq!(again.header("cache-control"), first.header("cache-control"));
        let other = app
            .send(
                TestRequest::get()
                    .uri(path)
                    .insert_header(("Authorization", format!("Bearer {token}")))
                    .insert_header(("If-None-Match", "W/\"0000000000000000\"")),
            )
            .await;
        assert_eq!(other.status, 200, "{path}");
    }
    // A changed page has a new tag.
    let before = app.get("/api/v1/search?q=dune", None).await.header("etag").unwrap().to_owned();
    app.book("Dune Messiah", "Frank Herbert").await;
    let after = app.get("/api/v1/search?q=dune", None).await.header("etag").unwrap().to_owned();
    assert_ne!(before, after);
    // Errors and writes carry none.
    assert!(app.get("/nope", None).await.header("etag").is_none());
    assert!(app.login("admin", crate::helpers::ADMIN_PASSWORD).await.header("etag").is_none());
}
