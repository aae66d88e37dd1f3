//! `POST /api/token` and every way a bearer token must be refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, JWT_SECRET, TestApp, USER_PASSWORD, token_of};

fn now() -> i64 {
    shelf::db::now()
}

/// Creates a user with a live token session; their id and the session's.
async fn user_with_session(app: &TestApp, username: &str) -> (i64, i64) {
    let id = app.create_user(username, shelf::auth::Role::User).await;
    let lifetimes = app.state.lifetimes;
    let started = shelf::db::run(&app.pool, move |conn| {
        shelf::auth::sessions::start(conn, id, 0, shelf::auth::sessions::Kind::Token, None, lifetimes)
    })
    .await
    .unwrap();
    (id, started.session_id)
}

/// Claims like the server's, for user `sub` in session `sid`, with
/// `changes` applied (a `null` removes the claim).
fn claims(sub: i64, sid: i64, changes: Value) -> Value {
    let mut claims = json!({
        "sub": sub.to_string(), "role": "user", "iat": now(), "nbf": now(), "exp": now() + 600,
        "iss": "shelf", "aud": "shelf-api", "jti": "test", "ver": 0, "sid": sid,
    });
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}

/// The `kid` the server gives its test secret.
fn server_kid() -> String {
    shelf::auth::jwt::key_id(&shelf::settings::Secret::new(JWT_SECRET))
}

/// Signs like the server (naming the server's key), with `alg` and `secret`.
fn sign(alg: Algorithm, secret: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(server_kid());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret.as_bytes()).unwrap()).unwrap()
}

async fn assert_refused(app: &TestApp, token: &str) {
    app.get("/api/v1/me", Some(token)).await.assert_error(401, "invalid_token");
}

#[actix_web::test]
async fn login_returns_a_bearer_token_that_is_not_cached_or_compressed() {
    let app = TestApp::spawn().await;
    let response = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status, 200);
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("content-encoding"), Some("identity"));

    let token = body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "admin");
    assert_eq!(me.json()["role"], "admin");
}

#[actix_web::test]
async fn issued_token_has_every_contract_claim() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    for claim in ["sub", "role", "iat", "nbf", "exp", "iss", "aud", "jti"] {
        assert!(claims.get(claim).is_some(), "missing {claim}: {claims}");
    }
    assert_eq!(claims["sub"], "1");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
}

#[actix_web::test]
async fn unknown_user_and_wrong_password_get_the_same_401() {
    let app = TestApp::spawn().await;
    let unknown = app.login("nobody", ADMIN_PASSWORD).await;
    let wrong = app.login("admin", "not-the-password").await;
    let mut a = unknown.assert_error(401, "invalid_credentials");
    let mut b = wrong.assert_error(401, "invalid_credentials");
    a["request_id"] = Value::Null;
    b["request_id"] = Value::Null;
    assert_eq!(a, b);
    assert_eq!(a["message"], "Invalid credentials");
}

#[actix_web::test]
async fn login_body_is_validated() {
    let app = TestApp::spawn().await;
    let response = app.post("/api/token", None, json!({"username": "", "password": "x"})).await;
    let error = response.assert_error(400, "validation_failed");
    assert_eq!(error["details"][0]["field"], "username");
    let error = app.post("/api/token", None, json!({"username": "admin"})).await.assert_error(400, "validation_failed");
    assert_eq!(error["details"], json!([{"field": "password", "message": "is required"}]));
    let error = app
        .post("/api/token", None, json!({"username": "admin", "password": ADMIN_PASSWORD, "role": "admin"}))
        .await
        .assert_error(400, "validation_failed");
    assert_eq!(error["details"][0]["field"], "role");
}

#[actix_web::test]
async fn a_token_the_server_did_not_sign_is_refused() {
    let app = TestApp::spawn().await;
    let (id, sid) = user_with_session(&app, "reader").await;
    let claims = |changes| claims(id, sid, changes);
    // The genuine article passes, so each refusal below is down to its change.
    assert_eq!(app.get("/api/v1/me", Some(&sign(Algorithm::HS256, JWT_SECRET, &claims(json!({}))))).await.status, 200);

    // Signed with the right secret but a different algorithm.
    assert_refused(&app, &sign(Algorithm::HS512, JWT_SECRET, &claims(json!({})))).await;
    assert_refused(&app, &sign(Algorithm::HS384, JWT_SECRET, &claims(json!({})))).await;
    // Signed with another secret.
    assert_refused(&app, &sign(Algorithm::HS256, "another-secret-that-is-32-bytes-long!!", &claims(json!({})))).await;
    // alg "none", with and without a signature part.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    assert_refused(&app, &format!("{header}.{payload}.")).await;
    assert_refused(&app, &format!("{header}.{payload}")).await;
    // A valid signature on tampered claims.
    let genuine = sign(Algorithm::HS256, JWT_SECRET, &claims(json!({})));
    let mut parts: Vec<&str> = genuine.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(claims(json!({"role": "admin"})).to_string());
    parts[1] = &forged;
    assert_refused(&app, &parts.join(".")).await;
    // No kid, or a kid the server does not hold.
    let no_kid = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(json!({})),
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_refused(&app, &no_kid).await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("0123456789abcdef".into());
    let unknown_kid =
        jsonwebtoken::encode(&header, &claims(json!({})), &EncodingKey::from_secret(JWT_SECRET.as_bytes()).unwrap())
            .unwrap();
    assert_refused(&app, &unknown_kid).await;
    // Garbage.
    assert_refused(&app, "not.a.jwt").await;
}

#[actix_web::test]
async fn wrong_issuer_audience_or_times_are_refused() {
    let app = TestApp::spawn().await;
    let (id, sid) = user_with_session(&app, "reader").await;
    // The same claims as a real token are accepted: the refusals below are
    // down to the one claim each changes.
    let good = sign(Algorithm::HS256, JWT_SECRET, &claims(id, sid, json!({})));
    assert_eq!(app.get("/api/v1/me", Some(&good)).await.status, 200);

    for changes in [
        json!({"iss": "someone-else"}),
        json!({"aud": "another-api"}),
        json!({"exp": now() - 120}),
        json!({"nbf": now() + 120}),
        json!({"exp": null}),
        json!({"nbf": null}),
        json!({"iss": null}),
        json!({"aud": null}),
        json!({"sub": "not-a-number"}),
        json!({"sub": "9999"}),
        json!({"ver": 1}),
        json!({"sid": sid + 1000}),
        json!({"sid": null}),
    ] {
        let token = sign(Algorithm::HS256, JWT_SECRET, &claims(id, sid, changes.clone()));
        let response = app.get("/api/v1/me", Some(&token)).await;
        assert_eq!(response.status, 401, "{changes} was accepted");
        response.assert_error(401, "invalid_token");
    }
}

#[actix_web::test]
async fn missing_or_malformed_authorization_is_401() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/me", None).await.assert_error(401, "authentication_required");
    for header in ["Basic YWRtaW46eA==", "Bearer", "Bearer ", "token abc"] {
        let response = app
            .send(actix_web::test::TestRequest::get().uri("/api/v1/me").insert_header(("Authorization", header)))
            .await;
        response.assert_error(401, "invalid_token");
    }
}

#[actix_web::test]
async fn a_password_change_kills_earlier_tokens() {
    let app = TestApp::spawn().await;
    let old = app.user_token("reader").await;
    let response = app
        .post(
            "/api/v1/me/password",
            Some(&old),
            json!({"current_password": USER_PASSWORD, "new_password": "a-brand-new-password"}),
        )
        .await;
    assert_eq!(response.status, 204);
    assert_refused(&app, &old).await;
    app.login("reader", USER_PASSWORD).await.assert_error(401, "invalid_credentials");
    let new = token_of(&app.login("reader", "a-brand-new-password").await);
    assert_eq!(app.get("/api/v1/me", Some(&new)).await.status, 200);
}

#[actix_web::test]
async fn the_role_comes_from_the_database_not_the_token() {
    let app = TestApp::spawn().await;
    let (id, sid) = user_with_session(&app, "reader").await;
    // Even a correctly signed token claiming "admin" grants only the
    // user's stored role.
    let token = sign(Algorithm::HS256, JWT_SECRET, &claims(id, sid, json!({"role": "admin"})));
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.json()["role"], "user");
    app.get("/api/v1/users", Some(&token)).await.assert_error(403, "forbidden");
}
