//! Refresh-token families, revocation, cookie sessions with CSRF, and the
//! one-credential rule.

use actix_web::test::TestRequest;
use serde_json::{Value, json};
use shelf::auth::Role;

use crate::helpers::{
    ADMIN_PASSWORD, CSRF_COOKIE, SESSION_COOKIE, TestApp, TestResponse, USER_PASSWORD, set_cookie_header,
    set_cookie_value, with_session,
};

async fn refresh(app: &TestApp, refresh_token: &str) -> TestResponse {
    app.post("/api/token/refresh", None, json!({"refresh_token": refresh_token})).await
}

fn field(pair: &Value, name: &str) -> String {
    pair[name].as_str().unwrap().to_owned()
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.get("/api/v1/me", Some(token)).await.status.as_u16()
}

#[actix_web::test]
async fn login_returns_an_opaque_refresh_token_of_256_bits() {
    let app = TestApp::spawn().await;
    let pair = app.token_pair("admin", ADMIN_PASSWORD).await;
    let refresh_token = field(&pair, "refresh_token");
    assert!(refresh_token.len() >= 43 && refresh_token.bytes().all(|b| b.is_ascii_alphanumeric()), "{refresh_token}");
    assert!(!refresh_token.contains('.'), "opaque, not a JWT");
    // Stored only as a hash.
    let stored: Vec<String> = shelf::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use shelf::db::schema::refresh_tokens;
        Ok(refresh_tokens::table.select(refresh_tokens::token_hash).load(conn)?)
    })
    .await
    .unwrap();
    assert_eq!(stored, vec![shelf::secrets::sha256_hex(&refresh_token)]);
}

#[actix_web::test]
async fn refreshing_spends_the_token_and_issues_a_working_pair() {
    let app = TestApp::spawn().await;
    let first = app.token_pair("admin", ADMIN_PASSWORD).await;
    let response = refresh(&app, &field(&first, "refresh_token")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("content-encoding"), Some("identity"));
    let second = response.json();
    assert_eq!(second["token_type"], "Bearer");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(me_status(&app, &field(&second, "access_token")).await, 200);
    // The earlier access token of the same session keeps working until it expires.
    assert_eq!(me_status(&app, &field(&first, "access_token")).await, 200);
}

#[actix_web::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let first = app.token_pair("admin", ADMIN_PASSWORD).await;
    let second = refresh(&app, &field(&first, "refresh_token")).await.json();
    let other_login = app.token_pair("admin", ADMIN_PASSWORD).await;

    // The thief replays the spent token.
    refresh(&app, &field(&first, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
    // The sibling (its successor) dies with it, and so do the family's access tokens.
    refresh(&app, &field(&second, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
    assert_eq!(me_status(&app, &field(&second, "access_token")).await, 401);
    assert_eq!(me_status(&app, &field(&first, "access_token")).await, 401);
    // Another sign-in of the same user is another family and lives on.
    assert_eq!(me_status(&app, &field(&other_login, "access_token")).await, 200);
    assert_eq!(refresh(&app, &field(&other_login, "refresh_token")).await.status, 200);
}

#[actix_web::test]
async fn concurrent_refreshes_of_one_token_rotate_at_most_once() {
    let app = TestApp::spawn().await;
    let pair = app.token_pair("admin", ADMIN_PASSWORD).await;
    let token = field(&pair, "refresh_token");
    let (a, b) = futures_util::future::join(refresh(&app, &token), refresh(&app, &token)).await;
    let statuses = [a.status.as_u16(), b.status.as_u16()];
    assert!(statuses.contains(&401), "{statuses:?}");
    // Whichever won, the family is revoked by the loser's reuse.
    for response in [a, b].into_iter().filter(|r| r.status == 200) {
        refresh(&app, &field(&response.json(), "refresh_token")).await.assert_error(401, "invalid_refresh_token");
    }
}

#[actix_web::test]
async fn unknown_or_malformed_refresh_tokens_are_refused() {
    let app = TestApp::spawn().await;
    // Anything that is not a live refresh token is the 401 a client's
    // "sign in again" branch expects, never a 400.
    for token in ["not-a-token", "", " ", &"x".repeat(5000), "shelf_0123456789abcdef_secret"] {
        refresh(&app, token).await.assert_error(401, "invalid_refresh_token");
    }
    // An access token is not a refresh token.
    let pair = app.token_pair("admin", ADMIN_PASSWORD).await;
    refresh(&app, &field(&pair, "access_token")).await.assert_error(401, "invalid_refresh_token");
    // A body without the field is still malformed.
    app.post("/api/token/refresh", None, json!({})).await.assert_error(400, "validation_failed");
}

/// Moves every session's start `seconds` into the past.
async fn backdate_sessions(app: &TestApp, seconds: i64) {
    shelf::db::run(&app.pool, move |conn| {
        use diesel::prelude::*;
        use shelf::db::schema::sessions;
        diesel::update(sessions::table).set(sessions::created_at.eq(sessions::created_at - seconds)).execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
}

#[actix_web::test]
async fn a_refresh_family_ends_at_the_maximum_age_however_often_it_is_refreshed() {
    let app = TestApp::spawn().await;
    let mut pair = app.token_pair("admin", ADMIN_PASSWORD).await;
    for _ in 0..3 {
        let next = refresh(&app, &field(&pair, "refresh_token")).await;
        assert_eq!(next.status, 200);
        pair = next.json();
    }
    // The family was signed in to 90 days (the default maximum) ago.
    backdate_sessions(&app, 90 * 86_400).await;
    refresh(&app, &field(&pair, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
}

#[actix_web::test]
async fn refresh_tokens_never_outlive_the_family_and_cookie_sessions_never_outlive_the_maximum_age() {
    let app = TestApp::spawn_with(&[("SHELF_SESSION_MAX_AGE", "10m"), ("SHELF_SESSION_TTL", "12h")]).await;
    let pair = app.token_pair("admin", ADMIN_PASSWORD).await;
    backdate_sessions(&app, 300).await;
    let next = refresh(&app, &field(&pair, "refresh_token")).await;
    assert_eq!(next.status, 200);
    let latest = shelf::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use shelf::db::schema::{refresh_tokens, sessions};
        Ok(refresh_tokens::table
            .inner_join(sessions::table)
            .order(refresh_tokens::id.desc())
            .select((refresh_tokens::expires_at, sessions::created_at))
            .first::<(i64, i64)>(conn)?)
    })
    .await
    .unwrap();
    assert!(latest.0 <= latest.1 + 600, "the new refresh token expires {} s after the sign-in", latest.0 - latest.1);

    let response = app.post("/api/session", None, json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
    assert_eq!(response.status, 200);
    assert!(response.json()["expires_in"].as_i64().unwrap() <= 600);
    assert!(set_cookie_header(&response, SESSION_COOKIE).unwrap().contains("Max-Age=600"));
}

#[actix_web::test]
async fn an_expired_refresh_token_is_refused() {
    let app = TestApp::spawn().await;
    let pair = app.token_pair("admin", ADMIN_PASSWORD).await;
    shelf::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use shelf::db::schema::refresh_tokens;
        diesel::update(refresh_tokens::table).set(refresh_tokens::expires_at.eq(shelf::db::now() - 1)).execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    refresh(&app, &field(&pair, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
}

#[actix_web::test]
async fn revoke_ends_the_session_and_its_refresh_and_access_tokens() {
    let app = TestApp::spawn().await;
    let pair = app.token_pair("admin", ADMIN_PASSWORD).await;
    let other = app.token_pair("admin", ADMIN_PASSWORD).await;
    let access = field(&pair, "access_token");
    let response = app.post("/api/token/revoke", Some(&access), json!({})).await;
    assert_eq!(response.status, 204, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(me_status(&app, &access).await, 401);
    refresh(&app, &field(&pair, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
    assert_eq!(me_status(&app, &field(&other, "access_token")).await, 200, "other sessions live on");
}

#[actix_web::test]
async fn revoke_without_a_body_and_revoke_of_a_named_refresh_token() {
    let app = TestApp::spawn().await;
    let phone = app.token_pair("admin", ADMIN_PASSWORD).await;
    let laptop = app.token_pair("admin", ADMIN_PASSWORD).await;
    // No body at all.
    let response = app
        .send(
            TestRequest::post()
                .uri("/api/token/revoke")
                .insert_header(("Authorization", format!("Bearer {}", field(&laptop, "access_token")))),
        )
        .await;
    assert_eq!(response.status, 204);
    // From a fresh login, end the phone's session by naming its refresh token.
    let desk = app.token_pair("admin", ADMIN_PASSWORD).await;
    let body = json!({"refresh_token": field(&phone, "refresh_token")});
    assert_eq!(app.post("/api/token/revoke", Some(&field(&desk, "access_token")), body).await.status, 204);
    refresh(&app, &field(&phone, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
    assert_eq!(me_status(&app, &field(&phone, "access_token")).await, 401);
}

#[actix_web::test]
async fn revoke_cannot_end_another_users_session() {
    let app = TestApp::spawn().await;
    app.create_user("reader", Role::User).await;
    let victim = app.token_pair("admin", ADMIN_PASSWORD).await;
    let attacker = app.token_pair("reader", USER_PASSWORD).await;
    let body = json!({"refresh_token": field(&victim, "refresh_token")});
    assert_eq!(app.post("/api/token/revoke", Some(&field(&attacker, "access_token")), body).await.status, 204);
    assert_eq!(refresh(&app, &field(&victim, "refresh_token")).await.status, 200, "the victim's family lives");
}

#[actix_web::test]
async fn a_password_change_ends_every_token_refresh_token_and_cookie_session() {
    let app = TestApp::spawn().await;
    app.create_user("reader", Role::User).await;
    let pair = app.token_pair("reader", USER_PASSWORD).await;
    let (cookie, csrf) = app.cookie_session("reader", USER_PASSWORD).await;
    let current = app.token_pair("reader", USER_PASSWORD).await;
    let body = json!({"current_password": USER_PASSWORD, "new_password": "an entirely new passphrase"});
    assert_eq!(app.post("/api/v1/me/password", Some(&field(&current, "access_token")), body).await.status, 204);

    for token in [&pair, &current] {
        assert_eq!(me_status(&app, &field(token, "access_token")).await, 401);
        refresh(&app, &field(token, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
    }
    let me = app.send(with_session(TestRequest::get().uri("/api/v1/me"), &cookie, Some(&csrf))).await;
    me.assert_error(401, "invalid_session");
}

#[actix_web::test]
async fn tokens_of_a_deleted_or_demoted_user_stop_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let gone = app.create_user("gone", Role::User).await;
    let demoted = app.create_user("demoted", Role::Admin).await;
    let gone_token = field(&app.token_pair("gone", USER_PASSWORD).await, "access_token");
    let demoted_pair = app.token_pair("demoted", USER_PASSWORD).await;
    assert_eq!(app.get("/api/v1/users", Some(&field(&demoted_pair, "access_token"))).await.status, 200);

    assert_eq!(app.delete(&format!("/api/v1/users/{gone}"), Some(&admin)).await.status, 204);
    app.get("/api/v1/me", Some(&gone_token)).await.assert_error(401, "invalid_token");

    let response = app.put(&format!("/api/v1/users/{demoted}/role"), Some(&admin), json!({"role": "user"})).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["role"], "user");
    app.get("/api/v1/users", Some(&field(&demoted_pair, "access_token"))).await.assert_error(401, "invalid_token");
    refresh(&app, &field(&demoted_pair, "refresh_token")).await.assert_error(401, "invalid_refresh_token");
    // Signed in again, the user has the new role only.
    let again = app.token_pair("demoted", USER_PASSWORD).await;
    app.get("/api/v1/users", Some(&field(&again, "access_token"))).await.assert_error(403, "forbidden");
}

#[actix_web::test]
async fn admins_cannot_delete_or_demote_themselves_and_unknown_users_are_404() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.delete("/api/v1/users/1", Some(&admin)).await.assert_error(409, "cannot_change_self");
    app.put("/api/v1/users/1/role", Some(&admin), json!({"role": "user"}))
        .await
        .assert_error(409, "cannot_change_self");
    app.delete("/api/v1/users/999", Some(&admin)).await.assert_error(404, "not_found");
    app.put("/api/v1/users/999/role", Some(&admin), json!({"role": "user"})).await.assert_error(404, "not_found");
    let error = app
        .put("/api/v1/users/1/role", Some(&admin), json!({"role": "root"}))
        .await
        .assert_error(400, "validation_failed");
    assert_eq!(error["details"], json!([{"field": "role", "message": "must be one of user, admin"}]));
    let user = app.user_token("reader").await;
    app.delete("/api/v1/users/1", Some(&user)).await.assert_error(403, "forbidden");
    assert_eq!(app.get("/api/v1/me", Some(&admin)).await.status, 200);
}

#[actix_web::test]
async fn a_token_signed_by_a_previous_key_verifies_until_that_key_is_retired() {
    let app = TestApp::spawn().await;
    let old_token = app.admin_token().await;
    let new_secret = "the-rotated-secret-which-is-32-bytes-or-more";
    let rotating = [("SHELF_JWT_SECRET", new_secret), ("SHELF_JWT_PREVIOUS_SECRETS", crate::helpers::JWT_SECRET)];
    let (_, rotated) = app.sibling(&rotating).await;
    let get_me = |token: &str| {
        TestRequest::get().uri("/api/v1/me").insert_header(("Authorization", format!("Bearer {token}"))).to_request()
    };
    assert_eq!(rotated(get_me(&old_token)).await.status, 200, "still verifies during rotation");
    // New tokens are signed with the new key.
    let login =
        TestRequest::post().uri("/api/token").set_json(json!({"username": "admin", "password": ADMIN_PASSWORD}));
    let new_token = field(&rotated(login.to_request()).await.json(), "access_token");
    assert_eq!(rotated(get_me(&new_token)).await.status, 200);

    let (_, retired) = app.sibling(&[("SHELF_JWT_SECRET", new_secret)]).await;
    let refused = retired(get_me(&old_token)).await;
    refused.assert_error(401, "invalid_token");
    assert_eq!(retired(get_me(&new_token)).await.status, 200);
}

#[actix_web::test]
async fn a_cookie_session_sets_hardened_cookies_and_returns_the_csrf_value() {
    let app = TestApp::spawn().await;
    let response = app.post("/api/session", None, json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    assert_eq!(body["expires_in"], 12 * 3600);
    let session = set_cookie_header(&response, SESSION_COOKIE).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure", "Max-Age=43200"] {
        assert!(session.contains(attribute), "{attribute} missing: {session}");
    }
    let csrf = set_cookie_header(&response, CSRF_COOKIE).unwrap();
    assert!(!csrf.contains("HttpOnly"), "the page must be able to read it: {csrf}");
    assert!(csrf.contains("SameSite=Strict") && csrf.contains("Secure"), "{csrf}");
    assert_eq!(set_cookie_value(&response, CSRF_COOKIE).unwrap(), body["csrf_token"].as_str().unwrap());
    let cookie = set_cookie_value(&response, SESSION_COOKIE).unwrap();
    assert_ne!(cookie, body["csrf_token"].as_str().unwrap());

    // A reloaded page learns its CSRF value again.
    let again = app.send(with_session(TestRequest::get().uri("/api/session"), &cookie, None)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["csrf_token"], body["csrf_token"]);
    let me = app.send(with_session(TestRequest::get().uri("/api/v1/me"), &cookie, None)).await;
    assert_eq!(me.json()["username"], "admin");
}

#[actix_web::test]
async fn without_secure_cookies_the_names_lose_the_host_prefix() {
    let app = TestApp::spawn_with(&[("SHELF_COOKIE_SECURE", "false")]).await;
    let response = app.post("/api/session", None, json!({"username": "admin", "password": ADMIN_PASSWORD})).await;
    let session = set_cookie_header(&response, "shelf_session").unwrap();
    assert!(!session.contains("Secure"), "{session}");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    let cookie = set_cookie_value(&response, "shelf_session").unwrap();
    let me = app
        .send(TestRequest::get().uri("/api/v1/me").insert_header(("Cookie", format!("shelf_session={cookie}"))))
        .await;
    assert_eq!(me.status, 200);
}

#[actix_web::test]
async fn cookie_writes_need_the_csrf_token_of_their_own_session() {
    let app = TestApp::spawn().await;
    let book = app.book("Dune", "Frank Herbert").await;
    app.create_user("reader", Role::User).await;
    let (cookie, csrf) = app.cookie_session("reader", USER_PASSWORD).await;
    let (_, other_csrf) = app.cookie_session("reader", USER_PASSWORD).await;
    let tag = |csrf: Option<&str>| {
        with_session(
            TestRequest::post().uri("/api/v1/add_tag").set_json(json!({"tag": "classic", "book_id": book})),
            &cookie,
            csrf,
        )
    };
    for bad in [None, Some("wrong"), Some(""), Some(other_csrf.as_str())] {
        let response = app.send(tag(bad)).await;
        let error = response.assert_error(403, "csrf_failed");
        assert_eq!(error["message"], "CSRF token missing or invalid");
    }
    // Nothing was written by the refused attempts.
    let tags = app.send(with_session(TestRequest::get().uri("/api/v1/tags"), &cookie, None)).await;
    assert_eq!(tags.json()["tags"], json!([]));
    assert_eq!(app.send(tag(Some(&csrf))).await.status, 200);
}

#[actix_web::test]
async fn bearer_and_api_key_requests_are_exempt_from_csrf() {
    let app = TestApp::spawn().await;
    let book = app.book("Dune", "Frank Herbert").await;
    let token = app.user_token("reader").await;
    let response = app.post("/api/v1/add_tag", Some(&token), json!({"tag": "classic", "book_id": book})).await;
    assert_eq!(response.status, 200);
    let key = app.api_key(&token, &["library:write"]).await;
    let response = app
        .send(crate::helpers::with_api_key(
            TestRequest::post().uri("/api/v1/add_tag").set_json(json!({"tag": "other", "book_id": book})),
            &key,
        ))
        .await;
    assert_eq!(response.status, 200);
}

#[actix_web::test]
async fn signing_out_kills_the_session_and_clears_both_cookies() {
    let app = TestApp::spawn().await;
    let (cookie, csrf) = app.cookie_session("admin", ADMIN_PASSWORD).await;
    // Signing out is a write: without the CSRF token it is refused.
    app.send(with_session(TestRequest::delete().uri("/api/session"), &cookie, None))
        .await
        .assert_error(403, "csrf_failed");
    let response = app.send(with_session(TestRequest::delete().uri("/api/session"), &cookie, Some(&csrf))).await;
    assert_eq!(response.status, 204);
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        let header = set_cookie_header(&response, name).unwrap();
        assert!(header.contains("Max-Age=0"), "{header}");
    }
    let me = app.send(with_session(TestRequest::get().uri("/api/v1/me"), &cookie, None)).await;
    me.assert_error(401, "invalid_session");
    app.send(with_session(TestRequest::get().uri("/api/session"), &cookie, None))
        .await
        .assert_error(401, "invalid_session");
}

#[actix_web::test]
async fn an_expired_cookie_session_is_refused() {
    let app = TestApp::spawn_with(&[("SHELF_SESSION_TTL", "1m")]).await;
    let (cookie, _) = app.cookie_session("admin", ADMIN_PASSWORD).await;
    shelf::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        use shelf::db::schema::sessions;
        diesel::update(sessions::table).set(sessions::expires_at.eq(shelf::db::now() - 1)).execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    // The cache holds the session for up to 10 s; a fresh instance reads the row.
    let (_, fresh) = app.sibling(&[]).await;
    let me = fresh(with_session(TestRequest::get().uri("/api/v1/me"), &cookie, None).to_request()).await;
    me.assert_error(401, "invalid_session");
}

#[actix_web::test]
async fn an_unknown_session_cookie_is_401_and_get_session_needs_a_cookie() {
    let app = TestApp::spawn().await;
    app.send(with_session(TestRequest::get().uri("/api/v1/me"), "forged-cookie-value", None))
        .await
        .assert_error(401, "invalid_session");
    let token = app.admin_token().await;
    app.get("/api/session", Some(&token)).await.assert_error(401, "invalid_session");
}

#[actix_web::test]
async fn two_credentials_in_one_request_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let (cookie, csrf) = app.cookie_session("admin", ADMIN_PASSWORD).await;
    let key = app.api_key(&token, &["books:read"]).await;
    let bearer = ("Authorization", format!("Bearer {token}"));
    let cases = [
        with_session(TestRequest::get().uri("/api/v1/me"), &cookie, Some(&csrf)).insert_header(bearer.clone()),
        crate::helpers::with_api_key(TestRequest::get().uri("/api/v1/me"), &key).insert_header(bearer.clone()),
        crate::helpers::with_api_key(with_session(TestRequest::get().uri("/api/v1/me"), &cookie, None), &key),
    ];
    for request in cases {
        app.send(request).await.assert_error(400, "multiple_credentials");
    }
    // Even on a route that allows anonymous calls.
    let search = with_session(TestRequest::get().uri("/api/v1/search?q=x"), &cookie, None).insert_header(bearer);
    app.send(search).await.assert_error(400, "multiple_credentials");
    // Two session cookies, a planted one beside the real one, in either order.
    for pair in [
        format!("{SESSION_COOKIE}=planted; {SESSION_COOKIE}={cookie}"),
        format!("{SESSION_COOKIE}={cookie}; {SESSION_COOKIE}=planted"),
    ] {
        let request = TestRequest::get().uri("/api/v1/me").insert_header(("Cookie", pair));
        app.send(request).await.assert_error(400, "multiple_credentials");
    }
}

#[actix_web::test]
async fn signing_in_again_with_a_session_cookie_present_is_not_a_csrf_failure() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (cookie, _) = app.cookie_session("admin", ADMIN_PASSWORD).await;
    // The browser sends its (old) cookie along with a fresh sign-in.
    let again = with_session(
        TestRequest::post().uri("/api/session").set_json(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        &cookie,
        None,
    );
    assert_eq!(app.send(again).await.status, 200);
    assert!(app.events(&admin, "type=csrf_rejected").await.is_empty());
}
