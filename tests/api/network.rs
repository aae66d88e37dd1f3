//! The server's sockets, over real connections: accepted connections send
//! without delay, compressed pages leave whole with a length, the listener
//! queues a burst of connections instead of dropping them, and a request
//! too large for the HTTP layer still gets its answer.

use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::TestApp;
use crate::helpers::{read_response, serve};

#[actix_web::test]
async fn accepted_connections_get_tcp_nodelay() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    assert!(!accepted.nodelay().unwrap(), "the kernel's default is Nagle on");

    // What the server runs for every connection it accepts.
    shelf::http::connection::tune(&accepted);
    assert!(accepted.nodelay().unwrap());
}

#[actix_web::test]
async fn a_compressed_page_is_sent_whole_with_a_content_length_not_chunked() {
    let app = TestApp::spawn().await;
    for n in 0..20 {
        app.book(&format!("A rather long title for book number {n}"), "Some Author").await;
    }
    let token = app.admin_token().await;
    let port = serve(&app).await;
    for encoding in ["br", "gzip", "zstd"] {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let request = format!(
            "GET /api/v1/books?per_page=20&sortColumn=title HTTP/1.1\r\nHost: localhost\r\n\
             Authorization: Bearer {token}\r\nAccept-Encoding: {encoding}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let response = read_response(&mut stream).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-encoding"), Some(encoding));
        assert_eq!(response.header("transfer-encoding"), None, "{encoding}: chunked");
        let length: usize = response.header("content-length").expect("a Content-Length").parse().unwrap();
        assert_eq!(length, response.body.len());
        assert!(length > 0);

        // The connection stays usable for the next request.
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n").await.unwrap();
        let next = read_response(&mut stream).await;
        assert_eq!(next.status, 200);
        assert_eq!(next.header("transfer-encoding"), None);
    }
}

#[actix_web::test]
async fn an_identity_page_still_has_its_length_and_no_encoding() {
    let app = TestApp::spawn().await;
    app.book("Dune", "Frank Herbert").await;
    let token = app.admin_token().await;
    let port = serve(&app).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "GET /api/v1/books HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Accept-Encoding: identity\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let response = read_response(&mut stream).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-encoding"), None);
    assert_eq!(response.json()["books"][0]["title"], "Dune");
}

#[actix_web::test]
async fn the_listener_queues_a_thousand_connections_before_accepting_any() {
    // Nothing accepts: every handshake the kernel completes waits in the
    // listen queue. With Rust std's backlog of 128 the rest would be
    // dropped and retried after 1 s, 3 s, 7 s… and never complete here.
    let listener = shelf::startup::listener("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = listener.local_addr().unwrap();
    let connects = join_all((0..1000).map(|_| TcpStream::connect(address)));
    let streams = tokio::time::timeout(std::time::Duration::from_secs(30), connects)
        .await
        .expect("every handshake completes while nothing accepts");
    assert!(streams.iter().all(Result::is_ok));
    drop(listener);
}

/// Writes `request` whole, then reads the answer to the end: a client
/// that sends everything before it reads, as curl does.
async fn send_all_then_read(port: u16, request: Vec<u8>) -> Result<Vec<u8>, std::io::Error> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut reader, mut writer) = stream.split();
    let write = async {
        let result = writer.write_all(&request).await;
        let _ = writer.shutdown().await;
        result
    };
    let read = async {
        let mut answer = Vec::new();
        reader.read_to_end(&mut answer).await.map(|_| answer)
    };
    let (written, answer) = tokio::join!(write, read);
    written?;
    answer
}

#[actix_web::test]
async fn a_request_head_too_large_for_the_http_layer_still_gets_its_answer() {
    let app = TestApp::spawn().await;
    let port = serve(&app).await;
    // Past actix-http's 128 KiB buffer: refused before the app sees it.
    let target = format!("GET /api/v1/search?q={} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(300_000));
    let header = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(300_000));
    for (what, request) in [("request line", target), ("header", header)] {
        for _ in 0..5 {
            let answer = send_all_then_read(port, request.clone().into_bytes())
                .await
                .unwrap_or_else(|e| panic!("{what}: the connection was reset instead of answered: {e}"));
            let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
            assert!(head.starts_with("HTTP/1.1 431") || head.starts_with("HTTP/1.1 414"), "{what}: {head:?}");
        }
    }
    // The server is fine afterwards.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut stream).await.status, 200);
}
