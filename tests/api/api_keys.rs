//! API keys: created once, listed without their secret, scoped on every
//! route, refused the moment they are revoked, expired or mistyped.

use std::collections::BTreeSet;

use actix_web::test::TestRequest;
use diesel::prelude::*;
use serde_json::{Value, json};
use shelf::auth::Role;
use shelf::db::schema::api_keys;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{
    ADMIN_PASSWORD, CSRF_COOKIE, SESSION_COOKIE, TestApp, TestResponse, USER_PASSWORD, captured_log, titles, token_of,
    with_api_key, with_current_password, with_session,
};

const KEYS: &str = "/api/v1/api-keys";
const INVALID_KEY_MESSAGE: &str = "Invalid or missing API key";
const ALL_SCOPES: [&str; 4] = ["books:read", "books:write", "library:read", "library:write"];

/// A request with an optional JSON body.
fn request(method: &str, path: &str, body: Option<&Value>) -> TestRequest {
    let req = match method {
        "GET" => TestRequest::get(),
        "POST" => TestRequest::post(),
        "PUT" => TestRequest::put(),
        "DELETE" => TestRequest::delete(),
        other => panic!("no such method in these tests: {other}"),
    }
    .uri(path);
    match body {
        Some(body) => req.set_json(body),
        None => req,
    }
}

/// Calls a route with an API key and nothing else.
async fn with_key(app: &TestApp, method: &str, path: &str, body: Option<&Value>, key: &str) -> TestResponse {
    app.send(with_api_key(request(method, path, body), key)).await
}

/// `POST /api/v1/api-keys` as the holder of `token`, with their password.
async fn create_key(app: &TestApp, token: &str, body: Value) -> TestResponse {
    app.post(KEYS, Some(token), with_current_password(body, token)).await
}

/// Creates a key; its id and the full key.
async fn new_key(app: &TestApp, token: &str, scopes: &[&str]) -> (i64, String) {
    let response = create_key(app, token, json!({"name": "integration", "scopes": scopes})).await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    let body = response.json();
    (body["id"].as_i64().unwrap(), body["key"].as_str().unwrap().to_owned())
}

/// The caller's keys as listed by `GET /api/v1/api-keys`.
async fn listed(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app.get(KEYS, Some(token)).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    response.json()["api_keys"].as_array().unwrap().clone()
}

/// Splits `shelf_<public id>_<secret>`.
fn parts(key: &str) -> (&str, &str) {
    key.strip_prefix("shelf_").and_then(|rest| rest.split_once('_')).unwrap_or_else(|| panic!("not a key: {key}"))
}

#[track_caller]
fn assert_invalid_key(response: &TestResponse) -> Value {
    let error = response.assert_error(401, "invalid_api_key");
    assert_eq!(error["message"], INVALID_KEY_MESSAGE);
    error
}

/// A user with a bearer token; their id and the token.
async fn user(app: &TestApp, username: &str, role: Role) -> (i64, String) {
    let id = app.create_user(username, role).await;
    (id, token_of(&app.login(username, USER_PASSWORD).await))
}

async fn last_used_at(app: &TestApp, key_id: i64) -> Option<i64> {
    shelf::db::run(&app.pool, move |conn| {
        Ok(api_keys::table.find(key_id).select(api_keys::last_used_at).first::<Option<i64>>(conn)?)
    })
    .await
    .unwrap()
}

async fn set_last_used_at(app: &TestApp, key_id: i64, at: i64) {
    shelf::db::run(&app.pool, move |conn| {
        Ok(diesel::update(api_keys::table.find(key_id)).set(api_keys::last_used_at.eq(at)).execute(conn)?)
    })
    .await
    .unwrap();
}

fn unix(rfc3339: &Value) -> i64 {
    let text = rfc3339.as_str().unwrap_or_else(|| panic!("not a time: {rfc3339}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text}: {e}")).unix_timestamp()
}

fn scope_set(scopes: &Value) -> BTreeSet<String> {
    scopes.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
}

// ---- creating and listing ----

#[actix_web::test]
async fn a_new_key_is_shown_once_in_a_response_that_is_neither_cached_nor_compressed() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let before = shelf::db::now();
    let response = app
        .send(
            TestRequest::post()
                .uri(KEYS)
                .insert_header(("Authorization", format!("Bearer {token}")))
                .insert_header(("Accept-Encoding", "gzip, br, zstd"))
                .set_json(json!({
                    "name": "sync", "scopes": ["library:read", "books:read"], "expires_in_days": 30,
                    "current_password": USER_PASSWORD,
                })),
        )
        .await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("content-encoding"), Some("identity"));
    let body = response.json();

    let key = body["key"].as_str().unwrap();
    let (public_id, secret) = parts(key);
    assert_eq!(public_id.len(), 16, "{key}");
    assert!(public_id.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
    assert!(!secret.is_empty() && secret.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
    assert_eq!(body["prefix"], format!("shelf_{public_id}"));
    assert_eq!(body["name"], "sync");
    assert!(body["id"].as_i64().is_some(), "{body}");
    assert_eq!(scope_set(&body["scopes"]), BTreeSet::from(["books:read".to_owned(), "library:read".to_owned()]));
    let created_at = unix(&body["created_at"]);
    assert!((before..=shelf::db::now()).contains(&created_at), "{body}");
    assert_eq!(unix(&body["expires_at"]) - created_at, 30 * 86_400, "{body}");
    assert!(body["last_used_at"].is_null(), "{body}");

    // The same client is sent compressed answers that hold no secret, so
    // `identity` above is the route's doing.
    let list = app
        .send(
            TestRequest::get()
                .uri(KEYS)
                .insert_header(("Authorization", format!("Bearer {token}")))
                .insert_header(("Accept-Encoding", "gzip, br, zstd")),
        )
        .await;
    assert_eq!(list.status, 200);
    assert!(list.header("content-encoding").is_some_and(|e| e != "identity"), "{:?}", list.headers);

    // Without `expires_in_days` the key does not expire.
    let forever = create_key(&app, &token, json!({"name": "forever", "scopes": ["books:read"]})).await;
    assert_eq!(forever.status, 201);
    assert!(forever.json()["expires_at"].is_null(), "{}", forever.json());
}

#[actix_web::test]
async fn the_key_list_never_holds_a_key_or_its_secret() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let (first_id, first) = new_key(&app, &token, &["books:read"]).await;
    let created = create_key(
        &app,
        &token,
        json!({"name": "nightly export", "scopes": ["library:read", "library:write"], "expires_in_days": 7}),
    )
    .await;
    assert_eq!(created.status, 201);
    let second_view = created.json();
    let second = second_view["key"].as_str().unwrap().to_owned();

    let response = app.get(KEYS, Some(&token)).await;
    assert_eq!(response.status, 200);
    assert!(response.header("cache-control").is_some_and(|c| c.starts_with("private")), "{:?}", response.headers);
    let raw = String::from_utf8_lossy(&response.body).into_owned();
    for key in [&first, &second] {
        let (public_id, secret) = parts(key);
        assert!(!raw.contains(key.as_str()), "the key is listed: {raw}");
        assert!(!raw.contains(secret), "the secret is listed: {raw}");
        assert!(raw.contains(&format!("shelf_{public_id}")), "the prefix is missing: {raw}");
    }

    let keys = response.json()["api_keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "{raw}");
    for listed in &keys {
        let fields: BTreeSet<&str> = listed.as_object().unwrap().keys().map(String::as_str).collect();
        let expected = BTreeSet::from(["created_at", "expires_at", "id", "last_used_at", "name", "prefix", "scopes"]);
        assert_eq!(fields, expected, "{listed}");
    }
    let second_listed = keys.iter().find(|k| k["id"] == second_view["id"]).unwrap();
    let mut expected = second_view.clone();
    expected.as_object_mut().unwrap().remove("key");
    assert_eq!(*second_listed, expected, "the list differs from what creation showed");
    let first_listed = keys.iter().find(|k| k["id"] == first_id).unwrap();
    assert_eq!(first_listed["prefix"], format!("shelf_{}", parts(&first).0));
    assert_eq!(first_listed["scopes"], json!(["books:read"]));
    assert!(first_listed["expires_at"].is_null() && first_listed["last_used_at"].is_null());
    unix(&first_listed["created_at"]);

    // Keys are their owner's alone.
    let (_, other) = user(&app, "other", Role::User).await;
    assert!(listed(&app, &other).await.is_empty());
}

#[actix_web::test]
async fn the_database_holds_only_a_hash_of_the_secret() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let (id, key) = new_key(&app, &token, &["books:read"]).await;
    let (public_id, secret) = parts(&key);
    let (stored_public_id, hash, name, scopes): (String, String, String, String) =
        shelf::db::run(&app.pool, move |conn| {
            Ok(api_keys::table
                .find(id)
                .select((api_keys::public_id, api_keys::secret_hash, api_keys::name, api_keys::scopes))
                .first(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(stored_public_id, public_id);
    for column in [&stored_public_id, &hash, &name, &scopes] {
        assert!(!column.contains(secret), "the secret is stored: {column}");
    }
    assert_eq!(hash.len(), 64, "{hash}");
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
}

#[actix_web::test]
async fn key_requests_that_break_the_rules_are_400_and_create_nothing() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let valid = || json!({"name": "sync", "scopes": ["books:read"]});
    let with = |field: &str, value: Value| {
        let mut body = valid();
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("scopes", json!([])), "scopes"),
        (with("name", json!("")), "name"),
        (with("name", json!("n".repeat(101))), "name"),
        (with("expires_in_days", json!(0)), "expires_in_days"),
        (with("expires_in_days", json!(3651)), "expires_in_days"),
    ] {
        let error = create_key(&app, &token, body.clone()).await.assert_error(400, "validation_failed");
        assert_eq!(error["details"][0]["field"], field, "{body}");
    }
    for body in [
        with("scopes", json!(["books:read", "admin:all"])),
        with("scopes", json!(["BOOKS:READ"])),
        with("scopes", json!("books:read")),
        with("user_id", json!(1)),
        with("expires_in_days", json!(-1)),
        json!({"name": "sync"}),
        json!({"scopes": ["books:read"]}),
    ] {
        let error = create_key(&app, &token, body.clone()).await.assert_error(400, "validation_failed");
        assert!(error["details"][0]["field"].as_str().is_some_and(|f| !f.is_empty()), "{body}: {error}");
    }
    assert!(listed(&app, &token).await.is_empty(), "a refused request created a key");

    // The limits themselves are allowed.
    let longest =
        create_key(&app, &token, json!({"name": "n".repeat(100), "scopes": ["books:read"], "expires_in_days": 3650}))
            .await;
    assert_eq!(longest.status, 201, "{}", String::from_utf8_lossy(&longest.body));
    let shortest = create_key(&app, &token, json!({"name": "n", "scopes": ["books:read"], "expires_in_days": 1})).await;
    assert_eq!(shortest.status, 201, "{}", String::from_utf8_lossy(&shortest.body));
    assert_eq!(listed(&app, &token).await.len(), 2);
}

#[actix_web::test]
async fn only_admins_can_create_keys_with_books_write() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    for scopes in [json!(["books:write"]), json!(["books:read", "books:write"])] {
        create_key(&app, &token, json!({"name": "editor", "scopes": scopes})).await.assert_error(403, "forbidden");
    }
    assert!(listed(&app, &token).await.is_empty());

    let admin = app.admin_token().await;
    let response = create_key(&app, &admin, json!({"name": "editor", "scopes": ["books:write"]})).await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.json()["scopes"], json!(["books:write"]));
}

#[actix_web::test]
async fn a_books_write_key_stops_writing_once_its_admin_is_demoted() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let admin_id = app.get("/api/v1/me", Some(&admin)).await.json()["id"].as_i64().unwrap();
    let (_, key) = new_key(&app, &admin, &["books:read", "books:write"]).await;
    let book = |title: &str| json!({"title": title, "author": "Frank Herbert"});

    let created = with_key(&app, "POST", "/api/v1/books", Some(&book("Dune")), &key).await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let id = created.json()["id"].as_i64().unwrap();
    assert_eq!(created.header("location"), Some(format!("/api/v1/books/{id}").as_str()));

    let (_, boss) = user(&app, "boss", Role::Admin).await;
    let demoted = app.put(&format!("/api/v1/users/{admin_id}/role"), Some(&boss), json!({"role": "user"})).await;
    assert_eq!(demoted.status, 200, "{}", String::from_utf8_lossy(&demoted.body));
    assert_eq!(demoted.json()["role"], "user");

    // The key still authenticates, as a plain user now, and may no longer write.
    with_key(&app, "POST", "/api/v1/books", Some(&book("Dune Messiah")), &key).await.assert_error(403, "forbidden");
    with_key(&app, "PUT", &format!("/api/v1/books/{id}"), Some(&book("Dune (edited)")), &key)
        .await
        .assert_error(403, "forbidden");
    with_key(&app, "DELETE", &format!("/api/v1/books/{id}"), None, &key).await.assert_error(403, "forbidden");
    let me = with_key(&app, "GET", "/api/v1/me", None, &key).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["role"], "user");
    let books = with_key(&app, "GET", "/api/v1/books", None, &key).await;
    assert_eq!(books.status, 200);
    assert_eq!(books.json()["total"], 1, "a refused write went through");
    let one = with_key(&app, "GET", &format!("/api/v1/books/{id}"), None, &key).await;
    assert_eq!(one.json()["title"], "Dune");
}

// ---- scopes ----

#[actix_web::test]
async fn every_catalog_and_library_route_requires_its_scope_from_a_key() {
    let app = TestApp::spawn().await;
    // An admin, so that only the key's scopes can be what refuses.
    let admin = app.admin_token().await;
    let dune = app.book("Dune", "Frank Herbert").await;
    let doomed = app.book("Doomed", "Nobody").await;
    let tag = json!({"tag": "classic", "book_id": dune});
    let routes: [(&str, String, Option<Value>, &str, u16); 10] = [
        ("GET", "/api/v1/books".into(), None, "books:read", 200),
        ("GET", format!("/api/v1/books/{dune}"), None, "books:read", 200),
        ("POST", "/api/v1/books".into(), Some(json!({"title": "Emma", "author": "Jane Austen"})), "books:write", 201),
        (
            "PUT",
            format!("/api/v1/books/{dune}"),
            Some(json!({"title": "Dune", "author": "Frank Herbert", "rating": 5})),
            "books:write",
            200,
        ),
        ("DELETE", format!("/api/v1/books/{doomed}"), None, "books:write", 204),
        ("GET", "/api/v1/tags".into(), None, "library:read", 200),
        ("GET", "/api/v1/library".into(), None, "library:read", 200),
        ("POST", "/api/v1/add_tag".into(), Some(tag.clone()), "library:write", 200),
        ("POST", "/api/v1/remove_tag".into(), Some(tag), "library:write", 200),
        (
            "POST",
            "/api/v1/change_status".into(),
            Some(json!({"book_id": dune, "status": "reading"})),
            "library:write",
            200,
        ),
    ];
    for (method, path, body, scope, success) in routes {
        let others: Vec<&str> = ALL_SCOPES.into_iter().filter(|s| *s != scope).collect();
        let lacking = app.api_key(&admin, &others).await;
        let holding = app.api_key(&admin, &[scope]).await;
        let refused = with_key(&app, method, &path, body.as_ref(), &lacking).await;
        assert_eq!(refused.status, 403, "{method} {path} without {scope}: {}", String::from_utf8_lossy(&refused.body));
        refused.assert_error(403, "forbidden");
        // Runs after the refusal, so it also shows the refusal changed nothing
        // (e.g. the DELETE still finds its book, remove_tag finds one tag).
        let allowed = with_key(&app, method, &path, body.as_ref(), &holding).await;
        assert_eq!(allowed.status, success, "{method} {path} with {scope}: {}", String::from_utf8_lossy(&allowed.body));
    }

    // Exactly the allowed writes happened.
    let books = app.get("/api/v1/books?sortColumn=title", Some(&admin)).await.json();
    assert_eq!(titles(&books), ["Dune", "Emma"]);
    assert_eq!(app.get(&format!("/api/v1/books/{dune}"), Some(&admin)).await.json()["rating"], 5.0);
    let library = app.get("/api/v1/library", Some(&admin)).await.json();
    assert_eq!(library["total"], 1, "{library}");
    assert_eq!(library["books"][0]["status"], "reading");
    assert_eq!(library["books"][0]["tags"], json!([]));
}

#[actix_web::test]
async fn me_answers_to_a_key_with_any_scope() {
    let app = TestApp::spawn().await;
    let (id, token) = user(&app, "reader", Role::User).await;
    for scope in ["books:read", "library:read", "library:write"] {
        let (_, key) = new_key(&app, &token, &[scope]).await;
        let me = with_key(&app, "GET", "/api/v1/me", None, &key).await;
        assert_eq!(me.status, 200, "{scope}: {}", String::from_utf8_lossy(&me.body));
        assert_eq!(me.json()["id"], id);
        assert_eq!(me.json()["username"], "reader");
        assert_eq!(me.json()["role"], "user");
    }
}

#[actix_web::test]
async fn account_and_admin_routes_refuse_every_key() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    // An admin's key with every scope: the refusals are about it being a key.
    let (key_id, key) = new_key(&app, &admin, &ALL_SCOPES).await;
    let (other_id, _) = user(&app, "reader", Role::User).await;
    let refused: [(&str, String, Option<Value>); 9] = [
        ("POST", KEYS.into(), Some(json!({"name": "minted", "scopes": ["books:read"]}))),
        ("GET", KEYS.into(), None),
        ("DELETE", format!("{KEYS}/{key_id}"), None),
        (
            "POST",
            "/api/v1/me/password".into(),
            Some(json!({"current_password": ADMIN_PASSWORD, "new_password": "a-brand-new-password-42"})),
        ),
        ("GET", "/api/v1/users".into(), None),
        ("POST", "/api/v1/users".into(), Some(json!({"username": "sneaky", "password": "long-enough-password"}))),
        ("PUT", format!("/api/v1/users/{other_id}/role"), Some(json!({"role": "admin"}))),
        ("GET", "/api/v1/admin/security-events".into(), None),
        ("POST", "/api/token/revoke".into(), None),
    ];
    for (method, path, body) in refused {
        let response = with_key(&app, method, &path, body.as_ref(), &key).await;
        assert_eq!(response.status, 403, "{method} {path}: {}", String::from_utf8_lossy(&response.body));
        response.assert_error(403, "forbidden");
    }

    // Nothing happened: no key minted, the key not revoked, the password
    // unchanged, no user created, no role changed.
    let keys = listed(&app, &admin).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(with_key(&app, "GET", "/api/v1/me", None, &key).await.status, 200);
    assert_eq!(app.login("admin", ADMIN_PASSWORD).await.status, 200);
    let users = app.get("/api/v1/users", Some(&admin)).await.json();
    let users = users["users"].as_array().unwrap();
    assert!(users.iter().all(|u| u["username"] != "sneaky"), "{users:?}");
    assert!(users.iter().any(|u| u["username"] == "reader" && u["role"] == "user"), "{users:?}");
}

#[actix_web::test]
async fn a_key_on_library_routes_acts_as_its_owner() {
    let app = TestApp::spawn().await;
    let (_, owner) = user(&app, "reader", Role::User).await;
    let (_, other) = user(&app, "other", Role::User).await;
    let dune = app.book("Dune", "Frank Herbert").await;
    let (_, key) = new_key(&app, &owner, &["library:read", "library:write"]).await;

    let tagged =
        with_key(&app, "POST", "/api/v1/add_tag", Some(&json!({"tag": "sci-fi", "book_id": dune})), &key).await;
    assert_eq!(tagged.json(), json!({"success": true, "tags": ["sci-fi"]}));
    let status = json!({"book_id": dune, "status": "read"});
    assert_eq!(with_key(&app, "POST", "/api/v1/change_status", Some(&status), &key).await.status, 200);

    let expected = json!({"tags": [{"name": "sci-fi", "book_count": 1}]});
    assert_eq!(app.get("/api/v1/tags", Some(&owner)).await.json(), expected);
    assert_eq!(with_key(&app, "GET", "/api/v1/tags", None, &key).await.json(), expected);
    let library = app.get("/api/v1/library", Some(&owner)).await.json();
    assert_eq!(library["books"][0]["status"], "read", "{library}");
    assert_eq!(library["books"][0]["tags"], json!(["sci-fi"]), "{library}");

    assert_eq!(app.get("/api/v1/tags", Some(&other)).await.json(), json!({"tags": []}));
    assert_eq!(app.get("/api/v1/library", Some(&other)).await.json()["total"], 0);
    // Another user's tag of the same name is theirs, not the key's.
    app.post("/api/v1/add_tag", Some(&other), json!({"tag": "mine", "book_id": dune})).await;
    assert_eq!(with_key(&app, "GET", "/api/v1/tags", None, &key).await.json(), expected);
}

// ---- refusals: 401 ----

#[actix_web::test]
async fn malformed_unknown_and_wrong_keys_all_get_the_same_401() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let (_, key) = new_key(&app, &token, &["books:read"]).await;
    let (public_id, secret) = parts(&key);
    // The same secret with its first character changed.
    let other_first = if secret.starts_with('a') { "b" } else { "a" };
    let wrong_secret = format!("shelf_{public_id}_{other_first}{}", &secret[1..]);
    let unknown = format!(
        "shelf_{}_{secret}",
        if public_id == "0123456789abcdef" { "fedcba9876543210" } else { "0123456789abcdef" }
    );
    let bad = [
        String::new(),
        "   ".to_owned(),
        "not-a-key".to_owned(),
        "shelf_".to_owned(),
        format!("Bearer {key}"),
        format!("shelf_{public_id}"),
        format!("shelf_{public_id}_"),
        format!("shelf_{}_{secret}", &public_id[1..]),
        format!("{key}_extra"),
        format!("{key}!"),
        key.replacen("shelf_", "SHELF_", 1),
        unknown,
        wrong_secret,
        format!("shelf_{public_id}_{}", &secret[..secret.len() - 1]),
        format!("shelf_{public_id}_{secret}0"),
    ];
    let mut first: Option<Value> = None;
    for value in &bad {
        let response =
            app.send(TestRequest::get().uri("/api/v1/books").insert_header(("X-API-Key", value.as_str()))).await;
        let mut error = assert_invalid_key(&response);
        error["request_id"] = Value::Null;
        match &first {
            None => first = Some(error),
            Some(first) => assert_eq!(&error, first, "{value:?} got a different answer"),
        }
    }
    // The genuine key passes, so each refusal above was down to its change.
    assert_eq!(with_key(&app, "GET", "/api/v1/books", None, &key).await.status, 200);
}

#[actix_web::test]
async fn a_revoked_key_is_refused_on_the_next_request() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let (id, key) = new_key(&app, &token, &["books:read"]).await;
    let (_, kept) = new_key(&app, &token, &["books:read"]).await;
    assert_eq!(with_key(&app, "GET", "/api/v1/books", None, &key).await.status, 200);

    let revoked = app.delete(&format!("{KEYS}/{id}"), Some(&token)).await;
    assert_eq!(revoked.status, 204, "{}", String::from_utf8_lossy(&revoked.body));
    assert_invalid_key(&with_key(&app, "GET", "/api/v1/books", None, &key).await);
    assert_invalid_key(&with_key(&app, "GET", "/api/v1/me", None, &key).await);
    let keys = listed(&app, &token).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_ne!(keys[0]["id"], id);
    // Only that key.
    assert_eq!(with_key(&app, "GET", "/api/v1/books", None, &kept).await.status, 200);
}

#[actix_web::test]
async fn a_key_revoked_on_one_instance_is_refused_by_another_at_once() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let (id, key) = new_key(&app, &token, &["books:read"]).await;
    let (_, sibling) = app.sibling(&[]).await;
    let use_on_sibling = || sibling(with_api_key(TestRequest::get().uri("/api/v1/books"), &key).to_request());
    assert_eq!(use_on_sibling().await.status, 200);
    assert_eq!(app.delete(&format!("{KEYS}/{id}"), Some(&token)).await.status, 204);
    assert_invalid_key(&use_on_sibling().await);
}

#[actix_web::test]
async fn an_expired_key_is_refused() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let response =
        create_key(&app, &token, json!({"name": "short-lived", "scopes": ["books:read"], "expires_in_days": 1})).await;
    assert_eq!(response.status, 201);
    let (id, key) = (response.json()["id"].as_i64().unwrap(), response.json()["key"].as_str().unwrap().to_owned());
    assert_eq!(with_key(&app, "GET", "/api/v1/books", None, &key).await.status, 200);

    let past = shelf::db::now() - 1;
    shelf::db::run(&app.pool, move |conn| {
        Ok(diesel::update(api_keys::table.find(id)).set(api_keys::expires_at.eq(Some(past))).execute(conn)?)
    })
    .await
    .unwrap();
    assert_invalid_key(&with_key(&app, "GET", "/api/v1/books", None, &key).await);
    assert_invalid_key(&with_key(&app, "GET", "/api/v1/me", None, &key).await);
}

#[actix_web::test]
async fn a_deleted_users_keys_stop_working() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (id, token) = user(&app, "reader", Role::User).await;
    let (_, key) = new_key(&app, &token, &["books:read"]).await;
    assert_eq!(with_key(&app, "GET", "/api/v1/me", None, &key).await.status, 200);
    assert_eq!(app.delete(&format!("/api/v1/users/{id}"), Some(&admin)).await.status, 204);
    assert_invalid_key(&with_key(&app, "GET", "/api/v1/me", None, &key).await);
}

#[actix_web::test]
async fn rejected_keys_are_recorded_without_their_secret() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (owner_id, token) = user(&app, "reader", Role::User).await;
    let (_, key) = new_key(&app, &token, &["books:read"]).await;
    let (public_id, secret) = parts(&key);
    let wrong = format!("shelf_{public_id}_{}", "W".repeat(secret.len()));
    assert_invalid_key(&with_key(&app, "GET", "/api/v1/books", None, &wrong).await);
    assert_invalid_key(&with_key(&app, "GET", "/api/v1/books", None, "garbage").await);

    let events = app.events(&admin, "type=api_key_rejected").await;
    assert_eq!(events.len(), 2, "{events:?}");
    let wrong_secret = events.iter().find(|e| e["details"]["reason"] == "wrong_secret").expect("no wrong_secret event");
    assert_eq!(wrong_secret["details"]["public_id"], public_id);
    assert_eq!(wrong_secret["user_id"], owner_id);
    assert!(events.iter().any(|e| e["details"]["reason"] == "malformed"), "{events:?}");

    let everything = serde_json::to_string(&app.events(&admin, "").await).unwrap();
    assert!(everything.contains(public_id), "the key's creation was not recorded");
    for secret in [secret, &wrong[23..]] {
        assert!(!everything.contains(secret), "a secret reached the security events");
        assert!(captured_log().iter().all(|line| !line.contains(secret)), "a secret reached the log");
    }
}

// ---- revoking ----

#[actix_web::test]
async fn deleting_another_users_key_is_404_and_the_key_still_works() {
    let app = TestApp::spawn().await;
    let (_, owner) = user(&app, "reader", Role::User).await;
    let (_, other) = user(&app, "other", Role::User).await;
    let (id, key) = new_key(&app, &owner, &["books:read"]).await;
    app.delete(&format!("{KEYS}/{id}"), Some(&other)).await.assert_error(404, "not_found");
    // Not even an admin may revoke someone else's key through this route.
    let admin = app.admin_token().await;
    app.delete(&format!("{KEYS}/{id}"), Some(&admin)).await.assert_error(404, "not_found");
    assert_eq!(with_key(&app, "GET", "/api/v1/books", None, &key).await.status, 200);
    assert_eq!(listed(&app, &owner).await.len(), 1);
}

#[actix_web::test]
async fn deleting_an_unknown_key_is_404() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    for id in ["999", "0", "-1"] {
        app.delete(&format!("{KEYS}/{id}"), Some(&token)).await.assert_error(404, "not_found");
    }
    app.delete(&format!("{KEYS}/not-a-number"), Some(&token)).await.assert_error(404, "not_found");
}

#[actix_web::test]
async fn deleting_a_key_twice_is_404_the_second_time() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let (id, _) = new_key(&app, &token, &["books:read"]).await;
    assert_eq!(app.delete(&format!("{KEYS}/{id}"), Some(&token)).await.status, 204);
    app.delete(&format!("{KEYS}/{id}"), Some(&token)).await.assert_error(404, "not_found");
}

// ---- credentials together, and bookkeeping ----

#[actix_web::test]
async fn a_key_together_with_a_bearer_token_or_a_session_is_400_multiple_credentials() {
    let app = TestApp::spawn().await;
    app.create_user("reader", Role::User).await;
    let pair = app.token_pair("reader", USER_PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap();
    let key = app.api_key(token, &["books:read"]).await;
    let both = with_api_key(TestRequest::get().uri("/api/v1/books"), &key)
        .insert_header(("Authorization", format!("Bearer {token}")));
    app.send(both).await.assert_error(400, "multiple_credentials");

    let (cookie, csrf) = app.cookie_session("reader", USER_PASSWORD).await;
    let both = with_api_key(with_session(TestRequest::get().uri("/api/v1/books"), &cookie, Some(&csrf)), &key);
    app.send(both).await.assert_error(400, "multiple_credentials");
    // Each alone is fine.
    assert_eq!(with_key(&app, "GET", "/api/v1/books", None, &key).await.status, 200);
    assert_eq!(app.get("/api/v1/books", Some(token)).await.status, 200);
}

#[actix_web::test]
async fn last_used_at_is_set_on_first_use_and_written_at_most_once_a_minute() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let (id, key) = new_key(&app, &token, &["books:read"]).await;
    assert_eq!(last_used_at(&app, id).await, None);
    assert!(listed(&app, &token).await[0]["last_used_at"].is_null());

    let before = shelf::db::now();
    assert_eq!(with_key(&app, "GET", "/api/v1/books", None, &key).await.status, 200);
    let first = last_used_at(&app, id).await.expect("last_used_at was not set by a use");
    assert!((before..=shelf::db::now()).contains(&first), "{first}");
    assert_eq!(unix(&listed(&app, &token).await[0]["last_used_at"]), first);

    // A use right after leaves it alone.
    assert_eq!(with_key(&app, "GET", "/api/v1/books", None, &key).await.status, 200);
    assert_eq!(last_used_at(&app, id).await, Some(first));

    // Still within the minute: a use does not write it.
    let recent = shelf::db::now() - 30;
    set_last_used_at(&app, id, recent).await;
    assert_eq!(with_key(&app, "GET", "/api/v1/books", None, &key).await.status, 200);
    assert_eq!(last_used_at(&app, id).await, Some(recent));

    // Over a minute old: the next use writes it again.
    let stale = shelf::db::now() - 61;
    set_last_used_at(&app, id, stale).await;
    let before = shelf::db::now();
    assert_eq!(with_key(&app, "GET", "/api/v1/books", None, &key).await.status, 200);
    let refreshed = last_used_at(&app, id).await.unwrap();
    assert!(refreshed >= before, "last_used_at stayed at {refreshed}, used at {before}");
}

#[actix_web::test]
async fn two_api_key_headers_in_one_request_are_400_multiple_credentials() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let (_, key) = new_key(&app, &token, &["books:read"]).await;
    let (_, other) = new_key(&app, &token, &["library:read"]).await;
    // Which of two keys should count is exactly what an attacker (or a
    // proxy that reads the other one) would like to choose.
    for second in [other.as_str(), "garbage"] {
        let request = TestRequest::get()
            .uri("/api/v1/books")
            .append_header(("X-API-Key", key.as_str()))
            .append_header(("X-API-Key", second));
        app.send(request).await.assert_error(400, "multiple_credentials");
    }
}

#[actix_web::test]
async fn a_bad_key_on_search_is_401_not_a_silent_anonymous_search() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let (id, key) = new_key(&app, &token, &["books:read"]).await;
    app.book("Dune", "Frank Herbert").await;
    let search = |key: &str| app.send(with_api_key(TestRequest::get().uri("/api/v1/search?q=dune"), key));
    let found = search(&key).await;
    assert_eq!(found.status, 200);
    assert_eq!(titles(&found.json()), ["Dune"]);
    assert!(found.header("cache-control").is_some_and(|c| c.starts_with("private")), "{:?}", found.headers);
    assert_invalid_key(&search("shelf_0123456789abcdef_nope").await);
    assert_eq!(app.delete(&format!("{KEYS}/{id}"), Some(&token)).await.status, 204);
    assert_invalid_key(&search(&key).await);
}

#[actix_web::test]
async fn a_cookie_session_manages_keys_with_its_csrf_token() {
    let app = TestApp::spawn().await;
    app.create_user("reader", Role::User).await;
    let (cookie, csrf) = app.cookie_session("reader", USER_PASSWORD).await;
    // As a browser sends it: both cookies, and the header only if the page adds it.
    let browser = |req: TestRequest, header: Option<&str>| {
        let req = req.insert_header(("Cookie", format!("{SESSION_COOKIE}={cookie}; {CSRF_COOKIE}={csrf}")));
        match header {
            Some(value) => req.insert_header(("X-CSRF-Token", value.to_owned())),
            None => req,
        }
    };
    let create = || {
        TestRequest::post()
            .uri(KEYS)
            .set_json(json!({"name": "spa", "scopes": ["books:read"], "current_password": USER_PASSWORD}))
    };
    app.send(browser(create(), None)).await.assert_error(403, "csrf_failed");
    let created = app.send(browser(create(), Some(&csrf))).await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let id = created.json()["id"].as_i64().unwrap();
    let list = app.send(browser(TestRequest::get().uri(KEYS), None)).await;
    assert_eq!(list.status, 200, "{}", String::from_utf8_lossy(&list.body));
    assert_eq!(list.json()["api_keys"].as_array().unwrap().len(), 1, "the request without CSRF created a key");
    let path = format!("{KEYS}/{id}");
    app.send(browser(TestRequest::delete().uri(&path), None)).await.assert_error(403, "csrf_failed");
    assert_eq!(app.send(browser(TestRequest::delete().uri(&path), Some(&csrf))).await.status, 204);
    let list = app.send(browser(TestRequest::get().uri(KEYS), None)).await;
    assert_eq!(list.json()["api_keys"], json!([]));
}

#[actix_web::test]
async fn a_stolen_token_cannot_mint_a_key_without_the_password_and_guessing_it_is_throttled() {
    let app = TestApp::spawn().await;
    let (_, stolen) = user(&app, "victim", Role::User).await;
    let body = |password: Option<&str>| {
        let mut body = json!({"name": "backdoor", "scopes": ["books:read", "library:read"]});
        if let Some(password) = password {
            body["current_password"] = json!(password);
        }
        body
    };
    let error = app.post(KEYS, Some(&stolen), body(None)).await.assert_error(400, "validation_failed");
    assert_eq!(error["details"], json!([{"field": "current_password", "message": "is required"}]));
    for n in 0..5 {
        let guess = format!("guess number {n}");
        app.post(KEYS, Some(&stolen), body(Some(&guess))).await.assert_error(401, "invalid_credentials");
    }
    // Guessing is held to the account's failure count, like signing in.
    app.post(KEYS, Some(&stolen), body(Some(USER_PASSWORD))).await.assert_error(429, "too_many_requests");
    assert!(listed(&app, &stolen).await.is_empty(), "no key was made");
}

#[actix_web::test]
async fn a_user_holds_at_most_the_configured_number_of_active_keys() {
    let app = TestApp::spawn_with(&[("SHELF_API_KEYS_PER_USER", "3")]).await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(new_key(&app, &token, &["books:read"]).await.0);
    }
    let refused = create_key(&app, &token, json!({"name": "fourth", "scopes": ["books:read"]})).await;
    refused.assert_error(409, "too_many_api_keys");
    // A revoked key frees its place; so does an expired one.
    assert_eq!(app.delete(&format!("{KEYS}/{}", ids[0]), Some(&token)).await.status, 204);
    new_key(&app, &token, &["books:read"]).await;
    let expired = ids[1];
    shelf::db::run(&app.pool, move |conn| {
        diesel::update(api_keys::table.find(expired))
            .set(api_keys::expires_at.eq(shelf::db::now() - 1))
            .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    new_key(&app, &token, &["books:read"]).await;
    create_key(&app, &token, json!({"name": "one too many", "scopes": ["books:read"]}))
        .await
        .assert_error(409, "too_many_api_keys");
    // Another user has places of their own.
    let (_, other) = user(&app, "other", Role::User).await;
    new_key(&app, &other, &["books:read"]).await;
}

#[actix_web::test]
async fn thirty_concurrent_key_creations_make_exactly_the_allowed_twenty_five() {
    let app = TestApp::spawn_with(&[
        ("SHELF_LIMIT_LOGIN_FAILURES", "1000/15m"),
        ("SHELF_LIMIT_LOGIN_CLIENT_FAILURES", "1000/15m"),
        // Every creation gets a hashing thread at once: none is shed.
        ("SHELF_PASSWORD_THREADS", "32"),
    ])
    .await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let port = crate::helpers::serve(&app).await;
    let requests = (0..30)
        .map(|n| {
            crate::helpers::raw_post(
                KEYS,
                &format!("Authorization: Bearer {token}\r\n"),
                &json!({"name": format!("key {n}"), "scopes": ["books:read"], "current_password": USER_PASSWORD}),
            )
        })
        .collect();
    let answers = crate::helpers::at_once(port, requests).await;
    assert_eq!(crate::helpers::status_counts(&answers), [(201, 25), (409, 5)]);
    assert_eq!(listed(&app, &token).await.len(), 25);
}

#[actix_web::test]
async fn every_key_of_a_user_draws_on_the_one_authenticated_quota() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_AUTHENTICATED", "4/1h")]).await;
    let (_, token) = user(&app, "reader", Role::User).await;
    // Creating the two keys costs two requests of the quota.
    let (_, first) = new_key(&app, &token, &["books:read"]).await;
    let (_, second) = new_key(&app, &token, &["books:read"]).await;
    assert_eq!(with_key(&app, "GET", "/api/v1/books", None, &first).await.status, 200);
    let last = with_key(&app, "GET", "/api/v1/books", None, &second).await;
    assert_eq!(last.status, 200);
    assert_eq!(last.header("x-ratelimit-remaining"), Some("0"));
    for key in [&first, &second] {
        with_key(&app, "GET", "/api/v1/books", None, key).await.assert_error(429, "too_many_requests");
    }
    app.get("/api/v1/books", Some(&token)).await.assert_error(429, "too_many_requests");
}

#[actix_web::test]
async fn thirty_junk_keys_from_one_client_add_a_couple_of_events_and_then_get_429_unread() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let (_, valid) = new_key(&app, &token, &["books:read"]).await;
    let from = |ip: &str, key: &str| {
        let request = TestRequest::get()
            .uri("/api/v1/books")
            .peer_addr(format!("{ip}:40000").parse().unwrap())
            .insert_header(("X-API-Key", key.to_owned()));
        app.send(request)
    };
    let mut statuses = Vec::new();
    for n in 0..30 {
        let junk = format!("shelf_{:016}_{}", n, "x".repeat(43));
        statuses.push(from("203.0.113.66", &junk).await.status.as_u16());
    }
    // The default count is 20 failures a minute per client.
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 20, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 10, "{statuses:?}");
    // Refused unread: even a valid key from that client is not looked at...
    let refused = from("203.0.113.66", &valid).await;
    let error = refused.assert_error(429, "too_many_requests");
    assert!(error["message"].as_str().unwrap().contains("credential_failures-1m"), "{error}");
    assert!(refused.header("retry-after").is_some());
    // ...while the same key from another client works.
    assert_eq!(from("198.51.100.9", &valid).await.status, 200);

    let flood: Vec<Value> =
        app.events(&admin, "").await.into_iter().filter(|e| e["client_ip"] == "203.0.113.66").collect();
    assert!(flood.len() <= 3, "{flood:#?}");
    let rejected: Vec<&Value> = flood.iter().filter(|e| e["type"] == "api_key_rejected").collect();
    assert_eq!(rejected.len(), 1, "one row for the first minute: {flood:#?}");
    assert_eq!(rejected[0]["details"]["count"], 1);
    // One access-log line per request is the access log's job; the
    // security log gets no more than the stored events.
    let lines = captured_log().iter().filter(|l| l.starts_with("security:") && l.contains("203.0.113.66")).count();
    assert!(lines <= 3, "{lines} security log lines for one client's flood");
}

#[actix_web::test]
async fn forged_bearer_tokens_and_cookies_count_against_the_same_client_failures() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_CREDENTIAL_FAILURES", "4/1m")]).await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let from = |request: TestRequest| app.send(request.peer_addr("203.0.113.67:40000".parse().unwrap()));
    let me = || TestRequest::get().uri("/api/v1/me");
    from(me().insert_header(("Authorization", "Bearer forged.token.one"))).await.assert_error(401, "invalid_token");
    from(me().insert_header(("Authorization", "Bearer forged.token.two"))).await.assert_error(401, "invalid_token");
    from(me().insert_header(("Cookie", format!("{SESSION_COOKIE}=guessed-session-1"))))
        .await
        .assert_error(401, "invalid_session");
    from(me().insert_header(("X-API-Key", "shelf_0000000000000000_guess"))).await.assert_error(401, "invalid_api_key");
    from(me().insert_header(("Authorization", format!("Bearer {token}")))).await.assert_error(429, "too_many_requests");
    // Without a credential the client is an anonymous caller like any other.
    assert_eq!(from(TestRequest::get().uri("/api/v1/search?q=x")).await.status, 200);
}

#[actix_web::test]
async fn key_names_are_listed_html_safe() {
    let app = TestApp::spawn().await;
    let (_, token) = user(&app, "reader", Role::User).await;
    let created =
        create_key(&app, &token, json!({"name": "<b>sync</b> & <img src=x onerror=y>co", "scopes": ["books:read"]}))
            .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["name"], "sync &amp; co");
    assert_eq!(listed(&app, &token).await[0]["name"], "sync &amp; co");
}
