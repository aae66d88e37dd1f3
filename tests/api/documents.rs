//! The documents tell the truth (v1 throughout; what is generic, for every
//! version): requests it calls valid are accepted,
//! the constraints the server enforces are in it, and every field a
//! response always carries is required. Each test here stands for
//! something a fuzzer driven by the document once found
//! (`.ci/fuzz-openapi.sh` runs it).

use std::collections::BTreeSet;

use actix_web::test::TestRequest;
use serde_json::{Value, json};

use crate::helpers::{TestApp, with_current_password, with_session};

async fn document(app: &TestApp) -> Value {
    let response = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(response.status, 200);
    response.json()
}

/// Every version's document, as served.
async fn documents(app: &TestApp) -> Vec<Value> {
    let mut documents = Vec::new();
    for version in shelf::api::openapi::VERSIONS {
        let response = app.get(&format!("/api/{version}/openapi.json"), None).await;
        assert_eq!(response.status, 200);
        documents.push(response.json());
    }
    documents
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

#[actix_web::test]
async fn integral_numbers_are_whole_numbers_in_every_integer_body_field() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let book = app.book("Middlemarch", "George Eliot").await;
    let as_float = json!(book as f64);
    assert!(as_float.is_f64(), "the id must be sent as a JSON float: {as_float}");

    let tagged = app.post("/api/v1/add_tag", Some(&token), json!({"book_id": as_float, "tag": "novel"})).await;
    assert_eq!(tagged.status, 200, "{}", String::from_utf8_lossy(&tagged.body));
    let status =
        app.post("/api/v1/change_status", Some(&token), json!({"book_id": as_float, "status": "reading"})).await;
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["book_id"], json!(book));
    let untagged = app.post("/api/v1/remove_tag", Some(&token), json!({"book_id": as_float, "tag": "novel"})).await;
    assert_eq!(untagged.status, 200);

    let created = app
        .post(
            "/api/v1/books",
            Some(&token),
            json!({"title": "Adam Bede", "author": "George Eliot", "published_year": 1859.0}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["published_year"], json!(1859));

    let body = json!({"name": "integral", "scopes": ["books:read"], "expires_in_days": 30.0});
    let key = app.post("/api/v1/api-keys", Some(&token), with_current_password(body, &token)).await;
    assert_eq!(key.status, 201, "{}", String::from_utf8_lossy(&key.body));
    assert!(key.json()["expires_at"].is_string());
}

#[actix_web::test]
async fn fractional_and_out_of_range_numbers_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let book = app.book("Silas Marner", "George Eliot").await;

    for book_id in [json!(book as f64 + 0.5), json!(1e300), json!("1")] {
        let refused = app.post("/api/v1/add_tag", Some(&token), json!({"book_id": book_id, "tag": "novel"})).await;
        let error = refused.assert_error(400, "validation_failed");
        assert_eq!(error["details"], json!([{"field": "book_id", "message": "must be a whole number"}]), "{book_id}");
    }
    let refused = app
        .post(
            "/api/v1/books",
            Some(&token),
            json!({"title": "Romola", "author": "George Eliot", "published_year": 1862.5}),
        )
        .await;
    let error = refused.assert_error(400, "validation_failed");
    assert_eq!(error["details"][0]["field"], "published_year");
    let body = json!({"name": "fraction", "scopes": ["books:read"], "expires_in_days": 0.5});
    let refused = app.post("/api/v1/api-keys", Some(&token), with_current_password(body, &token)).await;
    assert_eq!(refused.assert_error(400, "validation_failed")["details"][0]["field"], "expires_in_days");

    // Query strings are not JSON: their integers are written in digits.
    let refused = app.get("/api/v1/books?page=2.0", Some(&token)).await;
    assert_eq!(refused.assert_error(400, "validation_failed")["details"][0]["field"], "page");

    // Nothing changed.
    let tags = app.get("/api/v1/tags", Some(&token)).await.json();
    assert_eq!(tags["tags"], json!([]));
    assert_eq!(app.get("/api/v1/api-keys", Some(&token)).await.json()["api_keys"], json!([]));
}

#[actix_web::test]
async fn revoke_with_a_null_body_is_like_an_empty_body() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let request = TestRequest::post()
        .uri("/api/token/revoke")
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Content-Type", "application/json"))
        .set_payload("null");
    assert_eq!(app.send(request).await.status, 204);
    app.get("/api/v1/me", Some(&token)).await.assert_error(401, "invalid_token");

    // The document's body schema is what it accepts: nothing, null, or the object.
    let doc = document(&app).await;
    let body = &doc["paths"]["/api/token/revoke"]["post"]["requestBody"];
    assert_ne!(body["required"], json!(true));
    let types: Vec<&Value> =
        body["content"]["application/json"]["schema"]["oneOf"].as_array().unwrap().iter().collect();
    assert!(types.contains(&&json!({"type": "null"})), "{types:?}");
}

#[actix_web::test]
async fn every_documented_event_type_is_a_filter_the_server_accepts() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let doc = document(&app).await;
    let parameters = doc["paths"]["/api/v1/admin/security-events"]["get"]["parameters"].as_array().unwrap();
    let filter = parameters.iter().find(|p| p["name"] == "type").unwrap();
    let reference = filter["schema"]["oneOf"]
        .as_array()
        .and_then(|alternatives| alternatives.iter().find_map(|a| a["$ref"].as_str()))
        .or_else(|| filter["schema"]["$ref"].as_str())
        .expect("the type filter names the event type schema");
    let name = reference.rsplit('/').next().unwrap();
    let names: Vec<&str> = schema(&doc, name)["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(names.len(), shelf::audit::Event::ALL.len());
    for event in names {
        let response = app.get(&format!("/api/v1/admin/security-events?type={event}"), Some(&token)).await;
        assert_eq!(response.status, 200, "{event}");
    }
    let refused = app.get("/api/v1/admin/security-events?type=", Some(&token)).await;
    assert_eq!(refused.assert_error(400, "validation_failed")["details"][0]["field"], "type");
}

#[actix_web::test]
async fn the_length_rules_the_server_enforces_are_in_the_document() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let length = |schema_name: &str, field: &str| {
        let property = &schema(&doc, schema_name)["properties"][field];
        (property["minLength"].as_u64(), property["maxLength"].as_u64())
    };
    assert_eq!(length("RefreshRequest", "refresh_token"), (Some(1), Some(256)));
    assert_eq!(length("RevokeRequest", "refresh_token"), (Some(1), Some(256)));
    assert_eq!(length("PasswordChange", "current_password"), (Some(1), Some(1024)));
    assert_eq!(length("NewApiKey", "current_password"), (Some(1), Some(1024)));
    assert_eq!(length("Credentials", "password"), (Some(1), Some(1024)));

    // What the bounds stand for: outside them, refused before any lookup.
    for refresh_token in [String::new(), "a".repeat(257)] {
        let refused = app.post("/api/token/refresh", None, json!({"refresh_token": refresh_token})).await;
        refused.assert_error(401, "invalid_refresh_token");
    }
    let token = app.admin_token().await;
    let refused = app
        .post(
            "/api/v1/me/password",
            Some(&token),
            json!({"current_password": "", "new_password": "a long enough new password"}),
        )
        .await;
    assert_eq!(refused.assert_error(400, "validation_failed")["details"][0]["field"], "current_password");
}

#[actix_web::test]
async fn isbns_the_server_accepts_match_the_documented_pattern_and_format() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let doc = document(&app).await;
    let isbn = &schema(&doc, "BookInput")["properties"]["isbn"];
    assert_eq!(isbn["format"], "isbn");
    let pattern = regex::Regex::new(isbn["pattern"].as_str().unwrap()).unwrap();
    for (spelling, accepted) in [
        ("0-306-40615-2", true),
        ("978 0 306 40615 7", true),
        ("0-8044-2957-x", true),
        ("0-306-40615-3", false),
        ("978-0-306-40615-8", false),
    ] {
        assert!(pattern.is_match(spelling), "{spelling} has an ISBN's shape");
        let body = json!({"title": format!("Book {spelling}"), "author": "Someone", "isbn": spelling});
        let response = app.post("/api/v1/books", Some(&token), body).await;
        assert_eq!(response.status == 201, accepted, "{spelling}: {}", String::from_utf8_lossy(&response.body));
    }
    for shape in ["030640615", "0-306-40615-2-1", "97803064061577", "isbn 0306406152"] {
        assert!(!pattern.is_match(shape), "{shape}");
        let body = json!({"title": "Shapeless", "author": "Someone", "isbn": shape});
        app.post("/api/v1/books", Some(&token), body).await.assert_error(400, "validation_failed");
    }
}

/// The schemas a response names, and every schema they name in turn.
fn response_schemas(doc: &Value) -> BTreeSet<String> {
    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                    found.push(reference.rsplit('/').next().unwrap().to_owned());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            refs(&operation["responses"], &mut pending);
        }
    }
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if seen.insert(name.clone()) {
            refs(schema(doc, &name), &mut pending);
        }
    }
    seen
}

#[actix_web::test]
async fn every_field_a_response_always_carries_is_required() {
    let app = TestApp::spawn().await;
    // The only response fields that are sometimes absent: `details` of a
    // non-validation error, v2's `my` for an anonymous caller.
    let sometimes_absent = [("ErrorBody", "details"), ("CatalogBook", "my")];
    let mut optional = Vec::new();
    for doc in documents(&app).await {
        for name in response_schemas(&doc) {
            let mut parts = vec![schema(&doc, &name).clone()];
            parts.extend(schema(&doc, &name)["allOf"].as_array().cloned().unwrap_or_default());
            for part in parts {
                let required: Vec<&str> = part["required"]
                    .as_array()
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for field in part["properties"].as_object().map(|p| p.keys().collect::<Vec<_>>()).unwrap_or_default() {
                    if !required.contains(&field.as_str())
                        && !sometimes_absent.contains(&(name.as_str(), field.as_str()))
                    {
                        optional.push(format!("{name}.{field}"));
                    }
                }
            }
        }
        // Null where it can be null.
        assert_eq!(schema(&doc, "Book")["properties"]["rating"]["type"], json!(["number", "null"]));
    }
    assert!(optional.is_empty(), "always sent but not required: {optional:?}");
}

#[actix_web::test]
async fn a_book_with_every_optional_field_empty_still_carries_them_all_as_null() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let book = app.book("Felix Holt", "George Eliot").await;
    let body = app.get(&format!("/api/v1/books/{book}"), Some(&token)).await.json();
    for field in ["rating", "isbn", "published_year", "specifications_flat"] {
        assert_eq!(body.get(field), Some(&Value::Null), "{field}");
    }
}

/// The pattern the document gives a body field.
fn pattern(doc: &Value, schema_name: &str, field: &str) -> regex::Regex {
    regex::Regex::new(schema(doc, schema_name)["properties"][field]["pattern"].as_str().unwrap()).unwrap()
}

#[actix_web::test]
async fn text_patterns_say_what_the_server_accepts() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let doc = document(&app).await;
    let book = app.book("Daniel Deronda", "George Eliot").await;

    let title = pattern(&doc, "BookInput", "title");
    let specifications = pattern(&doc, "BookInput", "specifications_flat");
    for (text, accepted) in [
        ("Scenes of Clerical Life", true),
        ("  padded, but not blank  ", true),
        ("   ", false),
        ("\u{3000}\u{a0}", false),
        ("tab\there", false),
    ] {
        assert_eq!(title.is_match(text), accepted, "{text:?}");
        let response = app.post("/api/v1/books", Some(&token), json!({"title": text, "author": "George Eliot"})).await;
        assert_eq!(response.status == 201, accepted, "{text:?}: {}", String::from_utf8_lossy(&response.body));
    }
    for (text, accepted) in [("lines\nand\ttabs\r\n", true), ("a NUL \u{0}", false), ("escape \u{1b}[0m", false)] {
        assert_eq!(specifications.is_match(text), accepted, "{text:?}");
        let body = json!({"title": "Specified", "author": "Someone", "specifications_flat": text});
        let response = app.post("/api/v1/books", Some(&token), body).await;
        assert_eq!(response.status == 201, accepted, "{text:?}: {}", String::from_utf8_lossy(&response.body));
    }

    let tag = pattern(&doc, "TagRequest", "tag");
    for (text, accepted) in
        [("classic", true), ("two words", true), (" leading", false), ("trailing ", false), ("a\u{7}b", false)]
    {
        assert_eq!(tag.is_match(text), accepted, "{text:?}");
        let response = app.post("/api/v1/add_tag", Some(&token), json!({"book_id": book, "tag": text})).await;
        assert_eq!(response.status == 200, accepted, "{text:?}: {}", String::from_utf8_lossy(&response.body));
    }
}

#[actix_web::test]
async fn the_sort_parameters_are_enums_of_what_the_server_accepts() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let doc = document(&app).await;
    let parameters = doc["paths"]["/api/v1/books"]["get"]["parameters"].as_array().unwrap();
    let values = |name: &str| -> Vec<String> {
        let parameter = parameters.iter().find(|p| p["name"] == name).unwrap();
        let schema = &parameter["schema"];
        let alternatives = schema["oneOf"].as_array().cloned().unwrap_or_else(|| vec![schema.clone()]);
        let with_enum = alternatives.iter().find(|s| s["enum"].is_array()).expect("an enum");
        with_enum["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    let columns = values("sortColumn");
    let orders = values("sortOrder");
    assert_eq!((columns.len(), orders.len()), (3, 2));
    for column in &columns {
        for order in &orders {
            let response = app.get(&format!("/api/v1/books?sortColumn={column}&sortOrder={order}"), Some(&token)).await;
            assert_eq!(response.status, 200, "{column} {order}");
        }
    }
    app.get("/api/v1/books?sortColumn=year", Some(&token)).await.assert_error(400, "invalid_sort_column");
    app.get("/api/v1/books?sortOrder=up", Some(&token)).await.assert_error(400, "invalid_sort_order");
}

#[actix_web::test]
async fn revoke_documents_the_cookie_session_it_accepts() {
    let app = TestApp::spawn().await;
    let (cookie, csrf) = app.cookie_session("admin", crate::helpers::ADMIN_PASSWORD).await;
    let doc = document(&app).await;
    let security = &doc["paths"]["/api/token/revoke"]["post"]["security"];
    assert!(security.as_array().unwrap().contains(&json!({"session": []})), "{security}");

    let revoke = || with_session(TestRequest::post().uri("/api/token/revoke"), &cookie, Some(&csrf));
    assert_eq!(app.send(revoke()).await.status, 204);
    let after = with_session(TestRequest::get().uri("/api/session"), &cookie, None);
    app.send(after).await.assert_error(401, "invalid_session");
}

#[actix_web::test]
async fn a_method_the_document_does_not_list_is_a_405_whose_allow_lists_the_documented_ones() {
    let app = TestApp::spawn().await;
    for doc in documents(&app).await {
        for (path, item) in doc["paths"].as_object().unwrap() {
            let documented: BTreeSet<String> = item.as_object().unwrap().keys().map(|m| m.to_uppercase()).collect();
            let mut allowed = documented.clone();
            if documented.contains("GET") {
                allowed.insert("HEAD".to_owned());
            }
            let other =
                ["GET", "PUT", "POST", "DELETE", "PATCH"].into_iter().find(|m| !documented.contains(*m)).unwrap();
            let uri = path.replace("{id}", "1").replace("{tag}", "x");
            let request = TestRequest::default().method(other.parse().unwrap()).uri(&uri);
            let response = app.send(request).await;
            response.assert_error(405, "method_not_allowed");
            let allow: BTreeSet<String> =
                response.header("Allow").unwrap_or_default().split(',').map(|m| m.trim().to_owned()).collect();
            assert_eq!(allow, allowed, "{other} {path}");
        }
    }
}
