//! The sign-in lockout under the attack it exists for: many wrong
//! passwords at once, over real sockets, from many client addresses (the
//! server believes `X-Forwarded-For` from its trusted proxy, 127.0.0.1).
//! The failure is taken before argon2 runs, so no burst can outrun it. The
//! hashing pool is made large enough to admit every attempt, so the burst
//! reaches the failure counts rather than being shed before them.

use serde_json::json;
use shelf::auth::Role;

use crate::helpers::{ADMIN_PASSWORD, TestApp, USER_PASSWORD, at_once, raw_post, serve, status_counts, token_of};

/// Every attempt of these bursts gets a hashing thread at once.
const WIDE_POOL: (&str, &str) = ("SHELF_PASSWORD_THREADS", "16");

fn from(n: usize) -> String {
    format!("X-Forwarded-For: 198.51.100.{n}\r\n")
}

#[actix_web::test]
async fn fifteen_concurrent_wrong_passwords_for_one_username_reach_argon2_at_most_five_times() {
    let app = TestApp::spawn_with(&[("SHELF_TRUSTED_PROXIES", "127.0.0.1"), WIDE_POOL]).await;
    let port = serve(&app).await;
    let attempts = (1..=15)
        .map(|n| raw_post("/api/token", &from(n), &json!({"username": "admin", "password": format!("wrong {n}!")})))
        .collect();
    let responses = at_once(port, attempts).await;
    assert_eq!(status_counts(&responses), [(401, 5), (429, 10)]);
    for refused in responses.iter().filter(|r| r.status == 429) {
        assert!(refused.header("retry-after").is_some());
        assert_eq!(refused.json()["error"]["code"], "too_many_requests");
    }
    // Locked now, even for the right password.
    let locked = crate::helpers::request_with(
        port,
        "POST",
        "/api/token",
        &from(99),
        Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
    )
    .await;
    assert_eq!(locked.status, 429);
}

#[actix_web::test]
async fn concurrent_wrong_passwords_across_usernames_from_one_client_are_held_to_its_count() {
    let app = TestApp::spawn_with(&[
        ("SHELF_TRUSTED_PROXIES", "127.0.0.1"),
        ("SHELF_LIMIT_LOGIN_CLIENT_FAILURES", "5/15m"),
        WIDE_POOL,
    ])
    .await;
    let port = serve(&app).await;
    let attempts = (1..=15)
        .map(|n| raw_post("/api/session", &from(7), &json!({"username": format!("user{n}"), "password": "wrong!"})))
        .collect();
    assert_eq!(status_counts(&at_once(port, attempts).await), [(401, 5), (429, 10)]);
}

#[actix_web::test]
async fn right_passwords_at_once_are_checked_within_the_count_and_give_it_back() {
    let app = TestApp::spawn_with(&[("SHELF_TRUSTED_PROXIES", "127.0.0.1"), WIDE_POOL]).await;
    app.create_user("reader", Role::User).await;
    let port = serve(&app).await;
    let sign_in = |password: &str, n: usize| {
        raw_post("/api/token", &from(n), &json!({"username": "reader", "password": password}))
    };
    // Five right ones at once fit the count and cost nothing in it...
    let right = at_once(port, (1..=5).map(|n| sign_in(USER_PASSWORD, n)).collect()).await;
    assert_eq!(status_counts(&right), [(200, 5)]);
    // ...so five wrong ones at once are all still checked, and a sixth is not.
    let wrong = at_once(port, (1..=6).map(|n| sign_in("wrong password!", n)).collect()).await;
    assert_eq!(status_counts(&wrong), [(401, 5), (429, 1)]);
}

#[actix_web::test]
async fn wrong_current_passwords_on_me_password_count_as_failures_for_the_username() {
    let app = TestApp::spawn_with(&[("SHELF_TRUSTED_PROXIES", "127.0.0.1"), WIDE_POOL]).await;
    app.create_user("reader", Role::User).await;
    // The holder of a stolen token guesses the password, many at once.
    let stolen = token_of(&app.login("reader", USER_PASSWORD).await);
    let port = serve(&app).await;
    let guesses = (1..=12)
        .map(|n| {
            raw_post(
                "/api/v1/me/password",
                &format!("{}Authorization: Bearer {stolen}\r\n", from(n)),
                &json!({"current_password": format!("guess number {n}"), "new_password": "a-new-password-77"}),
            )
        })
        .collect();
    let responses = at_once(port, guesses).await;
    assert_eq!(status_counts(&responses), [(401, 5), (429, 7)]);
    // The username is locked for sign-in too, whatever the password.
    let sign_in = at_once(
        port,
        vec![raw_post("/api/token", &from(50), &json!({"username": "reader", "password": USER_PASSWORD}))],
    )
    .await;
    assert_eq!(sign_in[0].status, 429);
    // And every guess is on record.
    let admin = token_of(&app.login("admin", ADMIN_PASSWORD).await);
    assert_eq!(app.events(&admin, "type=password_change_failed").await.len(), 5);
    assert_eq!(app.events(&admin, "type=login_locked").await.len(), 1);
}
