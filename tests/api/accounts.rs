//! `/me`, `/me/password` and `/users`.

use crate::helpers::{TestApp, USER_PASSWORD};
use serde_json::json;

#[actix_web::test]
async fn me_shows_the_caller_without_secrets() {
    let app = TestApp::spawn().await;
    let token = app.user_token("reader").await;
    let response = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(response.status, 200);
    let body = response.json();
    assert_eq!(body["username"], "reader");
    assert_eq!(body["role"], "user");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["created_at", "id", "role", "username"]);
    assert!(response.header("cache-control").unwrap().starts_with("private"));
}

#[actix_web::test]
async fn password_change_checks_the_current_password_and_the_rules() {
    let app = TestApp::spawn().await;
    let token = app.user_token("reader").await;
    app.post(
        "/api/v1/me/password",
        Some(&token),
        json!({"current_password": "wrong-password-1", "new_password": "another-password-1"}),
    )
    .await
    .assert_error(401, "invalid_credentials");
    let error = app
        .post("/api/v1/me/password", Some(&token), json!({"current_password": USER_PASSWORD, "new_password": "short"}))
        .await
        .assert_error(400, "validation_failed");
    assert_eq!(error["details"][0]["field"], "new_password");
    // Nothing changed: the old password and token still work.
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, 200);
    assert_eq!(app.login("reader", USER_PASSWORD).await.status, 200);
}

#[actix_web::test]
async fn admins_create_and_list_users() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let response = app
        .post("/api/v1/users", Some(&admin), json!({"username": "new.reader", "password": "long-enough-password"}))
        .await;
    assert_eq!(response.status, 201);
    assert_eq!(response.json()["role"], "user");
    assert!(response.json().get("password_hash").is_none());
    assert_eq!(app.login("new.reader", "long-enough-password").await.status, 200);

    let response = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"username": "boss", "password": "long-enough-password", "role": "admin"}),
        )
        .await;
    assert_eq!(response.json()["role"], "admin");

    let list = app.get("/api/v1/users?per_page=2", Some(&admin)).await;
    assert_eq!(list.status, 200);
    let body = list.json();
    assert_eq!(body["total"], 3);
    assert_eq!(body["users"].as_array().unwrap().len(), 2);
    assert!(!list.body.windows(7).any(|w| w == b"argon2i"));
}

#[actix_web::test]
async fn user_creation_rules_are_enforced() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for (body, field) in [
        (json!({"username": "ab", "password": "long-enough-password"}), "username"),
        (json!({"username": "Upper", "password": "long-enough-password"}), "username"),
        (json!({"username": "in valid", "password": "long-enough-password"}), "username"),
        (json!({"username": "okname", "password": "short"}), "password"),
        (json!({"username": "okname", "password": "x".repeat(129)}), "password"),
    ] {
        let error = app.post("/api/v1/users", Some(&admin), body).await.assert_error(400, "validation_failed");
        assert_eq!(error["details"][0]["field"], field);
    }
    let error = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({"username": "okname", "password": "long-enough-password", "role": "root"}),
        )
        .await
        .assert_error(400, "validation_failed");
    // An unknown enum value names its field like any other rule.
    assert_eq!(error["details"], json!([{"field": "role", "message": "must be one of user, admin"}]));
    app.post("/api/v1/users", Some(&admin), json!({"username": "admin", "password": "long-enough-password"}))
        .await
        .assert_error(409, "username_taken");
    let users = app.get("/api/v1/users", Some(&admin)).await.json();
    assert_eq!(users["total"], 1);
}

#[actix_web::test]
async fn only_admins_manage_users() {
    let app = TestApp::spawn().await;
    let user = app.user_token("reader").await;
    app.get("/api/v1/users", Some(&user)).await.assert_error(403, "forbidden");
    app.post("/api/v1/users", Some(&user), json!({"username": "sneaky", "password": "long-enough-password"}))
        .await
        .assert_error(403, "forbidden");
    app.get("/api/v1/users", None).await.assert_error(401, "authentication_required");
}
