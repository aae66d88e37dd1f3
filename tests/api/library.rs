//! Tags, statuses and the library: each user's own, invisible to others.

use serde_json::json;

use crate::helpers::TestApp;

#[actix_web::test]
async fn tags_are_added_sorted_deduplicated_and_removed() {
    let app = TestApp::spawn().await;
    let token = app.user_token("reader").await;
    let id = app.book("Dune", "Frank Herbert").await;

    let response = app.post("/api/v1/add_tag", Some(&token), json!({"tag": "sci-fi", "book_id": id})).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), json!({"success": true, "tags": ["sci-fi"]}));
    app.post("/api/v1/add_tag", Some(&token), json!({"tag": "classic", "book_id": id})).await;
    let again = app.post("/api/v1/add_tag", Some(&token), json!({"tag": "sci-fi", "book_id": id})).await;
    assert_eq!(again.json(), json!({"success": true, "tags": ["classic", "sci-fi"]}));

    let removed = app.post("/api/v1/remove_tag", Some(&token), json!({"tag": "sci-fi", "book_id": id})).await;
    assert_eq!(removed.json(), json!({"success": true, "tags": ["classic"]}));
    app.post("/api/v1/remove_tag", Some(&token), json!({"tag": "sci-fi", "book_id": id}))
        .await
        .assert_error(404, "not_found");
}

#[actix_web::test]
async fn tagging_an_unknown_book_is_404_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let token = app.user_token("reader").await;
    app.post("/api/v1/add_tag", Some(&token), json!({"tag": "ghost", "book_id": 999}))
        .await
        .assert_error(404, "not_found");
    app.post("/api/v1/change_status", Some(&token), json!({"book_id": 999, "status": "read"}))
        .await
        .assert_error(404, "not_found");
    assert_eq!(app.get("/api/v1/tags", Some(&token)).await.json(), json!({"tags": []}));
}

#[actix_web::test]
async fn tag_and_status_bodies_are_validated() {
    let app = TestApp::spawn().await;
    let token = app.user_token("reader").await;
    let id = app.book("Dune", "Frank Herbert").await;
    for (body, field) in [
        (json!({"tag": "", "book_id": id}), "tag"),
        (json!({"tag": "x".repeat(33), "book_id": id}), "tag"),
        (json!({"tag": " padded", "book_id": id}), "tag"),
        (json!({"tag": "line\nbreak", "book_id": id}), "tag"),
        (json!({"tag": "ok", "book_id": 0}), "book_id"),
    ] {
        let error = app.post("/api/v1/add_tag", Some(&token), body).await.assert_error(400, "validation_failed");
        assert_eq!(error["details"][0]["field"], field);
    }
    for (body, field, message) in [
        (json!({"tag": "ok"}), "book_id", "is required"),
        (json!({"tag": 5, "book_id": id}), "tag", "must be a string"),
        (json!({"tag": "ok", "book_id": "1"}), "book_id", "must be a whole number"),
        (json!({"tag": "ok", "book_id": id, "user_id": 1}), "user_id", "is not a field of this request"),
    ] {
        let error = app.post("/api/v1/add_tag", Some(&token), body).await.assert_error(400, "validation_failed");
        assert_eq!(error["details"], json!([{"field": field, "message": message}]));
    }
    let error = app
        .post("/api/v1/change_status", Some(&token), json!({"book_id": id, "status": "finished"}))
        .await
        .assert_error(400, "validation_failed");
    assert_eq!(error["details"][0]["field"], "status");
    assert_eq!(app.get("/api/v1/tags", Some(&token)).await.json(), json!({"tags": []}));
    assert_eq!(app.get("/api/v1/library", Some(&token)).await.json()["total"], 0);
    app.post("/api/v1/add_tag", None, json!({"tag": "ok", "book_id": id}))
        .await
        .assert_error(401, "authentication_required");
}

#[actix_web::test]
async fn status_changes_and_the_library_lists_with_filters() {
    let app = TestApp::spawn().await;
    let token = app.user_token("reader").await;
    let dune = app.book("Dune", "Frank Herbert").await;
    let emma = app.book("Emma", "Jane Austen").await;
    let ulysses = app.book("Ulysses", "James Joyce").await;
    app.book("Unread", "Nobody").await;

    let response = app.post("/api/v1/change_status", Some(&token), json!({"book_id": dune, "status": "reading"})).await;
    assert_eq!(response.json(), json!({"success": true, "book_id": dune, "status": "reading"}));
    let response = app.post("/api/v1/change_status", Some(&token), json!({"book_id": dune, "status": "read"})).await;
    assert_eq!(response.json()["status"], "read");
    app.post("/api/v1/change_status", Some(&token), json!({"book_id": emma, "status": "want_to_read"})).await;
    app.post("/api/v1/add_tag", Some(&token), json!({"tag": "fav", "book_id": emma})).await;
    app.post("/api/v1/add_tag", Some(&token), json!({"tag": "fav", "book_id": ulysses})).await;
    app.post("/api/v1/add_tag", Some(&token), json!({"tag": "long", "book_id": ulysses})).await;

    let library = app.get("/api/v1/library", Some(&token)).await;
    assert!(library.header("cache-control").unwrap().starts_with("private"));
    let body = library.json();
    assert_eq!(body["total"], 3);
    assert_eq!(body["books"][0]["title"], "Dune");
    assert_eq!(body["books"][0]["status"], "read");
    assert_eq!(body["books"][0]["tags"], json!([]));
    assert_eq!(body["books"][1]["title"], "Emma");
    assert_eq!(body["books"][1]["tags"], json!(["fav"]));
    assert_eq!(body["books"][2]["status"], serde_json::Value::Null);
    assert_eq!(body["books"][2]["tags"], json!(["fav", "long"]));

    let fav = app.get("/api/v1/library?tag=fav", Some(&token)).await.json();
    assert_eq!(crate::helpers::titles(&fav), ["Emma", "Ulysses"]);
    let read = app.get("/api/v1/library?status=read", Some(&token)).await.json();
    assert_eq!(crate::helpers::titles(&read), ["Dune"]);
    let both = app.get("/api/v1/library?status=want_to_read&tag=fav", Some(&token)).await.json();
    assert_eq!(crate::helpers::titles(&both), ["Emma"]);
    let paged = app.get("/api/v1/library?per_page=1&page=3", Some(&token)).await.json();
    assert_eq!(crate::helpers::titles(&paged), ["Ulysses"]);
    assert_eq!(paged["total"], 3);
    app.get("/api/v1/library?status=done", Some(&token)).await.assert_error(400, "validation_failed");

    let tags = app.get("/api/v1/tags", Some(&token)).await.json();
    assert_eq!(tags, json!({"tags": [{"name": "fav", "book_count": 2}, {"name": "long", "book_count": 1}]}));
}

#[actix_web::test]
async fn one_user_never_sees_or_changes_another_users_data() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let id = app.book("Dune", "Frank Herbert").await;
    app.post("/api/v1/add_tag", Some(&alice), json!({"tag": "mine", "book_id": id})).await;
    app.post("/api/v1/change_status", Some(&alice), json!({"book_id": id, "status": "reading"})).await;

    // Bob cannot remove Alice's tag: for him it does not exist.
    app.post("/api/v1/remove_tag", Some(&bob), json!({"tag": "mine", "book_id": id}))
        .await
        .assert_error(404, "not_found");
    assert_eq!(app.get("/api/v1/tags", Some(&bob)).await.json(), json!({"tags": []}));
    assert_eq!(app.get("/api/v1/library", Some(&bob)).await.json()["total"], 0);
    assert_eq!(app.get("/api/v1/library?tag=mine", Some(&bob)).await.json()["total"], 0);

    // Bob's own tag and status do not touch Alice's.
    let bobs = app.post("/api/v1/add_tag", Some(&bob), json!({"tag": "other", "book_id": id})).await.json();
    assert_eq!(bobs["tags"], json!(["other"]));
    app.post("/api/v1/change_status", Some(&bob), json!({"book_id": id, "status": "abandoned"})).await;

    let alices = app.get("/api/v1/library", Some(&alice)).await.json();
    assert_eq!(alices["books"][0]["status"], "reading");
    assert_eq!(alices["books"][0]["tags"], json!(["mine"]));
    let tags = app.post("/api/v1/add_tag", Some(&alice), json!({"tag": "mine", "book_id": id})).await.json();
    assert_eq!(tags["tags"], json!(["mine"]));
}

#[actix_web::test]
async fn tag_names_come_back_html_safe_everywhere_and_are_stored_as_written() {
    let app = TestApp::spawn().await;
    let token = app.user_token("reader").await;
    let book = app.book("Dune", "Frank Herbert").await;
    let planted = "a<img src=x onerror=alert(1)>b";
    let cases = [(planted, "ab"), ("Tom & Jerry", "Tom &amp; Jerry"), ("<xmp>&amp;&lt;</xmp>", "&amp;&lt;")];
    for (raw, _) in cases {
        let added = app.post("/api/v1/add_tag", Some(&token), json!({"tag": raw, "book_id": book})).await;
        assert_eq!(added.status, 200, "{raw}");
        let body = String::from_utf8_lossy(&added.body).into_owned();
        assert!(!body.contains('<') && !body.contains("&amp;amp;"), "{body}");
    }
    let mut safe: Vec<&str> = cases.iter().map(|(_, safe)| *safe).collect();
    safe.sort();
    let tags = app.get("/api/v1/tags", Some(&token)).await.json();
    let mut listed: Vec<String> =
        tags["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect();
    listed.sort();
    assert_eq!(listed, safe);
    let library = app.get("/api/v1/library", Some(&token)).await;
    let body = String::from_utf8_lossy(&library.body).into_owned();
    assert!(!body.contains('<') && !body.contains("&amp;amp;"), "{body}");
    let mut on_book: Vec<String> = serde_json::from_value(library.json()["books"][0]["tags"].clone()).unwrap();
    on_book.sort();
    assert_eq!(on_book, safe);
    // Stored as written, and removable by the name as written.
    let stored: Vec<String> = shelf::db::run(&app.pool, |conn| {
        use diesel::prelude::*;
        Ok(shelf::db::schema::tags::table.select(shelf::db::schema::tags::name).load(conn)?)
    })
    .await
    .unwrap();
    assert!(stored.contains(&planted.to_owned()), "{stored:?}");
    let removed = app.post("/api/v1/remove_tag", Some(&token), json!({"tag": planted, "book_id": book})).await;
    assert_eq!(removed.status, 200);
    assert!(!removed.json()["tags"].as_array().unwrap().contains(&json!("ab")));
}
