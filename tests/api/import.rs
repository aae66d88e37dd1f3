//! The CSV import and the shipped sample catalog.

use crate::helpers::TestApp;

/// Imports as the CLI does, behind the app's back.
async fn import(app: &TestApp, csv: &'static str) -> shelf::books::import::ImportReport {
    let report = shelf::db::run(&app.pool, move |conn| {
        shelf::books::import::import_csv(conn, csv.as_bytes())
            .map_err(|e| shelf::error::ApiError::internal(e.to_string()))
    })
    .await
    .unwrap();
    app.state.catalog.invalidate();
    report
}

#[actix_web::test]
async fn good_rows_are_kept_and_bad_rows_reported_by_line() {
    let app = TestApp::spawn().await;
    let report = import(
        &app,
        "title,author,published_year,isbn,rating,specifications_flat\n\
         Emma,Jane Austen,1815,,4.1,\"Genre: novel, comedy\"\n\
         ,Nobody,1900,,,\n\
         Bad Year,Someone,eighteen,,,\n\
         Bad Isbn,Someone,,123,,\n\
         Poems,Poet,1850,0-306-40615-2,,\"Multi\nline\"\n\
         Too,Many,Fields,,,,\n\
         Rated High,Someone,,,7,\n",
    )
    .await;
    assert_eq!(report.imported, 2);
    let lines: Vec<u64> = report.rejected.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [3, 4, 5, 8, 9], "{:?}", report.rejected);
    assert!(report.rejected[0].1.contains("title"));
    assert!(report.rejected[1].1.contains("published_year"));
    assert!(report.rejected[2].1.contains("isbn"));
    assert!(report.rejected[4].1.contains("rating"));

    let token = app.user_token("reader").await;
    let books = app.get("/api/v1/books?sortColumn=title", Some(&token)).await.json();
    assert_eq!(crate::helpers::titles(&books), ["Emma", "Poems"]);
    assert_eq!(books["books"][0]["specifications_flat"], "Genre: novel, comedy");
    assert_eq!(books["books"][1]["isbn"], "0306406152");
    // A quoted field may span lines where line breaks are allowed.
    assert_eq!(books["books"][1]["specifications_flat"], "Multi\nline");
}

#[actix_web::test]
async fn importing_the_same_file_twice_adds_nothing_the_second_time() {
    let app = TestApp::spawn().await;
    let csv = "title,author\nEmma,Jane Austen\nDune,Frank Herbert\n";
    assert_eq!(import(&app, csv).await.imported, 2);
    let again = import(&app, csv).await;
    assert_eq!((again.imported, again.already_present), (0, 2));
}

#[actix_web::test]
async fn a_header_without_title_and_author_or_with_unknown_columns_is_refused() {
    let app = TestApp::spawn().await;
    for csv in ["name,writer\nEmma,Jane Austen\n", "title,author,price\nEmma,Jane Austen,3\n"] {
        let result = shelf::db::run(&app.pool, move |conn| {
            Ok(shelf::books::import::import_csv(conn, csv.as_bytes()).map(|r| r.imported).map_err(|e| e.to_string()))
        })
        .await
        .unwrap();
        assert!(result.is_err(), "{csv}");
    }
}

#[actix_web::test]
async fn the_sample_catalog_imports_cleanly_and_is_searchable() {
    let app = TestApp::spawn().await;
    let report = shelf::db::run(&app.pool, |conn| {
        let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/sample_books.csv")).unwrap();
        shelf::books::import::import_csv(conn, file).map_err(|e| shelf::error::ApiError::internal(e.to_string()))
    })
    .await
    .unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert!(report.imported >= 250, "{}", report.imported);
    let found = app.get("/api/v1/search?q=dickens", None).await.json();
    assert!(found["total"].as_i64().unwrap() >= 3, "{found}");
}

#[actix_web::test]
async fn duplicates_within_the_file_are_skipped_and_case_makes_a_different_book() {
    let app = TestApp::spawn().await;
    import(&app, "title,author\nEmma,Jane Austen\n").await;
    let report = import(
        &app,
        "title,author\nEmma,Jane Austen\nDune,Frank Herbert\n Dune , Frank Herbert \nemma,Jane Austen\nEmma,Jane  Austen\n",
    )
    .await;
    // The rule is the exact title and author, after trimming each field.
    assert_eq!((report.imported, report.already_present, report.rejected.len()), (3, 2, 0));
}

/// A file longer than one transaction: lines stay right after the first
/// commits, and every good row is in.
#[actix_web::test]
async fn a_large_file_is_written_in_several_transactions_with_rejections_numbered_by_line() {
    let app = TestApp::spawn().await;
    let mut csv = String::from("title,author,rating\n");
    let mut bad_lines = Vec::new();
    for n in 0..25_000_u64 {
        let line = n + 2;
        if n % 9_999 == 5 {
            csv.push_str(&format!("Book {n},Writer,nine\n"));
            bad_lines.push(line);
        } else if n % 10_001 == 7 {
            csv.push_str("Book 0,Writer,\n");
        } else {
            csv.push_str(&format!("Book {n},Writer,{}\n", n % 5));
        }
    }
    let csv: &'static str = Box::leak(csv.into_boxed_str());
    let report = import(&app, csv).await;
    let lines: Vec<u64> = report.rejected.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, bad_lines);
    assert_eq!(report.already_present, 3);
    assert_eq!(report.imported, 25_000 - bad_lines.len() - 3);
    let found = app.get("/api/v1/search?q=book%2024999", None).await.json();
    assert_eq!(found["total"], 1);
}

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq)]
struct IndexDefinition {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    sql: String,
}

async fn book_indexes(app: &TestApp) -> Vec<IndexDefinition> {
    shelf::db::run(&app.pool, |conn| {
        Ok(diesel::RunQueryDsl::load(
            diesel::sql_query(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'books' \
                 AND sql IS NOT NULL ORDER BY name",
            ),
            conn,
        )?)
    })
    .await
    .unwrap()
}

/// An import into an empty SQLite catalog drops the order indexes and
/// builds them at the end: they must come back exactly as the migrations
/// made them, and sorted pages must walk them again.
#[actix_web::test]
async fn an_import_into_an_empty_catalog_leaves_the_order_indexes_as_the_migrations_made_them() {
    let app = TestApp::spawn().await;
    if app.db.is_postgres() {
        return;
    }
    let migrated = book_indexes(&app).await;
    assert_eq!(migrated.len(), 3, "{migrated:?}");
    let report =
        import(&app, "title,author,rating\nEmma,Jane Austen,4\nDune,Frank Herbert,\nAda,Vladimir Nabokov,3\n").await;
    assert_eq!(report.imported, 3);
    assert_eq!(book_indexes(&app).await, migrated);
    let token = app.user_token("reader").await;
    let books = app.get("/api/v1/books?sortColumn=title&sortOrder=desc", Some(&token)).await.json();
    assert_eq!(crate::helpers::titles(&books), ["Emma", "Dune", "Ada"]);
    // A second import, into a catalog that is no longer empty, keeps them.
    import(&app, "title,author\nWe,Yevgeny Zamyatin\n").await;
    assert_eq!(book_indexes(&app).await, migrated);
}

/// An import killed between dropping the order indexes and rebuilding them
/// leaves them missing; the next start puts them back.
#[actix_web::test]
async fn a_start_rebuilds_order_indexes_an_interrupted_import_left_missing() {
    let app = TestApp::spawn().await;
    if app.db.is_postgres() {
        return;
    }
    let migrated = book_indexes(&app).await;
    shelf::db::run(&app.pool, |conn| {
        diesel::RunQueryDsl::execute(diesel::sql_query("DROP INDEX books_author_order"), conn)?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(book_indexes(&app).await.len(), 2);
    shelf::startup::prepare_database(&app.settings).unwrap();
    assert_eq!(book_indexes(&app).await, migrated);
}
