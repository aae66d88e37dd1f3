//! The client address behind a trusted proxy, attacked the way a client
//! would: every forwarded-looking header it can write, rotated on every
//! request, next to the one header the proxy really writes.

use std::net::SocketAddr;

use actix_web::test::TestRequest;

use crate::helpers::{TestApp, TestResponse};

const PROXY: &str = "10.0.0.7";
const CLIENT: &str = "203.0.113.5";

fn through_proxy(n: u32, own: &[(&'static str, String)]) -> TestRequest {
    let mut request =
        TestRequest::get().uri("/api/v1/openapi.json").peer_addr(SocketAddr::new(PROXY.parse().unwrap(), 40000));
    for (name, value) in own {
        request = request.insert_header((*name, value.replace('N', &n.to_string())));
    }
    request
}

/// Fifty requests pass and the 51st is refused, however the client varies
/// the headers it writes on each one.
async fn fifty_then_refused(app: &TestApp, headers: &[(&'static str, String)]) {
    for n in 1..=50 {
        let response = app.send(through_proxy(n, headers)).await;
        assert_eq!(response.status, 200, "request {n}");
    }
    let refused: TestResponse = app.send(through_proxy(51, headers)).await;
    refused.assert_error(429, "too_many_requests");
}

#[actix_web::test]
async fn a_client_rotating_its_own_forwarded_header_beside_the_proxys_x_forwarded_for_gains_nothing() {
    let app =
        TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "50/1h,200/1d"), ("SHELF_TRUSTED_PROXIES", "10.0.0.0/8")])
            .await;
    fifty_then_refused(
        &app,
        &[
            ("X-Forwarded-For", CLIENT.to_owned()),
            ("Forwarded", "for=198.51.100.N".to_owned()),
            ("X-Real-IP", "198.51.100.N".to_owned()),
            ("True-Client-IP", "198.51.100.N".to_owned()),
            ("CF-Connecting-IP", "198.51.100.N".to_owned()),
        ],
    )
    .await;
}

#[actix_web::test]
async fn a_client_prefixing_the_proxys_own_header_gains_nothing() {
    let app =
        TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "50/1h,200/1d"), ("SHELF_TRUSTED_PROXIES", "10.0.0.0/8")])
            .await;
    // The client sends `X-Forwarded-For: 198.51.100.N`; the proxy appends
    // the address it saw.
    fifty_then_refused(&app, &[("X-Forwarded-For", format!("198.51.100.N, {CLIENT}"))]).await;
}

#[actix_web::test]
async fn with_forwarded_configured_a_rotating_x_forwarded_for_gains_nothing() {
    let app = TestApp::spawn_with(&[
        ("SHELF_LIMIT_ANONYMOUS", "50/1h,200/1d"),
        ("SHELF_TRUSTED_PROXIES", "10.0.0.0/8"),
        ("SHELF_FORWARDED_HEADER", "forwarded"),
    ])
    .await;
    fifty_then_refused(
        &app,
        &[
            ("Forwarded", format!("for=198.51.100.N, for={CLIENT};proto=https")),
            ("X-Forwarded-For", "198.51.100.N".to_owned()),
        ],
    )
    .await;
}

#[actix_web::test]
async fn clients_behind_the_proxy_still_have_a_count_each() {
    let app = TestApp::spawn_with(&[("SHELF_LIMIT_ANONYMOUS", "2/1h"), ("SHELF_TRUSTED_PROXIES", "10.0.0.0/8")]).await;
    let from = |client: &str| through_proxy(0, &[("X-Forwarded-For", client.to_owned())]);
    for _ in 0..2 {
        assert_eq!(app.send(from("198.51.100.1")).await.status, 200);
    }
    app.send(from("198.51.100.1")).await.assert_error(429, "too_many_requests");
    assert_eq!(app.send(from("198.51.100.2")).await.status, 200, "another client behind the same proxy");
}
