//! Start-up database work: migrations, SQLite settings.

use diesel::prelude::*;

use crate::helpers::{TestApp, settings_for};

#[actix_web::test]
async fn a_database_migrated_by_a_newer_binary_is_refused() {
    let app = TestApp::spawn().await;
    shelf::db::run(&app.pool, |conn| {
        diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ('29990101000000')")
            .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    let error = shelf::startup::prepare_database(&settings_for(&app.database_url, &[])).expect_err("refused");
    let message = error.to_string();
    assert!(message.contains("newer") && message.contains("29990101000000"), "{message}");
    assert!(!message.contains('\n'));
}

#[actix_web::test]
async fn migrations_are_idempotent_across_restarts() {
    let app = TestApp::spawn().await;
    app.book("Kept", "Author").await;
    let pool = shelf::startup::prepare_database(&settings_for(&app.database_url, &[])).unwrap();
    let count: i64 =
        shelf::db::run(&pool, |conn| Ok(shelf::db::schema::books::table.count().get_result(conn)?)).await.unwrap();
    assert_eq!(count, 1);
}

#[actix_web::test]
async fn sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout() {
    let app = TestApp::spawn().await;
    if app.db.is_postgres() {
        return;
    }
    #[derive(QueryableByName)]
    struct Value {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let values = shelf::db::run(&app.pool, |conn| {
        let mut out = Vec::new();
        for pragma in ["journal_mode", "foreign_keys", "busy_timeout", "synchronous"] {
            let rows: Vec<Value> =
                diesel::sql_query(format!("SELECT CAST((SELECT * FROM pragma_{pragma}) AS TEXT) AS value"))
                    .load(conn)?;
            out.push(rows.into_iter().next().map(|v| v.value).unwrap_or_default());
        }
        Ok(out)
    })
    .await
    .unwrap();
    assert_eq!(values, ["wal", "1", "5000", "2"]);
}
