//! Memory under hostile but legal load: many connections at once, each
//! sending a request body of the largest allowed size (valid JSON padded
//! with spaces) or one byte over it. Used by `bench/memory.sh`.
//!
//!     cargo run --release --example body_flood -- PORT TOKEN [VALID] [OVERSIZED]
//!
//! Prints how many answers had each status. Standard library only, so it
//! runs anywhere the server builds.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(port), Some(token)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: body_flood PORT TOKEN [VALID] [OVERSIZED]");
        std::process::exit(2);
    };
    let count = |i: usize| args.get(i).and_then(|n| n.parse().ok()).unwrap_or(50);
    let (valid, oversized) = (count(3), count(4));
    let address = format!("127.0.0.1:{port}");
    let barrier = Arc::new(Barrier::new(valid + oversized));
    let threads: Vec<_> = (0..valid + oversized)
        .map(|n| {
            let (address, token, barrier) = (address.clone(), token.clone(), barrier.clone());
            let size = if n < valid { MIB } else { MIB + 1 };
            std::thread::spawn(move || send(&address, &token, size, &barrier))
        })
        .collect();
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for thread in threads {
        let status = thread.join().unwrap_or_else(|_| "panicked".into());
        *statuses.entry(status).or_default() += 1;
    }
    let summary: Vec<String> = statuses.iter().map(|(status, n)| format!("{status}: {n}")).collect();
    println!("{}", summary.join(", "));
}

/// One request with a body of exactly `size` bytes; the answer's status.
fn send(address: &str, token: &str, size: usize, barrier: &Barrier) -> String {
    let json = br#"{"tag":"flood","book_id":1}"#;
    let mut body = json.to_vec();
    body.resize(size, b' ');
    let head = format!(
        "POST /api/v1/add_tag HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    let Ok(mut stream) = TcpStream::connect(address) else { return "connect failed".into() };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    barrier.wait();
    if stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body)).is_err() {
        // The server may answer (413) and close before the body is sent.
        return read_status(&mut stream).unwrap_or_else(|| "write failed".into());
    }
    read_status(&mut stream).unwrap_or_else(|| "no answer".into())
}

fn read_status(stream: &mut TcpStream) -> Option<String> {
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let line = String::from_utf8_lossy(&answer).lines().next()?.to_owned();
    line.split(' ').nth(1).map(str::to_owned)
}
