//! Brute-force defence on the sign-in routes, and the password policy.

use std::net::SocketAddr;

use actix_web::test::TestRequest;
use serde_json::json;
use shelf::auth::Role;

use crate::helpers::{ADMIN_PASSWORD, TestApp, TestResponse, USER_PASSWORD, assert_wait, timed};

fn from(ip: &str) -> SocketAddr {
    format!("{ip}:40000").parse().unwrap()
}

async fn attempt(app: &TestApp, route: &str, username: &str, password: &str, ip: &str) -> TestResponse {
    let request = TestRequest::post()
        .uri(route)
        .peer_addr(from(ip))
        .set_json(json!({"username": username, "password": password}));
    app.send(request).await
}

#[actix_web::test]
async fn five_failures_lock_the_username_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    let (first, first_span) = timed(attempt(&app, "/api/token", "admin", "wrong password!", "198.51.100.1")).await;
    first.assert_error(401, "invalid_credentials");
    for n in 2..=5 {
        let response = attempt(&app, "/api/token", "admin", "wrong password!", &format!("198.51.100.{n}")).await;
        response.assert_error(401, "invalid_credentials");
    }
    let (locked, locked_span) = timed(attempt(&app, "/api/token", "admin", ADMIN_PASSWORD, "198.51.100.99")).await;
    let error = locked.assert_error(429, "too_many_requests");
    assert!(error["message"].as_str().unwrap().contains("Too many failed sign-in attempts"), "{error}");
    // GCRA: 5 per 15 minutes refills one attempt every 3 minutes after the first failure.
    assert_wait(&locked, std::time::Duration::from_secs(180), first_span, locked_span);
    // The cookie-session sign-in shares the count.
    attempt(&app, "/api/session", "admin", ADMIN_PASSWORD, "198.51.100.98")
        .await
        .assert_error(429, "too_many_requests");
    // Other usernames are not affected.
    app.create_user("reader", Role::User).await;
    assert_eq!(attempt(&app, "/api/token", "reader", USER_PASSWORD, "198.51.100.97").await.status, 200);
}

#[actix_web::test]
async fn the_lockout_does_not_reveal_whether_the_username_exists() {
    let app = TestApp::spawn().await;
    let mut transcripts = Vec::new();
    for username in ["admin", "no-such-user"] {
        let mut transcript = Vec::new();
        for _ in 0..7 {
            let response = attempt(&app, "/api/token", username, "wrong password!", "192.0.2.10").await;
            let mut body = response.json();
            body["error"]["request_id"] = json!(null);
            transcript.push((response.status, response.header("retry-after").is_some(), body));
        }
        transcripts.push(transcript);
    }
    // The per-client count (20 by default) is not reached by these 14.
    assert_eq!(transcripts[0], transcripts[1]);
    assert_eq!(transcripts[0][5].0, 429);
}

#[actix_web::test]
async fn a_success_resets_the_username_count() {
    let app = TestApp::spawn().await;
    for round in 0..3 {
        for _ in 0..4 {
            attempt(&app, "/api/token", "admin", "wrong password!", "192.0.2.20")
                .await
                .assert_error(401, "invalid_credentials");
        }
        let ok = attempt(&app, "/api/token", "admin", ADMIN_PASSWORD, "192.0.2.20").await;
        assert_eq!(ok.status, 200, "round {round}");
    }
}

#[actix_web::test]
async fn failures_are_also_counted_per_client_across_usernames() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_LOGIN_CLIENT_FAILURES", "3/15m")]).await;
    for name in ["spray-a", "spray-b", "spray-c"] {
        attempt(&app, "/api/token", name, "wrong password!", "192.0.2.30")
            .await
            .assert_error(401, "invalid_credentials");
    }
    // A fourth username from the same client, even with the right password.
    attempt(&app, "/api/token", "admin", ADMIN_PASSWORD, "192.0.2.30").await.assert_error(429, "too_many_requests");
    // Another client is not affected.
    assert_eq!(attempt(&app, "/api/token", "admin", ADMIN_PASSWORD, "192.0.2.31").await.status, 200);
}

#[actix_web::test]
async fn a_forwarded_header_from_an_untrusted_peer_does_not_buy_a_fresh_client_count() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_LOGIN_CLIENT_FAILURES", "2/15m")]).await;
    for (n, name) in ["spoof-a", "spoof-b", "spoof-c"].into_iter().enumerate() {
        let request = TestRequest::post()
            .uri("/api/token")
            .peer_addr(from("192.0.2.40"))
            .insert_header(("X-Forwarded-For", format!("10.9.9.{n}")))
            .set_json(json!({"username": name, "password": "wrong password!"}));
        let response = app.send(request).await;
        if n < 2 {
            response.assert_error(401, "invalid_credentials");
        } else {
            response.assert_error(429, "too_many_requests");
        }
    }
}

#[actix_web::test]
async fn the_lock_frees_up_when_the_period_has_passed() {
    // 2 per 8 s: a burst of two, then one every 4 s.
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_LOGIN_FAILURES", "2/8s")]).await;
    for _ in 0..2 {
        attempt(&app, "/api/token", "admin", "wrong password!", "192.0.2.50")
            .await
            .assert_error(401, "invalid_credentials");
    }
    let locked = attempt(&app, "/api/token", "admin", ADMIN_PASSWORD, "192.0.2.50").await;
    locked.assert_error(429, "too_many_requests");
    let wait: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=4).contains(&wait), "Retry-After {wait}");
    std::thread::sleep(std::time::Duration::from_secs(wait));
    assert_eq!(attempt(&app, "/api/token", "admin", ADMIN_PASSWORD, "192.0.2.50").await.status, 200);
}

#[actix_web::test]
async fn new_passwords_may_not_be_common_or_the_username() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for (username, password, why) in [
        ("new.reader.one", "new.reader.one", "the username"),
        ("new.reader.two", "NEW.READER.TWO", "the username in other case"),
        ("new.reader.three", "sunshine2024!", "a listed password with digits"),
        ("new.reader.four", "qwertyqwerty", "a listed password repeated"),
        ("new.reader.five", "unbelievable", "a listed password"),
    ] {
        let response =
            app.post("/api/v1/users", Some(&admin), json!({"username": username, "password": password})).await;
        let error = response.assert_error(400, "validation_failed");
        assert_eq!(error["details"][0]["field"], "password", "{why}");
    }
    let users = app.get("/api/v1/users", Some(&admin)).await.json();
    assert_eq!(users["total"], 1, "nothing was created");

    let token = app.user_token("reader").await;
    for new_password in ["reader", "password12345", "iloveyou!!!!"] {
        let body = json!({"current_password": USER_PASSWORD, "new_password": new_password});
        let response = app.post("/api/v1/me/password", Some(&token), body).await;
        let error = response.assert_error(400, "validation_failed");
        assert_eq!(error["details"][0]["field"], "new_password");
    }
    // Nothing changed: the old password and token still work.
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, 200);
    assert_eq!(app.login("reader", USER_PASSWORD).await.status, 200);
}

#[actix_web::test]
async fn a_hash_made_with_weaker_settings_is_upgraded_at_the_next_sign_in() {
    use argon2::PasswordHasher;
    let app = TestApp::spawn().await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8 * 1024, 1, 1, None).unwrap(),
    )
    .hash_password(USER_PASSWORD.as_bytes())
    .unwrap()
    .to_string();
    let stored_hash = |id: i64| shelf::db::run(&app.pool, move |conn| Ok(shelf::accounts::find(conn, id)?.unwrap()));
    let id = shelf::db::run(&app.pool, move |conn| shelf::accounts::insert(conn, "oldtimer", &weak, Role::User))
        .await
        .unwrap()
        .id;
    assert!(stored_hash(id).await.unwrap().password_hash.contains("m=8192,t=1,p=1"));

    let first = app.login("oldtimer", USER_PASSWORD).await;
    assert_eq!(first.status, 200);
    let row = stored_hash(id).await.unwrap();
    assert!(row.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", row.password_hash);
    assert_eq!(row.token_version, 0, "an upgrade is not a password change: tokens live on");
    assert_eq!(app.get("/api/v1/me", Some(first.json()["access_token"].as_str().unwrap())).await.status, 200);
    assert_eq!(app.login("oldtimer", USER_PASSWORD).await.status, 200);
    assert_eq!(app.login("oldtimer", "not the password").await.status, 401);
}
