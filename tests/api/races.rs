//! Races between a credential being checked and the same account being
//! changed: a sign-in that checked the password before a demotion or a
//! password change finished must not come out with the old role or a
//! live credential.

use serde_json::json;
use shelf::auth::Role;

use std::time::Duration;

use crate::helpers::{TestApp, USER_PASSWORD, at_once, raw_post, serve, staggered, token_of};

fn raw_put(path: &str, token: &str, body: &serde_json::Value) -> String {
    raw_post(path, &format!("Authorization: Bearer {token}\r\n"), body).replacen("POST", "PUT", 1)
}

#[actix_web::test]
async fn a_sign_in_racing_a_demotion_never_yields_admin_access() {
    let app = TestApp::spawn_with(&[("SHELF_PASSWORD_THREADS", "4")]).await;
    let admin = app.admin_token().await;
    let target = app.create_user("deputy", Role::Admin).await;
    let port = serve(&app).await;
    let role_path = format!("/api/v1/users/{target}/role");
    let mut raced = 0;
    // The sign-in reads the account, then spends tens of milliseconds in
    // argon2; the demotion is sent a little later each round so that it
    // lands in that window in some of them.
    for round in 0..12 {
        let promoted = app.put(&role_path, Some(&admin), json!({"role": "admin"})).await;
        assert_eq!(promoted.status, 200);
        let answers = staggered(
            port,
            vec![
                (Duration::ZERO, raw_post("/api/token", "", &json!({"username": "deputy", "password": USER_PASSWORD}))),
                (Duration::from_millis(3 * round), raw_put(&role_path, &admin, &json!({"role": "user"}))),
            ],
        )
        .await;
        assert_eq!(answers[1].status, 200, "round {round}: the demotion");
        match answers[0].status {
            200 => {
                let token = answers[0].json()["access_token"].as_str().unwrap().to_owned();
                let users = app.get("/api/v1/users", Some(&token)).await;
                assert_ne!(users.status, 200, "round {round}: a demoted user's fresh token reached an admin route");
                let me = app.get("/api/v1/me", Some(&token)).await;
                if me.status == 200 {
                    assert_eq!(me.json()["role"], "user", "round {round}");
                }
            }
            401 => raced += 1,
            other => panic!("round {round}: sign-in answered {other}"),
        }
    }
    eprintln!("{raced} of 12 sign-ins were refused because the demotion landed during the password check");
}

#[actix_web::test]
async fn a_sign_in_racing_a_password_change_does_not_outlive_it() {
    let app = TestApp::spawn().await;
    app.create_user("reader", Role::User).await;
    let port = serve(&app).await;
    let mut password = USER_PASSWORD.to_owned();
    for round in 0..4 {
        let token = token_of(&app.login("reader", &password).await);
        let new_password = format!("brand new passphrase {round}");
        let answers = at_once(
            port,
            vec![
                raw_post("/api/token", "", &json!({"username": "reader", "password": password})),
                raw_post(
                    "/api/v1/me/password",
                    &format!("Authorization: Bearer {token}\r\n"),
                    &json!({"current_password": password, "new_password": new_password}),
                ),
            ],
        )
        .await;
        assert_eq!(answers[1].status, 204, "round {round}: the password change");
        if answers[0].status == 200 {
            // Signed in with the old password: whichever finished first,
            // the change ended every session it found, and the one this
            // sign-in made is either among them or was refused.
            let access = answers[0].json()["access_token"].as_str().unwrap().to_owned();
            let me = app.get("/api/v1/me", Some(&access)).await;
            assert_eq!(me.status, 401, "round {round}: a sign-in with the old password outlived the change");
        }
        password = new_password;
    }
}
