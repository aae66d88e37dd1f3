//! Many sign-ins at once: argon2 runs on a bounded pool of its own, and
//! what it cannot get through in a fraction of a second is refused at once
//! with 503 `sign_in_busy` and `Retry-After`, never queued for seconds.

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, TestApp, TestResponse, USER_PASSWORD, header};

/// More concurrent sign-ins than a pool sized from this machine's cores
/// can admit within its wait bound.
fn flood_size() -> usize {
    64 + 8 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

#[track_caller]
fn assert_busy(response: &TestResponse) {
    let error = response.assert_error(503, "sign_in_busy");
    assert!(error.get("details").is_none(), "{error}");
    let wait: u64 = header(response, "retry-after").parse().unwrap();
    assert!(wait >= 1, "Retry-After {wait}");
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[actix_web::test]
async fn sign_ins_beyond_the_hashing_capacity_are_refused_with_503_and_retry_after() {
    let app = TestApp::spawn().await;
    let responses = join_all((0..flood_size()).map(|_| app.login("admin", ADMIN_PASSWORD))).await;
    let (mut signed_in, mut refused) = (0, 0);
    for response in &responses {
        match response.status.as_u16() {
            200 => {
                assert!(response.json()["access_token"].is_string());
                signed_in += 1;
            }
            503 => {
                assert_busy(response);
                refused += 1;
            }
            other => panic!("{other}: {}", String::from_utf8_lossy(&response.body)),
        }
    }
    assert!(signed_in >= 1, "some sign-ins were checked");
    assert!(refused >= 1, "the rest were refused, not queued");

    // The refusal is not a lockout: once the flood is over, sign-ins work.
    assert_eq!(app.login("admin", ADMIN_PASSWORD).await.status, 200);
}

#[actix_web::test]
async fn session_sign_ins_and_unknown_usernames_are_refused_the_same_way() {
    let app = TestApp::spawn().await;
    app.create_user("reader", shelf::auth::Role::User).await;
    let calls = (0..flood_size()).map(|n| {
        let app = &app;
        async move {
            let (path, username, password) = match n % 3 {
                0 => ("/api/session", "reader", USER_PASSWORD),
                1 => ("/api/token", "reader", USER_PASSWORD),
                _ => ("/api/token", "nobody-by-this-name", "some wrong password"),
            };
            (n % 3, app.post(path, None, json!({"username": username, "password": password})).await)
        }
    });
    let mut unknown_refused = 0;
    for (kind, response) in join_all(calls).await {
        match (kind, response.status.as_u16()) {
            (0 | 1, 200) => {}
            // Unknown names fail like wrong passwords; enough of them lock
            // the client or the name out (429) before any hashing.
            (2, 401) => {
                response.assert_error(401, "invalid_credentials");
            }
            (2, 429) => {
                response.assert_error(429, "too_many_requests");
                assert!(header(&response, "retry-after").parse::<u64>().unwrap() >= 1);
            }
            (_, 503) => {
                assert_busy(&response);
                unknown_refused += usize::from(kind == 2);
            }
            (_, other) => panic!("{other}: {}", String::from_utf8_lossy(&response.body)),
        }
    }
    // Refused before anything was looked up in the hash: an unknown name
    // meets the same 503 as a known one.
    assert!(unknown_refused >= 1);
}
