//! `/books`: reads for any signed-in user, writes for admins, sanitized
//! output.

use serde_json::{Value, json};

use crate::helpers::TestApp;

fn dune() -> Value {
    json!({
        "title": "Dune", "author": "Frank Herbert", "rating": 4.5,
        "isbn": "978-0-306-40615-7", "published_year": 1965,
        "specifications_flat": "Genre: science fiction"
    })
}

#[actix_web::test]
async fn admin_creates_reads_replaces_and_deletes_a_book() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;

    let created = app.post("/api/v1/books", Some(&admin), dune()).await;
    assert_eq!(created.status, 201);
    let book = created.json();
    let id = book["id"].as_i64().unwrap();
    assert_eq!(created.header("location"), Some(format!("/api/v1/books/{id}").as_str()));
    assert_eq!(book["isbn"], "9780306406157");
    assert_eq!(book["rating"], 4.5);
    let keys: Vec<&String> = book.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["author", "id", "isbn", "published_year", "rating", "specifications_flat", "title"]);

    let read = app.get(&format!("/api/v1/books/{id}"), Some(&admin)).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.json(), book);

    let mut changed = dune();
    changed["title"] = json!("Dune Messiah");
    changed["rating"] = Value::Null;
    let replaced = app.put(&format!("/api/v1/books/{id}"), Some(&admin), changed).await;
    assert_eq!(replaced.status, 200);
    assert_eq!(replaced.json()["title"], "Dune Messiah");
    assert_eq!(replaced.json()["rating"], Value::Null);

    assert_eq!(app.delete(&format!("/api/v1/books/{id}"), Some(&admin)).await.status, 204);
    app.get(&format!("/api/v1/books/{id}"), Some(&admin)).await.assert_error(404, "not_found");
    app.delete(&format!("/api/v1/books/{id}"), Some(&admin)).await.assert_error(404, "not_found");
    app.put(&format!("/api/v1/books/{id}"), Some(&admin), dune()).await.assert_error(404, "not_found");
}

#[actix_web::test]
async fn listing_is_paged_and_needs_credentials() {
    let app = TestApp::spawn().await;
    for i in 0..25 {
        app.book(&format!("Book {i:02}"), "Author").await;
    }
    let token = app.user_token("reader").await;
    let first = app.get("/api/v1/books", Some(&token)).await.json();
    assert_eq!(first["total"], 25);
    assert_eq!(first["page"], 1);
    assert_eq!(first["per_page"], 20);
    assert_eq!(first["books"].as_array().unwrap().len(), 20);
    let last = app.get("/api/v1/books?page=2&per_page=20", Some(&token)).await.json();
    assert_eq!(last["books"].as_array().unwrap().len(), 5);
    let sorted = app.get("/api/v1/books?sortColumn=title&sortOrder=desc&per_page=1", Some(&token)).await.json();
    assert_eq!(sorted["books"][0]["title"], "Book 24");
    let filtered = app.get("/api/v1/books?q=book%201", Some(&token)).await.json();
    assert_eq!(filtered["total"], 10);

    app.get("/api/v1/books", None).await.assert_error(401, "authentication_required");
    app.get("/api/v1/books/1", None).await.assert_error(401, "authentication_required");
}

#[actix_web::test]
async fn paging_and_sorting_limits_are_enforced() {
    let app = TestApp::spawn().await;
    let token = app.user_token("reader").await;
    for query in ["page=0", "page=100001", "per_page=0", "per_page=101"] {
        let error =
            app.get(&format!("/api/v1/books?{query}"), Some(&token)).await.assert_error(400, "validation_failed");
        assert!(error["details"].as_array().is_some_and(|d| !d.is_empty()), "{query}");
    }
    let error = app.get("/api/v1/books?page=abc", Some(&token)).await.assert_error(400, "validation_failed");
    assert_eq!(error["details"], json!([{"field": "page", "message": "must be a whole number"}]));
    let error = app.get("/api/v1/books?sortColumn=id", Some(&token)).await.assert_error(400, "invalid_sort_column");
    assert_eq!(error["message"], "Invalid sort column");
    let error = app.get("/api/v1/books?sortOrder=up", Some(&token)).await.assert_error(400, "invalid_sort_order");
    assert_eq!(error["message"], "Invalid sort order");
    assert_eq!(app.get("/api/v1/books?page=100000", Some(&token)).await.status, 200);
}

#[actix_web::test]
async fn writes_are_for_admins_only() {
    let app = TestApp::spawn().await;
    let id = app.book("Kept", "Author").await;
    let user = app.user_token("reader").await;
    app.post("/api/v1/books", Some(&user), dune()).await.assert_error(403, "forbidden");
    app.put(&format!("/api/v1/books/{id}"), Some(&user), dune()).await.assert_error(403, "forbidden");
    app.delete(&format!("/api/v1/books/{id}"), Some(&user)).await.assert_error(403, "forbidden");
    app.post("/api/v1/books", None, dune()).await.assert_error(401, "authentication_required");
    let book = app.get(&format!("/api/v1/books/{id}"), Some(&user)).await.json();
    assert_eq!(book["title"], "Kept");
    assert_eq!(app.get("/api/v1/books", Some(&user)).await.json()["total"], 1);
}

#[actix_web::test]
async fn every_validation_rule_rejects_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let cases = [
        ("title", json!("")),
        ("title", json!("   ")),
        ("title", json!("x".repeat(301))),
        ("author", json!("")),
        ("author", json!("x".repeat(201))),
        ("rating", json!(-0.1)),
        ("rating", json!(5.01)),
        ("isbn", json!("978-0-306-40615-8")),
        ("isbn", json!("12345")),
        ("published_year", json!(2101)),
        ("specifications_flat", json!("x".repeat(10_001))),
    ];
    for (field, value) in cases {
        let mut body = dune();
        body[field] = value;
        let error = app.post("/api/v1/books", Some(&admin), body).await.assert_error(400, "validation_failed");
        assert_eq!(error["details"][0]["field"], field, "{error}");
    }
    for (field, value, message) in [
        ("rating", json!("five"), "must be a number"),
        ("published_year", json!(1.5), "must be a whole number"),
        ("title", json!(42), "must be a string"),
    ] {
        let mut body = dune();
        body[field] = value;
        let error = app.post("/api/v1/books", Some(&admin), body).await.assert_error(400, "validation_failed");
        assert_eq!(error["details"], json!([{"field": field, "message": message}]));
    }
    let mut smuggled = dune();
    smuggled["id"] = json!(77);
    let error = app.post("/api/v1/books", Some(&admin), smuggled).await.assert_error(400, "validation_failed");
    assert_eq!(error["details"], json!([{"field": "id", "message": "is not a field of this request"}]));
    assert_eq!(app.get("/api/v1/books", Some(&admin)).await.json()["total"], 0);
}

#[actix_web::test]
async fn every_text_field_is_sanitized_on_the_way_out_and_kept_as_written() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = json!({
        "title": "<script>alert('t')</script>Dune & <b>Sons</b>",
        "author": "<img src=x onerror=alert(1)>Frank <i>Herbert</i>",
        "specifications_flat": "<iframe src=//evil></iframe>a < b &amp; c<style>x{}</style>",
        "isbn": "0-306-40615-2"
    });
    let created = app.post("/api/v1/books", Some(&admin), body).await.json();
    let expected = json!({
        "title": "Dune &amp; Sons",
        "author": "Frank Herbert",
        "specifications_flat": "a &lt; b &amp; c",
        "isbn": "0306406152",
    });
    let id = created["id"].as_i64().unwrap();
    let read = app.get(&format!("/api/v1/books/{id}"), Some(&admin)).await.json();
    let searched = app.get("/api/v1/search?q=Dune", None).await.json()["books"][0].clone();
    for book in [&created, &read, &searched] {
        for (field, value) in expected.as_object().unwrap() {
            assert_eq!(&book[field], value, "{field} in {book}");
        }
    }
    // The raw text is stored untouched.
    let raw: String = shelf::db::run(&app.pool, move |conn| {
        use diesel::prelude::*;
        use shelf::db::schema::books;
        Ok(books::table.find(id).select(books::title).first(conn)?)
    })
    .await
    .unwrap();
    assert_eq!(raw, "<script>alert('t')</script>Dune & <b>Sons</b>");
}

#[actix_web::test]
async fn deleting_a_book_removes_its_tags_and_statuses() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let reader = app.user_token("reader").await;
    let id = app.book("Doomed", "Author").await;
    app.post("/api/v1/add_tag", Some(&reader), json!({"tag": "gone", "book_id": id})).await;
    app.post("/api/v1/change_status", Some(&reader), json!({"book_id": id, "status": "read"})).await;
    assert_eq!(app.delete(&format!("/api/v1/books/{id}"), Some(&admin)).await.status, 204);
    assert_eq!(app.get("/api/v1/tags", Some(&reader)).await.json()["tags"], json!([]));
    assert_eq!(app.get("/api/v1/library", Some(&reader)).await.json()["total"], 0);
}

#[actix_web::test]
async fn a_write_shows_in_the_next_read_despite_the_page_cache() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    assert_eq!(app.get("/api/v1/books", Some(&admin)).await.json()["total"], 0);
    assert_eq!(app.get("/api/v1/search?q=dune", None).await.json()["total"], 0);

    let created = app.post("/api/v1/books", Some(&admin), dune()).await.json();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(app.get("/api/v1/books", Some(&admin)).await.json()["total"], 1);
    assert_eq!(titles_of(&app, "/api/v1/search?q=dune").await, ["Dune"]);

    let mut renamed = dune();
    renamed["title"] = json!("Children of Dune");
    app.put(&format!("/api/v1/books/{id}"), Some(&admin), renamed).await;
    assert_eq!(titles_of(&app, "/api/v1/search?q=dune").await, ["Children of Dune"]);

    app.delete(&format!("/api/v1/books/{id}"), Some(&admin)).await;
    assert_eq!(app.get("/api/v1/search?q=dune", None).await.json()["total"], 0);
}

async fn titles_of(app: &TestApp, path: &str) -> Vec<String> {
    crate::helpers::titles(&app.get(path, None).await.json())
}

#[actix_web::test]
async fn text_inside_raw_text_elements_is_never_double_encoded() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let body = json!({
        "title": "<xmp>Tom &amp; Jerry</xmp>",
        "author": "<noscript>A &lt; B</noscript> <noembed>&gt;</noembed>",
        "specifications_flat": "<noframes>1 &amp; 2</noframes><iframe>3 &amp; 4</iframe><plaintext>x &amp; y",
    });
    let created = app.post("/api/v1/books", Some(&admin), body).await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let id = created.json()["id"].as_i64().unwrap();
    for response in [created, app.get(&format!("/api/v1/books/{id}"), Some(&admin)).await] {
        let book = response.json();
        assert_eq!(book["title"], "Tom &amp; Jerry");
        assert_eq!(book["author"], "A &lt; B &gt;");
        assert_eq!(book["specifications_flat"], "1 &amp; 23 &amp; 4x &amp; y");
        assert!(!String::from_utf8_lossy(&response.body).contains("&amp;amp;"));
    }
}
