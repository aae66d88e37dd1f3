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

#[actix_web::test]
async fn instances_starting_at_once_on_a_new_database_agree_on_one_secret_and_one_admin() {
    let (_db, url) = crate::helpers::TestDb::create();
    let vars: std::collections::HashMap<String, String> =
        [("SHELF_DATABASE_URL".to_owned(), url.clone())].into_iter().collect();
    let settings = shelf::settings::Settings::from_vars(&vars).unwrap();
    let pool = shelf::startup::prepare_database(&settings).unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let (pool, settings, barrier) = (pool.clone(), settings.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let secret = shelf::startup::signing_secret(&pool, &settings).map_err(|e| e.to_string())?;
                shelf::startup::bootstrap_admin(&pool, &settings).map_err(|e| e.to_string())?;
                Ok::<_, String>(secret.expose().to_owned())
            })
        })
        .collect();
    let secrets: Vec<String> = starts.into_iter().map(|s| s.join().unwrap().unwrap()).collect();
    assert!(secrets.windows(2).all(|w| w[0] == w[1]), "every instance signs with the same secret");
    // The read-then-insert window is narrow: race it many times.
    for round in 0..40 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let writers: Vec<_> = (0..8)
            .map(|n| {
                let (pool, barrier) = (pool.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut conn = pool.get().unwrap();
                    barrier.wait();
                    shelf::db::put_setting_if_absent(&mut conn, &format!("race-{round}"), &format!("writer {n}"))
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        let stored: Vec<String> = writers.into_iter().map(|w| w.join().unwrap().unwrap()).collect();
        assert!(stored.windows(2).all(|w| w[0] == w[1]), "round {round}: {stored:?}");
    }
    let admins: i64 = shelf::db::run(&pool, |conn| {
        use diesel::prelude::*;
        Ok(shelf::db::schema::users::table.count().get_result(conn)?)
    })
    .await
    .unwrap();
    assert_eq!(admins, 1);
}
