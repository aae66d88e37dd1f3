//! The logs: access lines that say what each request was (route pattern,
//! status, latency, request id, caller) in both formats, and no secret a
//! client used anywhere in them.

use actix_web::test::TestRequest;
use serde_json::{Value, json};
use shelf::auth::Role;

use crate::helpers::{
    ADMIN_PASSWORD, JWT_SECRET, TestApp, USER_PASSWORD, captured_json_log, captured_log, token_of, with_api_key,
    with_session,
};

/// The JSON access line of the request with id `request_id`.
#[track_caller]
fn access_line(request_id: &str) -> Value {
    let lines: Vec<Value> = captured_json_log()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["target"] == "access" && l["request_id"] == request_id)
        .collect();
    assert_eq!(lines.len(), 1, "one access line for {request_id}: {lines:#?}");
    lines[0].clone()
}

fn with_id(req: TestRequest, id: &str) -> TestRequest {
    req.insert_header(("X-Request-Id", id))
}

#[actix_web::test]
async fn access_lines_carry_route_status_latency_request_id_and_caller() {
    let app = TestApp::spawn().await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let user_id = app.create_user("reader", Role::User).await;
    let token = token_of(&app.login("reader", USER_PASSWORD).await);
    let book = app.book("Emma", "Austen").await;
    let id = |n: &str| format!("{run}-{n}");

    let bearer = TestRequest::get().uri(&format!("/api/v1/books/{book}?secret=ignored"));
    let bearer = bearer.insert_header(("Authorization", format!("Bearer {token}")));
    assert_eq!(app.send(with_id(bearer, &id("bearer"))).await.status, 200);
    let line = access_line(&id("bearer"));
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/api/v1/books/{id}");
    assert_eq!(line["status"], 200);
    assert!(line["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
    assert_eq!(line["principal"], "bearer");
    assert_eq!(line["user_id"], user_id);
    assert!(line["client_ip"].is_string(), "{line}");
    let message = line["message"].as_str().unwrap();
    assert!(message.contains(&format!("\"GET /api/v1/books/{book}\" 200")), "{message}");
    assert!(!message.contains("secret=ignored"), "the query string reached the log: {message}");

    let admin = app.admin_token().await;
    let key = app.api_key(&admin, &["books:read"]).await;
    let keyed = with_api_key(TestRequest::get().uri("/api/v1/books"), &key);
    assert_eq!(app.send(with_id(keyed, &id("key"))).await.status, 200);
    let line = access_line(&id("key"));
    assert_eq!((line["principal"].as_str(), line["user_id"].as_i64()), (Some("api_key"), Some(1)));

    let anonymous = TestRequest::get().uri("/api/v1/search?q=emma");
    assert_eq!(app.send(with_id(anonymous, &id("anonymous"))).await.status, 200);
    let line = access_line(&id("anonymous"));
    assert_eq!((line["principal"].as_str(), &line["user_id"]), (Some("anonymous"), &Value::Null));
    assert_eq!(line["route"], "/api/v1/search");

    let forged = TestRequest::get().uri("/api/v1/library").insert_header(("Authorization", "Bearer not.a.token"));
    app.send(with_id(forged, &id("forged"))).await.assert_error(401, "invalid_token");
    let line = access_line(&id("forged"));
    assert_eq!((line["principal"].as_str(), line["status"].as_u64()), (Some("rejected"), Some(401)));

    let sign_in = TestRequest::post().uri("/api/token").set_json(json!({"username": "reader", "password": "wrong-1"}));
    app.send(with_id(sign_in, &id("sign-in"))).await.assert_error(401, "invalid_credentials");
    let line = access_line(&id("sign-in"));
    assert_eq!((line["principal"].as_str(), line["route"].as_str()), (Some("unresolved"), Some("/api/token")));

    app.send(with_id(TestRequest::get().uri("/no/such/thing"), &id("nowhere"))).await.assert_error(404, "not_found");
    assert_eq!(access_line(&id("nowhere"))["route"], "unmatched");

    // The text format says the same on one line.
    let text = captured_log()
        .into_iter()
        .find(|l| l.starts_with("access: ") && l.ends_with(&format!("request_id={}", id("bearer"))))
        .expect("a text access line");
    assert!(text.contains(&format!("route=/api/v1/books/{{id}} principal=bearer user_id={user_id}")), "{text}");
}

#[actix_web::test]
async fn no_secret_used_in_a_whole_run_reaches_the_log() {
    let app = TestApp::spawn().await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let password = format!("first-password-{run}");
    let new_password = format!("second-password-{run}");
    let mut secrets = vec![
        password.clone(),
        new_password.clone(),
        ADMIN_PASSWORD.to_owned(),
        USER_PASSWORD.to_owned(),
        JWT_SECRET.to_owned(),
    ];
    let username = format!("reader{}", &run[..8]);
    let user = app.create_user(&username, Role::User).await;
    let set_password = json!({"current_password": USER_PASSWORD, "new_password": password});
    let admin = app.admin_token().await;
    secrets.push(admin.clone());

    // Tokens: sign-in, a wrong password, a password typed as the username,
    // refresh, a reused refresh token, revocation.
    let bearer = token_of(&app.login(&username, USER_PASSWORD).await);
    secrets.push(bearer.clone());
    let response = app.post("/api/v1/me/password", Some(&bearer), set_password).await;
    assert_eq!(response.status, 204, "{}", String::from_utf8_lossy(&response.body));
    for wrong in [format!("wrong-password-{run}-a"), format!("wrong-password-{run}-b")] {
        app.login(&username, &wrong).await.assert_error(401, "invalid_credentials");
        secrets.push(wrong);
    }
    let typed_as_username = format!("typed-into-the-wrong-field-{run}");
    app.login(&typed_as_username, &password).await.assert_error(401, "invalid_credentials");
    secrets.push(typed_as_username);
    let pair = app.token_pair(&username, &password).await;
    let (access, refresh) = (pair["access_token"].as_str().unwrap(), pair["refresh_token"].as_str().unwrap());
    secrets.extend([access.to_owned(), refresh.to_owned()]);
    let refreshed = app.post("/api/token/refresh", None, json!({"refresh_token": refresh})).await;
    assert_eq!(refreshed.status, 200);
    let refreshed = refreshed.json();
    let (access2, refresh2) =
        (refreshed["access_token"].as_str().unwrap(), refreshed["refresh_token"].as_str().unwrap());
    secrets.extend([access2.to_owned(), refresh2.to_owned()]);
    assert_eq!(app.get("/api/v1/library", Some(access2)).await.status, 200);
    // Spent once more: the family (and access2) dies.
    app.post("/api/token/refresh", None, json!({"refresh_token": refresh}))
        .await
        .assert_error(401, "invalid_refresh_token");
    app.get("/api/v1/library", Some(access2)).await.assert_error(401, "invalid_token");
    let forged_token = format!("{access2}x");
    app.get("/api/v1/library", Some(&forged_token)).await.assert_error(401, "invalid_token");
    secrets.push(forged_token);
    let pair = app.token_pair(&username, &password).await;
    let (access3, refresh3) = (pair["access_token"].as_str().unwrap(), pair["refresh_token"].as_str().unwrap());
    secrets.extend([access3.to_owned(), refresh3.to_owned()]);

    // A cookie session: writes with and without the CSRF token, sign-out.
    let book = app.book("Emma", "Austen").await;
    let (cookie, csrf) = app.cookie_session(&username, &password).await;
    secrets.extend([cookie.clone(), csrf.clone()]);
    let tag = json!({"tag": "classic", "book_id": book});
    let tagged =
        app.send(with_session(TestRequest::post().uri("/api/v1/add_tag").set_json(&tag), &cookie, Some(&csrf))).await;
    assert_eq!(tagged.status, 200, "{}", String::from_utf8_lossy(&tagged.body));
    let wrong_csrf = format!("{csrf}0");
    let refused = with_session(TestRequest::post().uri("/api/v1/add_tag").set_json(&tag), &cookie, Some(&wrong_csrf));
    app.send(refused).await.assert_error(403, "csrf_failed");
    secrets.push(wrong_csrf);
    let signed_out = app.send(with_session(TestRequest::delete().uri("/api/session"), &cookie, Some(&csrf))).await;
    assert_eq!(signed_out.status, 204);
    app.send(with_session(TestRequest::get().uri("/api/session"), &cookie, None))
        .await
        .assert_error(401, "invalid_session");

    // API keys: created (the secret shown once), used, a wrong secret, revoked.
    let key = app.api_key_with(access3, &password, &["books:read"]).await;
    secrets.push(key.clone());
    assert_eq!(app.send(with_api_key(TestRequest::get().uri("/api/v1/books"), &key)).await.status, 200);
    let (public, secret) = key.rsplit_once('_').unwrap();
    secrets.push(secret.to_owned());
    let wrong_key = format!("{public}_{}", "Z".repeat(secret.len()));
    app.send(with_api_key(TestRequest::get().uri("/api/v1/books"), &wrong_key))
        .await
        .assert_error(401, "invalid_api_key");
    secrets.push(wrong_key);

    let revoked = app.post("/api/token/revoke", Some(access3), json!({"refresh_token": refresh3})).await;
    assert_eq!(revoked.status, 204);
    app.state.events.flush().await;

    let text = captured_log();
    let json = captured_json_log();
    assert!(json.iter().any(|l| l.contains("\"target\":\"access\"")), "the access log was captured");
    assert!(json.iter().any(|l| l.contains(&format!("\"user_id\":{user}"))), "this run's requests were logged");
    for secret in &secrets {
        for line in text.iter().chain(&json) {
            assert!(!line.contains(secret.as_str()), "a secret ({} chars) reached the log: {line}", secret.len());
        }
    }
}
