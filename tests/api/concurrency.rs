//! Many writers at once: no lost tag, no "database is locked".

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::TestApp;

#[actix_web::test]
async fn concurrent_add_tag_calls_lose_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let books = [app.book("One", "A").await, app.book("Two", "B").await];

    // 60 requests at once: distinct tags, repeated tags, two users, two
    // books, so writers collide on the tags table and on book_tags.
    let calls = (0..60).map(|i| {
        let token = if i % 2 == 0 { alice.clone() } else { bob.clone() };
        let book_id = books[i % 4 / 2];
        let tag = if i % 3 == 0 { "shared".to_owned() } else { format!("tag-{i:02}") };
        let app = &app;
        async move { app.post("/api/v1/add_tag", Some(&token), json!({"tag": tag, "book_id": book_id})).await }
    });
    for response in join_all(calls).await {
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    }

    let mut expected_alice: Vec<String> = Vec::new();
    let mut expected_bob: Vec<String> = Vec::new();
    for i in 0..60 {
        let tag = if i % 3 == 0 { "shared".to_owned() } else { format!("tag-{i:02}") };
        let list = if i % 2 == 0 { &mut expected_alice } else { &mut expected_bob };
        if !list.contains(&tag) {
            list.push(tag);
        }
    }
    for (token, expected) in [(&alice, expected_alice), (&bob, expected_bob)] {
        let tags = app.get("/api/v1/tags", Some(token)).await.json();
        let mut names: Vec<String> =
            tags["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect();
        names.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(names, expected);
    }
}

#[actix_web::test]
async fn concurrent_status_changes_end_with_one_row_per_book() {
    let app = TestApp::spawn().await;
    let token = app.user_token("reader").await;
    let id = app.book("One", "A").await;
    let statuses = ["want_to_read", "reading", "read", "abandoned"];
    let calls = (0..40).map(|i| {
        let app = &app;
        let token = token.clone();
        async move {
            app.post("/api/v1/change_status", Some(&token), json!({"book_id": id, "status": statuses[i % 4]})).await
        }
    });
    for response in join_all(calls).await {
        assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    }
    let library = app.get("/api/v1/library", Some(&token)).await.json();
    assert_eq!(library["total"], 1);
    assert!(statuses.contains(&library["books"][0]["status"].as_str().unwrap()));
}

#[actix_web::test]
async fn the_api_key_cap_holds_when_creations_race_in_the_database() {
    let app = TestApp::spawn_with(&[("SHELF_DATABASE_POOL_SIZE", "16")]).await;
    let user_id = app.create_user("reader", shelf::auth::Role::User).await;
    // Sixteen threads, each with its own connection, released at once: the
    // count and the insert of each creation interleave with the others'.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|n| {
            let (pool, barrier) = (app.pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                let spec = shelf::api_keys::KeySpec {
                    name: format!("key {n}"),
                    scopes: vec![shelf::auth::Scope::BooksRead],
                    expires_in_days: None,
                };
                barrier.wait();
                shelf::api_keys::create(&mut conn, user_id, &spec, 5).map(|_| ()).map_err(|e| e.code())
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5, "{results:?}");
    assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(shelf::error::ErrorCode::TooManyApiKeys))), "{results:?}");
}
