//! Over a real socket, where the network matters: connection reuse after
//! a 413, panics, and the README walkthrough end to end.

use std::net::TcpListener;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{ADMIN_PASSWORD, RawResponse, TestApp};

/// Reads one HTTP/1.1 response with a Content-Length body.
pub async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        buffer.extend_from_slice(&chunk[..n]);
    };
    let (status, headers) = RawResponse::parse_head(&buffer[..header_end]).expect("an HTTP response head");
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = buffer[header_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    RawResponse { status, headers, body }
}

/// The app on a real socket, bound the way the server binds (port 0).
pub async fn serve(app: &TestApp) -> u16 {
    let listener = shelf::startup::listener("127.0.0.1:0".parse().unwrap()).unwrap();
    let server = shelf::startup::Application::serve(listener, app.state.clone(), app.settings.clone()).unwrap();
    let port = server.port();
    actix_web::rt::spawn(server.run_until_stopped());
    port
}

async fn request(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> RawResponse {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    read_response(&mut stream).await
}

#[actix_web::test]
async fn an_oversized_body_gets_413_and_the_connection_stays_usable() {
    let app = TestApp::spawn().await;
    let port = serve(&app).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();

    let body = vec![b'a'; 2 * 1024 * 1024];
    let head = format!(
        "POST /api/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.json()["error"]["code"], "payload_too_large");

    stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let next = read_response(&mut stream).await;
    assert_eq!(next.status, 200);
    assert_eq!(next.json()["status"], "ok");
}

#[actix_web::test]
async fn a_body_that_trickles_in_too_slowly_gets_408_and_the_connection_closes() {
    let app = TestApp::spawn_with(&[("SHELF_REQUEST_BODY_TIMEOUT", "1s")]).await;
    let port = serve(&app).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = "POST /api/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    // A few bytes, then nothing: the rest never comes.
    stream.write_all(br#"{"username":"#).await.unwrap();
    let started = std::time::Instant::now();
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 408);
    assert_eq!(response.json()["error"]["code"], "request_timeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "answered at the deadline, not never");
    assert_eq!(response.header("connection"), Some("close"));
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closed the connection");

    // A body that arrives in time, in pieces, is fine.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let body = serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string();
    let head = format!(
        "POST /api/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (first, second) = body.split_at(10);
    stream.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stream.write_all(second.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await.status, 200);
}

#[actix_web::test]
async fn a_panicking_handler_answers_500_in_the_envelope_without_internals() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(|| {
        App::new().wrap(from_fn(shelf::http::envelope::envelope)).route(
            "/boom",
            web::get().to(|| async {
                if true {
                    panic!("secret internal detail")
                }
                HttpResponse::Ok().finish()
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);

    let response = request(port, "GET", "/boom", None, None).await;
    assert_eq!(response.status, 500);
    let body = response.json();
    assert_eq!(body["error"]["code"], "internal_error");
    assert_eq!(body["error"]["message"], "Internal server error");
    assert_eq!(response.header("x-request-id"), body["error"]["request_id"].as_str());
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert!(!String::from_utf8_lossy(&response.body).contains("secret"));
    // The worker survived.
    assert_eq!(request(port, "GET", "/boom", None, None).await.status, 500);
}

#[actix_web::test]
async fn the_readme_walkthrough_works_over_http() {
    let app = TestApp::spawn().await;
    let book = app.book("War and Peace", "Leo Tolstoy").await;
    let port = serve(&app).await;

    let login =
        request(port, "POST", "/api/token", None, Some(json!({"username": "admin", "password": ADMIN_PASSWORD}))).await;
    assert_eq!(login.status, 200);
    let token = login.json()["access_token"].as_str().unwrap().to_owned();

    let search = request(port, "GET", "/api/v1/search?q=war&sortColumn=title", None, None).await;
    assert_eq!(search.json()["books"][0]["id"], book);

    let tagged =
        request(port, "POST", "/api/v1/add_tag", Some(&token), Some(json!({"tag": "epic", "book_id": book}))).await;
    assert_eq!(tagged.json(), json!({"success": true, "tags": ["epic"]}));
    let status = request(
        port,
        "POST",
        "/api/v1/change_status",
        Some(&token),
        Some(json!({"book_id": book, "status": "reading"})),
    )
    .await;
    assert_eq!(status.status, 200);
    let library = request(port, "GET", "/api/v1/library", Some(&token), None).await.json();
    assert_eq!(library["books"][0]["status"], "reading");
    assert_eq!(library["books"][0]["tags"], json!(["epic"]));
}
