//! `/api/v2`: cursor paging (complete, stable, tamper-evident), `my`, the
//! idempotent tag and status resources, their CSRF and shared limit, and
//! v1's pointers to its successor.

use actix_web::test::TestRequest;
use serde_json::{Value, json};
use shelf::auth::Role;

use crate::helpers::{TestApp, TestResponse, with_api_key, with_session};

/// The ids of a v2 page, in order.
fn ids(page: &Value) -> Vec<i64> {
    page["data"].as_array().unwrap().iter().map(|b| b["id"].as_i64().unwrap()).collect()
}

/// Every page of a v2 listing, following `next_cursor` to the end; the
/// ids in order. `query` is the first page's query string.
async fn walk(app: &TestApp, query: &str, token: Option<&str>) -> Vec<i64> {
    let mut all = Vec::new();
    let mut page = app.get(&format!("/api/v2/books?{query}"), token).await;
    loop {
        assert_eq!(page.status, 200, "{}", String::from_utf8_lossy(&page.body));
        let body = page.json();
        all.extend(ids(&body));
        let Some(cursor) = body["next_cursor"].as_str() else { break };
        page = app.get(&format!("/api/v2/books?limit=2&cursor={cursor}"), token).await;
    }
    all
}

/// v1's order of the same listing, in one page.
async fn v1_order(app: &TestApp, query: &str, token: &str) -> Vec<i64> {
    let page = app.get(&format!("/api/v1/books?per_page=100&{query}"), Some(token)).await;
    assert_eq!(page.status, 200);
    page.json()["books"].as_array().unwrap().iter().map(|b| b["id"].as_i64().unwrap()).collect()
}

/// A catalog with ties on every sort key and unrated books.
async fn catalog(app: &TestApp) {
    for (title, author, rating) in [
        ("Dune", "Frank Herbert", Some(4.5)),
        ("dune", "Brian Herbert", Some(4.5)),
        ("Emma", "Jane Austen", None),
        ("Persuasion", "Jane Austen", Some(4.0)),
        ("Ulysses", "James Joyce", None),
        ("Beloved", "Toni Morrison", Some(4.5)),
        ("Dune Messiah", "Frank Herbert", Some(3.5)),
        ("Solaris", "Stanisław Lem", Some(0.0)),
    ] {
        app.book_with(title, author, rating).await;
    }
}

#[actix_web::test]
async fn cursors_walk_every_order_exactly_as_v1_sorts_it() {
    let app = TestApp::spawn().await;
    catalog(&app).await;
    let token = app.admin_token().await;
    for (v2, v1) in [
        ("", ""),
        ("order=desc", "sortOrder=desc"),
        ("sort=title", "sortColumn=title"),
        ("sort=title&order=desc", "sortColumn=title&sortOrder=desc"),
        ("sort=author", "sortColumn=author"),
        ("sort=author&order=desc", "sortColumn=author&sortOrder=desc"),
        ("sort=rating", "sortColumn=rating"),
        ("sort=rating&order=desc", "sortColumn=rating&sortOrder=desc"),
        ("q=dune&sort=rating&order=desc", "q=dune&sortColumn=rating&sortOrder=desc"),
        ("q=au&sort=title", "q=au&sortColumn=title"),
    ] {
        let expected = v1_order(&app, v1, &token).await;
        assert!(!expected.is_empty());
        for first_limit in [1, 2, 3, 100] {
            let walked = walk(&app, &format!("limit={first_limit}&{v2}"), None).await;
            assert_eq!(walked, expected, "v2 `{v2}` (first limit {first_limit}) vs v1 `{v1}`");
        }
    }
}

#[actix_web::test]
async fn a_cursor_continues_after_its_row_whatever_is_inserted_or_deleted_meanwhile() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for title in ["b", "d", "f", "h", "j"] {
        app.book(title, "Author").await;
    }
    let first = app.get("/api/v2/books?sort=title&limit=2", None).await.json();
    let titles = |page: &Value| -> Vec<String> {
        page["data"].as_array().unwrap().iter().map(|b| b["title"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(titles(&first), ["b", "d"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();

    // Before the cursor: a new book, and one of the page's deleted. After
    // it: a new book between the next two.
    app.book("a", "Author").await;
    let d = ids(&first)[1];
    assert_eq!(app.delete(&format!("/api/v1/books/{d}"), Some(&admin)).await.status, 204);
    app.book("g", "Author").await;

    let second = app.get(&format!("/api/v2/books?limit=3&cursor={cursor}"), None).await.json();
    assert_eq!(titles(&second), ["f", "g", "h"]);
    let third = app.get(&format!("/api/v2/books?cursor={}", second["next_cursor"].as_str().unwrap()), None).await;
    assert_eq!(titles(&third.json()), ["j"]);
    assert_eq!(third.json()["next_cursor"], Value::Null);
}

#[actix_web::test]
async fn an_altered_foreign_or_mismatched_cursor_is_refused() {
    let app = TestApp::spawn().await;
    catalog(&app).await;
    let first = app.get("/api/v2/books?q=e&sort=title&limit=2", None).await.json();
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();

    // Repeating the listing's terms is allowed; leaving them out too.
    for query in [format!("cursor={cursor}"), format!("q=e&sort=title&order=asc&cursor={cursor}")] {
        let page = app.get(&format!("/api/v2/books?{query}"), None).await;
        assert_eq!(page.status, 200, "{query}");
    }

    let (payload, tag) = cursor.split_once('.').unwrap();
    let flip = |text: &str, at: usize| {
        let mut chars: Vec<char> = text.chars().collect();
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    // A cursor re-encoded from an edited payload: what an attacker who
    // decoded the base64 would try.
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let decoded = String::from_utf8(engine.decode(payload).unwrap()).unwrap();
    let edited = engine.encode(decoded.replace("\"q\":\"e\"", "\"q\":\"a\""));
    assert_ne!(edited, payload);
    let bad = [
        format!("{}.{tag}", flip(payload, 3)),
        format!("{payload}.{}", flip(tag, 5)),
        format!("{edited}.{tag}"),
        payload.to_owned(),
        "not-a-cursor".to_owned(),
        format!("{cursor}A"),
    ];
    for bad in bad {
        let refused = app.get(&format!("/api/v2/books?cursor={bad}"), None).await;
        refused.assert_error(400, "invalid_cursor");
    }

    // Another listing's terms with this cursor.
    for query in ["q=a", "sort=author", "order=desc"] {
        let refused = app.get(&format!("/api/v2/books?{query}&cursor={cursor}"), None).await;
        refused.assert_error(400, "invalid_cursor");
    }

    // Made by a server with another signing secret.
    let (_, other) = app.sibling(&[("SHELF_JWT_SECRET", "another-secret-that-is-at-least-32-bytes")]).await;
    let refused = other(TestRequest::get().uri(&format!("/api/v2/books?cursor={cursor}")).to_request()).await;
    refused.assert_error(400, "invalid_cursor");
    // A sibling with the same secret (another instance) accepts it.
    let (_, same) = app.sibling(&[]).await;
    let accepted = same(TestRequest::get().uri(&format!("/api/v2/books?cursor={cursor}")).to_request()).await;
    assert_eq!(accepted.status, 200);
}

#[actix_web::test]
async fn paging_parameters_out_of_range_are_refused() {
    let app = TestApp::spawn().await;
    for (query, code) in [
        ("limit=0", "validation_failed"),
        ("limit=101", "validation_failed"),
        ("limit=ten", "validation_failed"),
        ("sort=year", "invalid_sort_column"),
        ("order=up", "invalid_sort_order"),
        ("cursor=", "validation_failed"),
    ] {
        app.get(&format!("/api/v2/books?{query}"), None).await.assert_error(400, code);
    }
    let long = "a".repeat(2049);
    app.get(&format!("/api/v2/books?cursor={long}"), None).await.assert_error(400, "validation_failed");
}

#[actix_web::test]
async fn signed_in_callers_see_their_own_status_and_tags_and_nobody_else_does() {
    let app = TestApp::spawn().await;
    let dune = app.book("Dune", "Frank Herbert").await;
    let emma = app.book("Emma", "Jane Austen").await;
    let reader = app.user_token("reader").await;
    let other = app.user_token("other").await;
    for tag in ["sci-fi", "R&D"] {
        let tagged =
            app.put(&format!("/api/v2/books/{dune}/tags/{}", urlencode(tag)), Some(&reader), json!(null)).await;
        assert_eq!(tagged.status, 200, "{}", String::from_utf8_lossy(&tagged.body));
    }
    let status = app.put(&format!("/api/v2/books/{dune}/status"), Some(&reader), json!({"status": "reading"})).await;
    assert_eq!(status.status, 200);
    app.put(&format!("/api/v2/books/{emma}/tags/mine"), Some(&other), json!(null)).await;

    let page = app.get("/api/v2/books", Some(&reader)).await;
    assert_eq!(page.header("cache-control"), Some("private, no-cache"));
    let body = page.json();
    assert_eq!(body["data"][0]["my"], json!({"status": "reading", "tags": ["R&amp;D", "sci-fi"]}));
    assert_eq!(body["data"][1]["my"], json!({"status": null, "tags": []}), "another user's tag leaked");
    let one = app.get(&format!("/api/v2/books/{dune}"), Some(&reader)).await.json();
    assert_eq!(one["my"], body["data"][0]["my"]);
    assert_eq!(one["title"], "Dune");

    let theirs = app.get("/api/v2/books", Some(&other)).await.json();
    assert_eq!(theirs["data"][0]["my"], json!({"status": null, "tags": []}));
    assert_eq!(theirs["data"][1]["my"], json!({"status": null, "tags": ["mine"]}));

    // Anonymous, and a key that may not read the library: no `my` at all.
    let anonymous = app.get("/api/v2/books", None).await;
    assert_eq!(anonymous.header("cache-control"), Some("public, max-age=60"));
    assert!(anonymous.json()["data"][0].get("my").is_none());
    assert!(app.get(&format!("/api/v2/books/{dune}"), None).await.json().get("my").is_none());
    let key = app.api_key(&reader, &["books:read"]).await;
    let keyed = app.send(with_api_key(TestRequest::get().uri("/api/v2/books"), &key)).await.json();
    assert!(keyed["data"][0].get("my").is_none());
    let key = app.api_key(&reader, &["books:read", "library:read"]).await;
    let keyed = app.send(with_api_key(TestRequest::get().uri("/api/v2/books"), &key)).await.json();
    assert_eq!(keyed["data"][0]["my"]["status"], "reading");
}

fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn tags_of(response: &TestResponse) -> Value {
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    response.json()
}

#[actix_web::test]
async fn tags_are_idempotent_resources() {
    let app = TestApp::spawn().await;
    let book = app.book("Dune", "Frank Herbert").await;
    let token = app.user_token("reader").await;
    let path = format!("/api/v2/books/{book}/tags/{}", urlencode("to read"));

    let first = tags_of(&app.put(&path, Some(&token), json!(null)).await);
    assert_eq!(first, json!({"book_id": book, "tags": ["to read"]}));
    assert_eq!(tags_of(&app.put(&path, Some(&token), json!(null)).await), first);
    let v1 = app.get("/api/v1/tags", Some(&token)).await.json();
    assert_eq!(v1["tags"], json!([{"name": "to read", "book_count": 1}]), "the second PUT added a second tag");

    let gone = json!({"book_id": book, "tags": []});
    assert_eq!(tags_of(&app.delete(&path, Some(&token)).await), gone);
    assert_eq!(tags_of(&app.delete(&path, Some(&token)).await), gone, "the second DELETE is not an error");
    let never = format!("/api/v2/books/{book}/tags/never-there");
    assert_eq!(tags_of(&app.delete(&never, Some(&token)).await), gone);

    for missing in ["/api/v2/books/999999/tags/x", "/api/v2/books/nope/tags/x"] {
        app.put(missing, Some(&token), json!(null)).await.assert_error(404, "not_found");
        app.delete(missing, Some(&token)).await.assert_error(404, "not_found");
    }
}

#[actix_web::test]
async fn tags_in_the_path_keep_the_tag_rules() {
    let app = TestApp::spawn().await;
    let book = app.book("Dune", "Frank Herbert").await;
    let token = app.user_token("reader").await;
    for bad in [" padded".to_owned(), "x".repeat(33), "line\nbreak".to_owned()] {
        let path = format!("/api/v2/books/{book}/tags/{}", urlencode(&bad));
        let error = app.put(&path, Some(&token), json!(null)).await.assert_error(400, "validation_failed");
        assert_eq!(error["details"][0]["field"], "tag", "{bad:?}: {error}");
    }
    // Characters a path must escape arrive as written.
    let odd = "50%/a?b#c";
    let path = format!("/api/v2/books/{book}/tags/{}", urlencode(odd));
    assert_eq!(tags_of(&app.put(&path, Some(&token), json!(null)).await)["tags"], json!([odd]));
    assert_eq!(app.get("/api/v1/tags", Some(&token)).await.json()["tags"][0]["name"], odd);
    // No tags were made by the refused requests.
    assert_eq!(app.get("/api/v1/tags", Some(&token)).await.json()["tags"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn status_is_an_idempotent_resource_recorded_like_v1s() {
    let app = TestApp::spawn().await;
    let book = app.book("Dune", "Frank Herbert").await;
    let token = app.user_token("reader").await;
    let path = format!("/api/v2/books/{book}/status");

    let set = app.put(&path, Some(&token), json!({"status": "read"})).await;
    assert_eq!(set.status, 200);
    let body = set.json();
    assert_eq!(body["book_id"], book);
    assert_eq!(body["status"], "read");
    assert!(body["updated_at"].as_str().unwrap().ends_with('Z'), "{body}");
    let again = app.put(&path, Some(&token), json!({"status": "read"})).await.json();
    assert_eq!((again["book_id"].clone(), again["status"].clone()), (json!(book), json!("read")));
    let library = app.get("/api/v1/library", Some(&token)).await.json();
    assert_eq!(library["books"][0]["status"], "read");

    assert_eq!(app.delete(&path, Some(&token)).await.status, 204);
    assert_eq!(app.delete(&path, Some(&token)).await.status, 204, "the second DELETE is not an error");
    assert_eq!(app.get("/api/v1/library", Some(&token)).await.json()["total"], 0);

    for body in [json!({"status": "finished"}), json!({}), json!({"status": "read", "user_id": 1})] {
        app.put(&path, Some(&token), body).await.assert_error(400, "validation_failed");
    }
    app.put("/api/v2/books/999999/status", Some(&token), json!({"status": "read"}))
        .await
        .assert_error(404, "not_found");
    app.delete("/api/v2/books/999999/status", Some(&token)).await.assert_error(404, "not_found");

    let admin = app.admin_token().await;
    let events = app.events(&admin, "type=status_change").await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0]["details"], json!({"book_id": book, "status": null}));
}

#[actix_web::test]
async fn cookie_writes_need_the_csrf_token_and_change_nothing_without_it() {
    let app = TestApp::spawn().await;
    let book = app.book("Dune", "Frank Herbert").await;
    app.create_user("reader", Role::User).await;
    let (cookie, csrf) = app.cookie_session("reader", crate::helpers::USER_PASSWORD).await;
    let tag = format!("/api/v2/books/{book}/tags/csrf");
    let status = format!("/api/v2/books/{book}/status");
    let writes = || {
        [
            TestRequest::put().uri(&tag),
            TestRequest::delete().uri(&tag),
            TestRequest::put().uri(&status).set_json(json!({"status": "read"})),
            TestRequest::delete().uri(&status),
        ]
    };
    for (request, forged) in writes().into_iter().zip([None, Some("wrong")].into_iter().cycle()) {
        app.send(with_session(request, &cookie, forged)).await.assert_error(403, "csrf_failed");
    }
    let mine = app.send(with_session(TestRequest::get().uri(&format!("/api/v2/books/{book}")), &cookie, None)).await;
    assert_eq!(mine.json()["my"], json!({"status": null, "tags": []}), "a refused write changed something");

    let [put_tag, _, put_status, _] = writes();
    assert_eq!(app.send(with_session(put_tag, &cookie, Some(&csrf))).await.status, 200);
    assert_eq!(app.send(with_session(put_status, &cookie, Some(&csrf))).await.status, 200);
    let mine = app.send(with_session(TestRequest::get().uri(&format!("/api/v2/books/{book}")), &cookie, None)).await;
    assert_eq!(mine.json()["my"], json!({"status": "read", "tags": ["csrf"]}));
}

#[actix_web::test]
async fn v1_and_v2_status_changes_share_one_limit() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_STATUS_CHANGE", "3/1m")]).await;
    let book = app.book("Dune", "Frank Herbert").await;
    let token = app.user_token("reader").await;
    let v2 = format!("/api/v2/books/{book}/status");
    let v1 = app.post("/api/v1/change_status", Some(&token), json!({"book_id": book, "status": "reading"})).await;
    assert_eq!(v1.status, 200);
    assert_eq!(app.put(&v2, Some(&token), json!({"status": "read"})).await.status, 200);
    assert_eq!(app.delete(&v2, Some(&token)).await.status, 204);
    for refused in [
        app.put(&v2, Some(&token), json!({"status": "read"})).await,
        app.delete(&v2, Some(&token)).await,
        app.post("/api/v1/change_status", Some(&token), json!({"book_id": book, "status": "read"})).await,
        app.put(&format!("/api/%76%32/books/{book}/%73tatus"), Some(&token), json!({"status": "read"})).await,
    ] {
        let error = refused.assert_error(429, "too_many_requests");
        assert!(error["message"].as_str().unwrap().contains("status_change-1m"), "{error}");
    }
    // Tags are not status changes.
    assert_eq!(app.put(&format!("/api/v2/books/{book}/tags/x"), Some(&token), json!(null)).await.status, 200);
}

#[actix_web::test]
async fn anonymous_listing_is_limited_like_v1_search() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_SEARCH_ANONYMOUS", "2/1h")]).await;
    app.book("Dune", "Frank Herbert").await;
    assert_eq!(app.get("/api/v1/search?q=dune", None).await.status, 200);
    assert_eq!(app.get("/api/v2/books?q=dune", None).await.status, 200);
    let error = app.get("/api/v2/books", None).await.assert_error(429, "too_many_requests");
    assert!(error["message"].as_str().unwrap().contains("search-1h"), "{error}");
}

#[actix_web::test]
async fn reads_answer_304_to_their_etag() {
    let app = TestApp::spawn().await;
    let book = app.book("Dune", "Frank Herbert").await;
    let token = app.user_token("reader").await;
    for (path, token) in [
        ("/api/v2/books?q=dun".to_owned(), None),
        ("/api/v2/books".to_owned(), Some(token.as_str())),
        (format!("/api/v2/books/{book}"), None),
        (format!("/api/v2/books/{book}"), Some(token.as_str())),
    ] {
        let first = app.get(&path, token).await;
        let etag = first.header("etag").expect("no ETag").to_owned();
        let mut again = TestRequest::get().uri(&path).insert_header(("If-None-Match", etag));
        if let Some(token) = token {
            again = again.insert_header(("Authorization", format!("Bearer {token}")));
        }
        assert_eq!(app.send(again).await.status, 304, "{path}");
    }
}

#[actix_web::test]
async fn v1_answers_name_their_v2_successor() {
    let app = TestApp::spawn().await;
    let book = app.book("Dune", "Frank Herbert").await;
    let token = app.user_token("reader").await;
    let link = |path: &str| format!("<{path}>; rel=\"successor-version\"");
    let cases = [
        (app.get("/api/v1/books", Some(&token)).await, link("/api/v2/books")),
        (app.get("/api/v1/search?q=du", None).await, link("/api/v2/books")),
        (app.get(&format!("/api/v1/books/{book}"), Some(&token)).await, link(&format!("/api/v2/books/{book}"))),
        (
            app.post("/api/v1/add_tag", Some(&token), json!({"book_id": book, "tag": "to read"})).await,
            link(&format!("/api/v2/books/{book}/tags/to%20read")),
        ),
        (
            app.post("/api/v1/change_status", Some(&token), json!({"book_id": book, "status": "read"})).await,
            link(&format!("/api/v2/books/{book}/status")),
        ),
    ];
    for (response, expected) in cases {
        assert_eq!(response.status, 200);
        assert_eq!(response.header("link"), Some(expected.as_str()));
    }
    // No v2 equivalent, no link.
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.header("link"), None);
}

#[actix_web::test]
async fn a_term_too_common_to_count_still_pages_completely_by_cursor() {
    let app = TestApp::spawn().await;
    // More matches than are counted exactly: pages come from walking the
    // order index rather than from the matches' ids.
    let count = 1_003;
    let columns: Vec<_> = (0..count)
        .map(|i| {
            let n = (i * 7_919) % count;
            let input = shelf::books::BookInput {
                title: format!("Common title {n:04}"),
                author: "Someone".to_owned(),
                rating: None,
                isbn: None,
                published_year: None,
                specifications_flat: None,
            };
            shelf::books::BookColumns::from_input(input, shelf::db::now())
        })
        .collect();
    shelf::db::run(&app.pool, move |conn| {
        for book in &columns {
            shelf::books::queries::create(conn, book)?;
        }
        Ok(())
    })
    .await
    .unwrap();
    app.state.catalog.invalidate();
    app.book("Rare", "Nobody").await;

    let mut titles = Vec::new();
    let mut page = app.get("/api/v2/books?q=common&sort=title&order=desc&limit=100", None).await.json();
    loop {
        titles.extend(page["data"].as_array().unwrap().iter().map(|b| b["title"].as_str().unwrap().to_owned()));
        let Some(cursor) = page["next_cursor"].as_str() else { break };
        page = app.get(&format!("/api/v2/books?limit=100&cursor={cursor}"), None).await.json();
    }
    let expected: Vec<String> = (0..count).rev().map(|n| format!("Common title {n:04}")).collect();
    assert_eq!(titles, expected);
}
