//! Over a real socket, where the network matters: connection reuse after
//! a 413, panics, and the README walkthrough end to end.

use std::net::TcpListener;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{ADMIN_PASSWORD, RawResponse, TestApp, read_response, request, serve};

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

/// The raw bytes of one response to `request` on a fresh connection, read
/// until the server closes it.
async fn raw_exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    answer
}

#[actix_web::test]
async fn head_answers_every_get_route_like_get_without_a_body() {
    let app = TestApp::spawn().await;
    let book = app.book("Dune", "Frank Herbert").await;
    let admin = app.admin_token().await;
    let port = serve(&app).await;
    let paths = [
        "/health".to_owned(),
        "/ready".to_owned(),
        "/api/v1/openapi.json".to_owned(),
        "/api/v1/search?q=dune".to_owned(),
        "/api/v1/books".to_owned(),
        format!("/api/v1/books/{book}"),
        "/api/v1/tags".to_owned(),
        "/api/v1/library".to_owned(),
        "/api/v1/me".to_owned(),
        "/api/v1/api-keys".to_owned(),
        "/api/v1/users".to_owned(),
        "/api/v1/admin/security-events".to_owned(),
        "/docs/".to_owned(),
        "/api/session".to_owned(),
    ];
    for path in paths {
        let request = |method: &str| {
            format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {admin}\r\nConnection: close\r\n\r\n"
            )
        };
        let get = raw_exchange(port, request("GET").as_bytes()).await;
        let head = raw_exchange(port, request("HEAD").as_bytes()).await;
        let split = |raw: &[u8]| {
            let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
            let (status, headers) = RawResponse::parse_head(&raw[..end]).unwrap();
            (status, headers, raw.len() - end)
        };
        let (get_status, get_headers, get_body) = split(&get);
        let (head_status, head_headers, head_body) = split(&head);
        assert_eq!(head_status, get_status, "{path}");
        assert_eq!(head_body, 0, "{path}: HEAD sent a body");
        let header = |headers: &[(String, String)], name: &str| {
            headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
        };
        for name in ["content-type", "content-length", "cache-control", "etag"] {
            assert_eq!(header(&head_headers, name), header(&get_headers, name), "{path}: {name}");
        }
        assert!(get_status >= 400 || get_body > 0, "{path}");
    }
}

#[actix_web::test]
async fn an_oversized_request_line_or_header_section_is_answered_in_the_envelope() {
    let app = TestApp::spawn().await;
    let port = serve(&app).await;
    let long_target =
        format!("GET /api/v1/search?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a".repeat(20_000));
    let big_header =
        format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "b".repeat(40_000));
    let many_headers = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        (0..80).map(|n| format!("X-H{n}: v\r\n")).collect::<String>()
    );
    for (request, status, code) in [
        (long_target, 414, "uri_too_long"),
        (big_header, 431, "headers_too_large"),
        (many_headers, 431, "headers_too_large"),
    ] {
        let raw = raw_exchange(port, request.as_bytes()).await;
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let (got, headers) = RawResponse::parse_head(&raw[..end]).unwrap();
        assert_eq!(got, status);
        let response = RawResponse { status: got, headers, body: raw[end..].to_vec() };
        assert_eq!(response.json()["error"]["code"], code);
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("x-request-id"), response.json()["error"]["request_id"].as_str());
    }
}

#[actix_web::test]
async fn request_bodies_past_the_memory_budget_wait_and_then_get_503_unread() {
    let app = TestApp::spawn_with(&[("SHELF_REQUEST_BODY_BUDGET", "2")]).await;
    let token = app.admin_token().await;
    let book = app.book("Dune", "Frank Herbert").await;
    let port = serve(&app).await;
    let body = {
        let mut body = json!({"tag": "big", "book_id": book}).to_string().into_bytes();
        body.resize(1024 * 1024, b' ');
        body
    };
    let head = format!(
        "POST /api/v1/add_tag HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // Two bodies of 1 MiB fill a budget of 2 MiB while they trickle in...
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..1000]).await.unwrap();
        holders.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // ...so a third waits for room, and is refused before it is read.
    let mut third = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    third.write_all(head.as_bytes()).await.unwrap();
    let refused = read_response(&mut third).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["error"]["code"], "server_busy");
    assert_eq!(refused.header("retry-after"), Some("1"));
    // The two finish and are served; then there is room again.
    for mut stream in holders {
        stream.write_all(&body[1000..]).await.unwrap();
        assert_eq!(read_response(&mut stream).await.status, 200);
    }
    let mut fourth = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    fourth.write_all(head.as_bytes()).await.unwrap();
    fourth.write_all(&body).await.unwrap();
    assert_eq!(read_response(&mut fourth).await.status, 200);
}
