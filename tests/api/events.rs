//! Security events: what records them, what they hold (and never hold),
//! the admin route that reads them, their retention, and their log line.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::test::TestRequest;
use serde_json::{Value, json};
use shelf::audit::store::{self, EventFilter};
use shelf::audit::{Event, NewEvent};
use shelf::auth::Role;

use crate::helpers::{
    ADMIN_PASSWORD, CSRF_COOKIE, SESSION_COOKIE, TestApp, TestResponse, USER_PASSWORD, captured_log, set_cookie_value,
    token_of, with_api_key, with_session,
};

/// The client every recorded action comes from.
const PEER_IP: &str = "203.0.113.7";

fn peer() -> SocketAddr {
    format!("{PEER_IP}:4000").parse().unwrap()
}

fn bearer(req: TestRequest, token: &str) -> TestRequest {
    req.insert_header(("Authorization", format!("Bearer {token}")))
}

/// A value no other test uses, for secrets that must be traceable.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn id_of(event: &Value) -> i64 {
    event["id"].as_i64().unwrap()
}

fn request_id(response: &TestResponse) -> String {
    response.header("x-request-id").expect("every response has X-Request-Id").to_owned()
}

/// The id of the newest stored event, 0 when there is none.
async fn newest_id(app: &TestApp, admin: &str) -> i64 {
    app.events(admin, "").await.first().map_or(0, id_of)
}

/// Sends `req` from [`PEER_IP`]; the response and the events it added,
/// oldest first.
async fn act(app: &TestApp, admin: &str, req: TestRequest) -> (TestResponse, Vec<Value>) {
    let mark = newest_id(app, admin).await;
    let response = app.send(req.peer_addr(peer())).await;
    let mut added: Vec<Value> = app.events(admin, "").await.into_iter().filter(|e| id_of(e) > mark).collect();
    added.reverse();
    (response, added)
}

/// Asserts that the request behind `response` added exactly the events of
/// `types` (in that order), each from [`PEER_IP`] under the response's
/// request id; returns the one of type `wanted`, after checking its user id
/// and details.
#[track_caller]
fn recorded(
    response: &TestResponse,
    added: &[Value],
    types: &[&str],
    wanted: &str,
    user_id: Option<i64>,
    details: Value,
) -> Value {
    let added_types: Vec<&str> = added.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(added_types, types, "events added by this request: {added:#?}");
    let rid = request_id(response);
    for event in added {
        assert_eq!(event["client_ip"], PEER_IP, "{event}");
        assert_eq!(event["request_id"], rid.as_str(), "{event}");
    }
    let matching: Vec<&Value> = added.iter().filter(|e| e["type"] == wanted).collect();
    assert_eq!(matching.len(), 1, "exactly one {wanted}: {added:#?}");
    let event = matching[0].clone();
    assert_eq!(event["user_id"], json!(user_id), "{event}");
    assert_eq!(event["details"], details, "{event}");
    assert!(event["occurred_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{event}");
    event
}

#[actix_web::test]
async fn every_event_type_is_recorded_once_per_action_with_user_client_ip_and_request_id() {
    // One status change a period: the second one trips `rate_limited`.
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_STATUS_CHANGE", "1/1h")]).await;
    let admin = app.admin_token().await;
    let admin_id = app.get("/api/v1/me", Some(&admin)).await.json()["id"].as_i64().unwrap();
    let alice = app.create_user("alice", Role::User).await;
    let lockme = app.create_user("lockme", Role::User).await;
    let new_password = "alices-new-password-5678";
    let mut covered = BTreeSet::new();
    let mut cover = |event: Value| covered.insert(event["type"].as_str().unwrap().to_owned());

    // login_succeeded
    let login = |username: &str, password: &str| {
        TestRequest::post().uri("/api/token").set_json(json!({"username": username, "password": password}))
    };
    let (response, added) = act(&app, &admin, login("alice", USER_PASSWORD)).await;
    assert_eq!(response.status, 200);
    let first_pair = response.json();
    cover(recorded(&response, &added, &["login_succeeded"], "login_succeeded", Some(alice), json!({"via": "token"})));

    // login_failed
    let (response, added) = act(&app, &admin, login("alice", "not-alices-password")).await;
    response.assert_error(401, "invalid_credentials");
    cover(recorded(
        &response,
        &added,
        &["login_failed"],
        "login_failed",
        Some(alice),
        json!({"via": "token", "username": "alice"}),
    ));

    // login_locked: the fifth failure for one username locks it.
    for _ in 1..=4 {
        let (response, added) = act(&app, &admin, login("lockme", "wrong-password")).await;
        response.assert_error(401, "invalid_credentials");
        recorded(
            &response,
            &added,
            &["login_failed"],
            "login_failed",
            Some(lockme),
            json!({"via": "token", "username": "lockme"}),
        );
    }
    let (response, added) = act(&app, &admin, login("lockme", "wrong-password")).await;
    response.assert_error(401, "invalid_credentials");
    cover(recorded(
        &response,
        &added,
        &["login_failed", "login_locked"],
        "login_locked",
        Some(lockme),
        json!({"username": "lockme", "by": "username"}),
    ));
    // The sixth attempt is refused before any check, even with the right
    // password, and is not another failure.
    let (response, added) = act(&app, &admin, login("lockme", USER_PASSWORD)).await;
    response.assert_error(429, "too_many_requests");
    assert!(response.header("retry-after").is_some());
    assert!(
        !added.iter().any(|e| e["type"] == "login_failed" || e["type"] == "login_locked"),
        "a locked attempt is neither a new failure nor a new lock: {added:#?}"
    );

    // token_refreshed
    let first_refresh = first_pair["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: &str| TestRequest::post().uri("/api/token/refresh").set_json(json!({"refresh_token": token}));
    let (response, added) = act(&app, &admin, refresh(&first_refresh)).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    let session_id = added.first().map(|e| e["details"]["session_id"].clone()).unwrap_or_default();
    assert!(session_id.is_i64(), "{added:#?}");
    cover(recorded(
        &response,
        &added,
        &["token_refreshed"],
        "token_refreshed",
        Some(alice),
        json!({"session_id": session_id}),
    ));

    // refresh_token_reused: the spent token again.
    let (response, added) = act(&app, &admin, refresh(&first_refresh)).await;
    response.assert_error(401, "invalid_refresh_token");
    cover(recorded(
        &response,
        &added,
        &["refresh_token_reused"],
        "refresh_token_reused",
        Some(alice),
        json!({"session_id": session_id, "action": "family revoked"}),
    ));

    // session_revoked
    let token = token_of(&app.login("alice", USER_PASSWORD).await);
    let (response, added) = act(&app, &admin, bearer(TestRequest::post().uri("/api/token/revoke"), &token)).await;
    assert_eq!(response.status, 204, "{}", String::from_utf8_lossy(&response.body));
    let revoked = added.first().map(|e| e["details"]["session_ids"].clone()).unwrap_or_default();
    assert!(revoked.as_array().is_some_and(|ids| ids.len() == 1 && ids[0].is_i64()), "{added:#?}");
    cover(recorded(
        &response,
        &added,
        &["session_revoked"],
        "session_revoked",
        Some(alice),
        json!({"session_ids": revoked}),
    ));

    // password_change_failed, then password_changed, with one live session.
    let token = token_of(&app.login("alice", USER_PASSWORD).await);
    let change = |current: &str| {
        bearer(TestRequest::post().uri("/api/v1/me/password"), &token)
            .set_json(json!({"current_password": current, "new_password": new_password}))
    };
    let (response, added) = act(&app, &admin, change("not-alices-password")).await;
    response.assert_error(401, "invalid_credentials");
    cover(recorded(&response, &added, &["password_change_failed"], "password_change_failed", Some(alice), json!({})));
    // The ended sessions are counted in `password_changed`, not recorded as
    // `session_revoked` events of their own.
    let (response, added) = act(&app, &admin, change(USER_PASSWORD)).await;
    assert_eq!(response.status, 204, "{}", String::from_utf8_lossy(&response.body));
    cover(recorded(
        &response,
        &added,
        &["password_changed"],
        "password_changed",
        Some(alice),
        json!({"sessions_ended": 1}),
    ));

    // api_key_created
    let token = token_of(&app.login("alice", new_password).await);
    let create_key = bearer(TestRequest::post().uri("/api/v1/api-keys"), &token)
        .set_json(json!({"name": "reader", "scopes": ["books:read"], "current_password": new_password}));
    let (response, added) = act(&app, &admin, create_key).await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    let created = response.json();
    let key_id = created["id"].as_i64().unwrap();
    let prefix = created["prefix"].as_str().unwrap().to_owned();
    cover(recorded(
        &response,
        &added,
        &["api_key_created"],
        "api_key_created",
        Some(alice),
        json!({"key_id": key_id, "prefix": prefix, "scopes": ["books:read"]}),
    ));

    // api_key_rejected: the right public id with a wrong secret.
    let public_id = prefix.strip_prefix("shelf_").unwrap().to_owned();
    let wrong_key = format!("{prefix}_{}", "A".repeat(43));
    let (response, added) = act(&app, &admin, with_api_key(TestRequest::get().uri("/api/v1/books"), &wrong_key)).await;
    response.assert_error(401, "invalid_api_key");
    cover(recorded(
        &response,
        &added,
        &["api_key_rejected"],
        "api_key_rejected",
        Some(alice),
        json!({"reason": "wrong_secret", "public_id": public_id, "count": 1}),
    ));

    // api_key_revoked
    let revoke_key = bearer(TestRequest::delete().uri(&format!("/api/v1/api-keys/{key_id}")), &token);
    let (response, added) = act(&app, &admin, revoke_key).await;
    assert_eq!(response.status, 204, "{}", String::from_utf8_lossy(&response.body));
    cover(recorded(&response, &added, &["api_key_revoked"], "api_key_revoked", Some(alice), json!({"key_id": key_id})));

    // csrf_rejected: a cookie write without the token.
    let book = app.book("Dune", "Frank Herbert").await;
    let (cookie, _csrf) = app.cookie_session("alice", new_password).await;
    let write = with_session(TestRequest::post().uri("/api/v1/change_status"), &cookie, None)
        .set_json(json!({"book_id": book, "status": "reading"}));
    let (response, added) = act(&app, &admin, write).await;
    response.assert_error(403, "csrf_failed");
    cover(recorded(
        &response,
        &added,
        &["csrf_rejected"],
        "csrf_rejected",
        Some(alice),
        json!({"method": "POST", "token_sent": false, "count": 1}),
    ));

    // permission_denied: a user adding a book.
    let add_book = bearer(TestRequest::post().uri("/api/v1/books"), &token)
        .set_json(json!({"title": "Emma", "author": "Jane Austen"}));
    let (response, added) = act(&app, &admin, add_book).await;
    response.assert_error(403, "forbidden");
    cover(recorded(
        &response,
        &added,
        &["permission_denied"],
        "permission_denied",
        Some(alice),
        json!({"required": "books:write", "method": "POST", "route": "/api/v1/books", "count": 1}),
    ));

    // status_change
    let set_status = bearer(TestRequest::post().uri("/api/v1/change_status"), &token)
        .set_json(json!({"book_id": book, "status": "reading"}));
    let (response, added) = act(&app, &admin, set_status).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    cover(recorded(
        &response,
        &added,
        &["status_change"],
        "status_change",
        Some(alice),
        json!({"book_id": book, "status": "reading"}),
    ));

    // rate_limited: once per key and window, however often the limit is hit.
    for attempt in 0..3 {
        let set_status = bearer(TestRequest::post().uri("/api/v1/change_status"), &token)
            .set_json(json!({"book_id": book, "status": "read"}));
        let (response, added) = act(&app, &admin, set_status).await;
        response.assert_error(429, "too_many_requests");
        if attempt == 0 {
            let details =
                json!({"limit": "status_change", "quota": "status_change-1h", "key": format!("user:{alice}")});
            cover(recorded(&response, &added, &["rate_limited"], "rate_limited", Some(alice), details));
        } else {
            assert!(added.is_empty(), "{added:#?}");
        }
    }

    // user_created, role_changed, user_deleted: by the admin.
    let new_user = bearer(TestRequest::post().uri("/api/v1/users"), &admin)
        .set_json(json!({"username": "dave", "password": "daves-password-9876"}));
    let (response, added) = act(&app, &admin, new_user).await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    let dave = response.json()["id"].as_i64().unwrap();
    cover(recorded(
        &response,
        &added,
        &["user_created"],
        "user_created",
        Some(admin_id),
        json!({"created_user_id": dave, "role": "user"}),
    ));
    let promote = bearer(TestRequest::put().uri(&format!("/api/v1/users/{dave}/role")), &admin)
        .set_json(json!({"role": "admin"}));
    let (response, added) = act(&app, &admin, promote).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    cover(recorded(
        &response,
        &added,
        &["role_changed"],
        "role_changed",
        Some(admin_id),
        json!({"target_user_id": dave, "role": "admin"}),
    ));
    let remove = bearer(TestRequest::delete().uri(&format!("/api/v1/users/{dave}")), &admin);
    let (response, added) = act(&app, &admin, remove).await;
    assert_eq!(response.status, 204, "{}", String::from_utf8_lossy(&response.body));
    cover(recorded(
        &response,
        &added,
        &["user_deleted"],
        "user_deleted",
        Some(admin_id),
        json!({"target_user_id": dave}),
    ));

    // book_created, book_updated, book_deleted
    let body = json!({"title": "Middlemarch", "author": "George Eliot"});
    let create = bearer(TestRequest::post().uri("/api/v1/books"), &admin).set_json(&body);
    let (response, added) = act(&app, &admin, create).await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    let new_book = response.json()["id"].as_i64().unwrap();
    cover(recorded(&response, &added, &["book_created"], "book_created", Some(admin_id), json!({"book_id": new_book})));
    let update = bearer(TestRequest::put().uri(&format!("/api/v1/books/{new_book}")), &admin)
        .set_json(json!({"title": "Middlemarch", "author": "George Eliot", "rating": 4.5}));
    let (response, added) = act(&app, &admin, update).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    cover(recorded(&response, &added, &["book_updated"], "book_updated", Some(admin_id), json!({"book_id": new_book})));
    let delete = bearer(TestRequest::delete().uri(&format!("/api/v1/books/{new_book}")), &admin);
    let (response, added) = act(&app, &admin, delete).await;
    assert_eq!(response.status, 204, "{}", String::from_utf8_lossy(&response.body));
    cover(recorded(&response, &added, &["book_deleted"], "book_deleted", Some(admin_id), json!({"book_id": new_book})));

    // The Redis outage events need a Redis to stop (tests/api/limits_redis.rs);
    // drops need a full queue (below).
    let elsewhere = [Event::RateLimitStoreUnavailable, Event::RateLimitStoreRecovered, Event::SecurityEventsDropped];
    let every: BTreeSet<String> =
        Event::ALL.iter().filter(|e| !elsewhere.contains(e)).map(|e| e.as_str().to_owned()).collect();
    assert_eq!(covered, every, "every event type has a triggering action in this test");
}

#[actix_web::test]
async fn no_event_or_log_line_contains_a_password_token_cookie_csrf_value_or_api_key() {
    let app = TestApp::spawn().await;
    let mut secrets: Vec<String> = Vec::new();
    let admin_pair = app.token_pair("admin", ADMIN_PASSWORD).await;
    let admin = admin_pair["access_token"].as_str().unwrap().to_owned();
    secrets.push(admin.clone());
    secrets.push(admin_pair["refresh_token"].as_str().unwrap().to_owned());

    let password = unique("first-password");
    let new_password = unique("second-password");
    let wrong_password = unique("wrong-password");
    let wrong_current = unique("wrong-current");
    secrets.extend([password.clone(), new_password.clone(), wrong_password.clone(), wrong_current.clone()]);
    let created = app.post("/api/v1/users", Some(&admin), json!({"username": "sam", "password": password})).await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));

    // Passwords: a failed and a good login.
    app.login("sam", &wrong_password).await.assert_error(401, "invalid_credentials");
    let pair = app.token_pair("sam", &password).await;
    let first_refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    secrets.push(pair["access_token"].as_str().unwrap().to_owned());
    secrets.push(first_refresh.clone());

    // Refresh, then reuse the spent refresh token.
    let refreshed = app.post("/api/token/refresh", None, json!({"refresh_token": first_refresh})).await;
    assert_eq!(refreshed.status, 200, "{}", String::from_utf8_lossy(&refreshed.body));
    let refreshed = refreshed.json();
    secrets.push(refreshed["access_token"].as_str().unwrap().to_owned());
    secrets.push(refreshed["refresh_token"].as_str().unwrap().to_owned());
    app.post("/api/token/refresh", None, json!({"refresh_token": first_refresh}))
        .await
        .assert_error(401, "invalid_refresh_token");

    let pair = app.token_pair("sam", &password).await;
    let token = pair["access_token"].as_str().unwrap().to_owned();
    secrets.push(token.clone());
    secrets.push(pair["refresh_token"].as_str().unwrap().to_owned());

    // A cookie session: a write with its CSRF token (creating a key), one
    // with a wrong token.
    let (cookie, csrf) = app.cookie_session("sam", &password).await;
    secrets.extend([cookie.clone(), csrf.clone()]);
    let response = app
        .send(with_session(TestRequest::post().uri("/api/v1/api-keys"), &cookie, Some(&csrf)).set_json(json!({
            "name": "integration", "scopes": ["books:read", "library:write"], "current_password": password,
        })))
        .await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    let key = response.json()["key"].as_str().unwrap().to_owned();
    let key_id = response.json()["id"].as_i64().unwrap();
    let wrong_csrf = "0".repeat(64);
    app.send(
        with_session(TestRequest::post().uri("/api/v1/api-keys"), &cookie, Some(&wrong_csrf))
            .set_json(json!({"name": "never", "scopes": ["books:read"], "current_password": password})),
    )
    .await
    .assert_error(403, "csrf_failed");

    // API keys: used, used without the scope, used with a wrong secret,
    // revoked, used after revocation.
    let (public, secret) = key.strip_prefix("shelf_").unwrap().split_once('_').unwrap();
    let wrong_secret = unique("x").replace('-', "");
    let wrong_key = format!("shelf_{public}_{wrong_secret}");
    secrets.extend([key.clone(), secret.to_owned(), wrong_key.clone(), wrong_secret.clone()]);
    assert_eq!(app.send(with_api_key(TestRequest::get().uri("/api/v1/books"), &key)).await.status, 200);
    app.send(
        with_api_key(TestRequest::post().uri("/api/v1/books"), &key)
            .set_json(json!({"title": "Emma", "author": "Jane Austen"})),
    )
    .await
    .assert_error(403, "forbidden");
    app.send(with_api_key(TestRequest::get().uri("/api/v1/books"), &wrong_key))
        .await
        .assert_error(401, "invalid_api_key");
    assert_eq!(app.delete(&format!("/api/v1/api-keys/{key_id}"), Some(&token)).await.status, 204);
    app.send(with_api_key(TestRequest::get().uri("/api/v1/books"), &key)).await.assert_error(401, "invalid_api_key");

    // Password change: a wrong current password, then the right one.
    let change = |current: &str| json!({"current_password": current, "new_password": new_password});
    app.post("/api/v1/me/password", Some(&token), change(&wrong_current))
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(app.post("/api/v1/me/password", Some(&token), change(&password)).await.status, 204);

    // After the change: a key made over a bearer token, a token session
    // revoked with its refresh token named in the body, and a cookie
    // session (both cookies read from the response) signed out.
    let pair = app.token_pair("sam", &new_password).await;
    let token = pair["access_token"].as_str().unwrap().to_owned();
    let refresh_token = pair["refresh_token"].as_str().unwrap().to_owned();
    secrets.extend([token.clone(), refresh_token.clone()]);
    let second_key = app.api_key_with(&token, &new_password, &["library:read"]).await;
    secrets.push(second_key.clone());
    secrets.push(second_key.splitn(3, '_').nth(2).unwrap().to_owned());
    assert_eq!(app.send(with_api_key(TestRequest::get().uri("/api/v1/tags"), &second_key)).await.status, 200);
    let revoked = app.post("/api/token/revoke", Some(&token), json!({"refresh_token": refresh_token})).await;
    assert_eq!(revoked.status, 204, "{}", String::from_utf8_lossy(&revoked.body));
    let session = app.post("/api/session", None, json!({"username": "sam", "password": new_password})).await;
    assert_eq!(session.status, 200, "{}", String::from_utf8_lossy(&session.body));
    let cookie = set_cookie_value(&session, SESSION_COOKIE).expect("a session cookie");
    let csrf = set_cookie_value(&session, CSRF_COOKIE).expect("a CSRF cookie");
    assert_eq!(session.json()["csrf_token"], csrf.as_str());
    secrets.extend([cookie.clone(), csrf.clone()]);
    assert_eq!(
        app.send(with_session(TestRequest::delete().uri("/api/session"), &cookie, Some(&csrf))).await.status,
        204
    );

    // Everything stored: through the admin route, and the raw rows.
    let events = app.events(&admin, "").await;
    let types: BTreeSet<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for expected in [
        "login_succeeded",
        "login_failed",
        "token_refreshed",
        "refresh_token_reused",
        "csrf_rejected",
        "api_key_created",
        "api_key_rejected",
        "api_key_revoked",
        "permission_denied",
        "password_change_failed",
        "password_changed",
        "session_revoked",
    ] {
        assert!(types.contains(expected), "the scenario records {expected}: {types:?}");
    }
    let served = serde_json::to_string(&events).unwrap();
    let rows =
        shelf::db::run(&app.pool, |conn| store::query(conn, EventFilter { limit: 10_000, ..Default::default() }))
            .await
            .unwrap();
    let stored = format!("{rows:?}");
    let log = captured_log();
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(!served.contains(secret.as_str()), "a stored event contains the secret {secret}: {served}");
        assert!(!stored.contains(secret.as_str()), "a stored row contains the secret {secret}: {stored}");
        let leaked: Vec<&String> = log.iter().filter(|line| line.contains(secret.as_str())).collect();
        assert!(leaked.is_empty(), "the log contains the secret {secret}: {leaked:#?}");
    }
}

#[actix_web::test]
async fn a_client_failing_for_many_usernames_is_locked_once_and_then_refused_without_new_failures() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_user("alice", Role::User).await;
    let login = |username: &str, password: &str| {
        TestRequest::post().uri("/api/token").set_json(json!({"username": username, "password": password}))
    };
    // Default SHELF_LIMIT_LOGIN_CLIENT_FAILURES: 20 per 15 minutes.
    for n in 1..=19 {
        let (response, added) = act(&app, &admin, login(&format!("nobody{n}"), "wrong-password")).await;
        response.assert_error(401, "invalid_credentials");
        recorded(&response, &added, &["login_failed"], "login_failed", None, json!({"via": "token", "username": null}));
    }
    let (response, added) = act(&app, &admin, login("nobody20", "wrong-password")).await;
    response.assert_error(401, "invalid_credentials");
    recorded(
        &response,
        &added,
        &["login_failed", "login_locked"],
        "login_locked",
        None,
        json!({"username": null, "by": "client"}),
    );
    // Locked out: even a right password for another user, and nothing new
    // is recorded as a failure or a lock.
    let (response, added) = act(&app, &admin, login("alice", USER_PASSWORD)).await;
    response.assert_error(429, "too_many_requests");
    assert!(
        !added.iter().any(|e| e["type"] == "login_failed" || e["type"] == "login_locked"),
        "a refused attempt is neither a failure nor a lock: {added:#?}"
    );
    assert_eq!(app.events(&admin, "type=login_locked").await.len(), 1);
    // Another client is not affected.
    assert_eq!(app.login("alice", USER_PASSWORD).await.status, 200);
}

/// `GET /api/v1/admin/security-events?{query}` with `token`.
async fn list(app: &TestApp, token: Option<&str>, query: &str) -> TestResponse {
    app.get(&format!("/api/v1/admin/security-events?{query}"), token).await
}

#[actix_web::test]
async fn the_admin_route_filters_pages_newest_first_and_rejects_bad_queries_and_non_admins() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let admin_id = app.get("/api/v1/me", Some(&admin)).await.json()["id"].as_i64().unwrap();
    let alice = app.create_user("alice", Role::User).await;
    let alice_token = token_of(&app.login("alice", USER_PASSWORD).await);
    for _ in 0..3 {
        app.login("alice", "not-alices-password").await.assert_error(401, "invalid_credentials");
    }
    app.login("nobody", "whatever-password").await.assert_error(401, "invalid_credentials");

    // A plain user is refused, and that is recorded.
    let refused = list(&app, Some(&alice_token), "").await;
    refused.assert_error(403, "forbidden");
    let denied = app.events(&admin, "type=permission_denied").await;
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert_eq!(denied[0]["user_id"], alice);
    assert_eq!(denied[0]["request_id"], request_id(&refused).as_str());
    assert_eq!(
        denied[0]["details"],
        json!({"required": "admin", "method": "GET", "route": "/api/v1/admin/security-events", "count": 1})
    );
    list(&app, None, "").await.assert_error(401, "authentication_required");

    // Everything, newest first: admin login, alice login, 3 + 1 failures,
    // the refusal.
    let all = app.events(&admin, "").await;
    let ids: Vec<i64> = all.iter().map(id_of).collect();
    assert_eq!(all.len(), 7, "{all:#?}");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let response = list(&app, Some(&admin), "").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["next_before"], Value::Null, "one page holds everything");
    assert!(response.header("cache-control").is_some_and(|c| c.contains("private") || c.contains("no-store")));

    // By type, by user, by both.
    let failed = app.events(&admin, "type=login_failed").await;
    assert_eq!(failed.len(), 4);
    assert!(failed.iter().all(|e| e["type"] == "login_failed"));
    let of_alice = app.events(&admin, &format!("user_id={alice}")).await;
    assert_eq!(of_alice.len(), 5, "alice's login, 3 failures, the refusal: {of_alice:#?}");
    assert!(of_alice.iter().all(|e| e["user_id"] == alice));
    let admin_logins = app.events(&admin, &format!("type=login_succeeded&user_id={admin_id}")).await;
    assert_eq!(admin_logins.len(), 1);
    assert!(app.events(&admin, &format!("type=status_change&user_id={alice}")).await.is_empty());

    // Since: a future time gives none, a past one everything.
    assert!(app.events(&admin, "since=2999-01-01T00:00:00Z").await.is_empty());
    assert_eq!(app.events(&admin, "since=2000-01-01T00:00:00Z").await, all);
    assert_eq!(app.events(&admin, "since=2000-01-01T00:00:00%2B02:00").await, all);

    // Paging: two at a time, newest first, no overlap, until null.
    let mut walked: Vec<i64> = Vec::new();
    let mut query = "limit=2".to_owned();
    for _ in 0..10 {
        let response = list(&app, Some(&admin), &query).await;
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
        let page = response.json();
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        walked.extend(events.iter().map(id_of));
        match page["next_before"].as_i64() {
            Some(before) => {
                assert_eq!(events.len(), 2, "a page with a successor is full: {page}");
                assert_eq!(before, id_of(events.last().unwrap()), "{page}");
                query = format!("limit=2&before={before}");
            }
            None => {
                assert!(page["next_before"].is_null(), "{page}");
                break;
            }
        }
    }
    assert_eq!(walked, ids, "the pages, in order, are exactly everything newest first");

    // Paging combines with a filter.
    let first = list(&app, Some(&admin), "type=login_failed&limit=3").await.json();
    let before = first["next_before"].as_i64().expect("a full page has a successor");
    let rest = list(&app, Some(&admin), &format!("type=login_failed&limit=3&before={before}")).await.json();
    let paged: Vec<i64> =
        first["events"].as_array().unwrap().iter().chain(rest["events"].as_array().unwrap()).map(id_of).collect();
    assert_eq!(paged, failed.iter().map(id_of).collect::<Vec<_>>());
    assert_eq!(rest["next_before"], Value::Null);

    // Invalid queries. A validation error names the parameter the client
    // sent; mismatches are collected so every query is checked.
    let mut misnamed = Vec::new();
    for (query, code, field) in [
        ("limit=0", "validation_failed", Some("limit")),
        ("limit=501", "validation_failed", Some("limit")),
        ("type=not_a_type", "validation_failed", Some("type")),
        ("since=yesterday", "validation_failed", Some("since")),
        ("user_id=abc", "validation_failed", Some("user_id")),
        ("limit=abc", "validation_failed", Some("limit")),
        ("unknown=1", "validation_failed", Some("unknown")),
    ] {
        let error = list(&app, Some(&admin), query).await.assert_error(400, code);
        if let Some(field) = field {
            let fields: Vec<&Value> = error["details"].as_array().unwrap().iter().map(|d| &d["field"]).collect();
            if fields != [field] {
                misnamed.push(format!("{query}: expected field {field:?}, got {error}"));
            }
        }
    }
    assert_eq!(list(&app, Some(&admin), "limit=500").await.status, 200);
    assert_eq!(list(&app, Some(&admin), "limit=1").await.status, 200);
    assert!(misnamed.is_empty(), "validation details name the query parameter: {misnamed:#?}");
}

fn stored_event(occurred_at: i64, request_id: &str) -> NewEvent {
    NewEvent {
        occurred_at,
        event: Event::LoginFailed,
        user_id: None,
        client_ip: Some("198.51.100.1".to_owned()),
        request_id: Some(request_id.to_owned()),
        details: json!({"via": "token", "username": null}),
    }
}

#[actix_web::test]
async fn events_older_than_the_retention_period_are_pruned_at_start() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let now = shelf::db::now();
    let (old, recent) = (unique("old"), unique("recent"));
    let rows = vec![stored_event(now - 2 * 3600, &old), stored_event(now - 600, &recent)];
    shelf::db::run(&app.pool, move |conn| Ok(store::insert(conn, &rows)?)).await.unwrap();
    let request_ids = |events: &[Value]| -> Vec<String> {
        events.iter().filter_map(|e| e["request_id"].as_str().map(str::to_owned)).collect()
    };
    let before = request_ids(&app.events(&admin, "").await);
    assert!(before.contains(&old) && before.contains(&recent), "{before:?}");

    // Another instance with a one-hour retention prunes as it starts;
    // reading through it waits for its writer.
    let (_state, call) = app.sibling(&[("SHELF_SECURITY_EVENT_RETENTION", "1h")]).await;
    let request = bearer(TestRequest::get().uri("/api/v1/admin/security-events?limit=500"), &admin);
    let response = call(request.to_request()).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    let after = request_ids(response.json()["events"].as_array().unwrap());
    assert!(!after.contains(&old), "the two-hour-old event is pruned: {after:?}");
    assert!(after.contains(&recent), "the ten-minute-old event stays: {after:?}");
    let logins = app.events(&admin, "type=login_succeeded").await;
    assert_eq!(logins.len(), 1, "the admin's own login stays: {logins:#?}");
}

#[actix_web::test]
async fn prune_batch_deletes_only_rows_older_than_the_cutoff() {
    let app = TestApp::spawn().await;
    let cutoff = 1_000_000;
    let rows = vec![
        stored_event(cutoff - 3600, "older-by-an-hour"),
        stored_event(cutoff - 1, "older-by-a-second"),
        stored_event(cutoff, "at-the-cutoff"),
        stored_event(cutoff + 1, "after-the-cutoff"),
        stored_event(shelf::db::now(), "now"),
    ];
    let (first, second, left) = shelf::db::run(&app.pool, move |conn| {
        store::insert(conn, &rows)?;
        let first = store::prune_batch(conn, cutoff)?;
        let second = store::prune_batch(conn, cutoff)?;
        let left = store::query(conn, EventFilter { limit: 500, ..Default::default() })?;
        Ok((first, second, left))
    })
    .await
    .unwrap();
    assert_eq!(first, 2, "the two older rows");
    assert_eq!(second, 0, "nothing older is left");
    let mut left: Vec<(i64, String)> = left.into_iter().map(|r| (r.occurred_at, r.request_id.unwrap())).collect();
    left.sort();
    assert_eq!(
        left,
        [
            (cutoff, "at-the-cutoff".to_owned()),
            (cutoff + 1, "after-the-cutoff".to_owned()),
            (left[2].0, "now".to_owned())
        ]
    );
}

/// The `security` log lines written for request `rid`.
fn security_lines(rid: &str) -> Vec<String> {
    captured_log()
        .into_iter()
        .filter(|line| line.starts_with("security: ") && line.contains(&format!(" request_id={rid} ")))
        .collect()
}

#[actix_web::test]
async fn every_event_has_one_security_log_line_that_a_username_cannot_split() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.create_user("alice", Role::User).await;
    let from_peer = |req: TestRequest| req.peer_addr(peer());
    let login = |username: &str, password: &str| {
        from_peer(TestRequest::post().uri("/api/token").set_json(json!({"username": username, "password": password})))
    };
    assert_eq!(app.send(login("alice", USER_PASSWORD)).await.status, 200);
    app.send(login("alice", "not-alices-password")).await.assert_error(401, "invalid_credentials");
    let book = bearer(from_peer(TestRequest::post().uri("/api/v1/books")), &admin)
        .set_json(json!({"title": "Dune", "author": "Frank Herbert"}));
    assert_eq!(app.send(book).await.status, 201);

    // A username that tries to start a log line of its own.
    let marker = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let username = format!("ghost-{marker}\nsecurity: type=login_succeeded user_id=1");
    assert!(username.len() <= 64);
    // Refused as input (control characters), so it never reaches an event.
    let forged = app.send(login(&username, "whatever-password")).await;
    forged.assert_error(400, "validation_failed");

    // One line per stored event, saying exactly what is stored.
    let events = app.events(&admin, "").await;
    assert_eq!(events.len(), 4, "{events:#?}");
    let dash = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for event in &events {
        let rid = event["request_id"].as_str().expect("every event here came from a request");
        let prefix = format!(
            "security: type={} user_id={} ip={} request_id={rid} details=",
            dash(&event["type"]),
            dash(&event["user_id"]),
            dash(&event["client_ip"]),
        );
        let lines: Vec<String> = security_lines(rid)
            .into_iter()
            .filter(|l| l.starts_with(&format!("security: type={} ", dash(&event["type"]))))
            .collect();
        assert_eq!(lines.len(), 1, "one line for {event}: {lines:#?}");
        let details = lines[0].strip_prefix(&prefix).unwrap_or_else(|| panic!("{:?} starts with {prefix:?}", lines[0]));
        let details: Value =
            serde_json::from_str(details).unwrap_or_else(|e| panic!("details are JSON ({e}): {details}"));
        assert_eq!(details, event["details"], "{}", lines[0]);
    }
    let peer_lines = events.iter().filter(|e| e["client_ip"] == PEER_IP).count();
    assert_eq!(peer_lines, 3, "every request but the admin's own login came from the peer");

    // The forged attempt left no security line at all, and no line split.
    let rid = request_id(&forged);
    assert!(security_lines(&rid).is_empty());
    let log = captured_log();
    for line in log.iter().filter(|l| l.contains(&rid) || l.contains(&marker)) {
        assert!(!line.contains('\n') && !line.contains('\r'), "a client value split a log line: {line:?}");
    }
    assert!(!log.iter().any(|l| l.contains(&username)), "the raw username reached the log");
}

#[actix_web::test]
async fn a_full_event_queue_drops_rows_counts_them_and_says_so() {
    let app = TestApp::spawn().await;
    let telemetry = shelf::telemetry::Telemetry::on();
    let events = shelf::audit::SecurityEvents::start_with_queue(
        app.pool.clone(),
        Duration::from_secs(3600),
        4,
        telemetry.clone(),
    );
    let context = shelf::audit::EventContext::default();
    // Far faster than one writer can store them, one at a time.
    for n in 0..2000 {
        events.record(&context, Event::StatusChange, None, json!({"n": n}));
    }
    events.flush().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (stored, dropped) = loop {
        let rows =
            shelf::db::run(&app.pool, |conn| store::query(conn, EventFilter { limit: 10_000, ..Default::default() }))
                .await
                .unwrap();
        let stored = rows.iter().filter(|r| r.event_type == "status_change").count() as u64;
        let dropped: u64 = rows
            .iter()
            .filter(|r| r.event_type == "security_events_dropped")
            .map(|r| serde_json::from_str::<Value>(&r.details).unwrap()["count"].as_u64().unwrap())
            .sum();
        if stored + dropped == 2000 || std::time::Instant::now() > deadline {
            break (stored, dropped);
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(dropped > 0, "the queue of 4 never filled");
    assert_eq!(stored + dropped, 2000, "every event was either stored or counted as dropped");
    assert!(
        captured_log().iter().any(|line| line.contains("security event queue was full")),
        "no log line says events were dropped"
    );
    let metrics = telemetry.render(shelf::db::pool_gauges(&app.pool)).unwrap();
    let count = |series: &str| {
        metrics.lines().find_map(|l| l.strip_prefix(series)?.trim().parse::<u64>().ok()).unwrap_or_default()
    };
    assert_eq!(count("shelf_security_events_dropped_total "), dropped, "{metrics}");
    assert_eq!(count("shelf_security_events_total{type=\"status_change\"} "), 2000, "{metrics}");
}
