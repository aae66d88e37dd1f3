//! The benchmark's load generator (`bench/run.sh` drives it): keep-alive
//! HTTP/1.1 connections over loopback, latencies in an HDR histogram,
//! errors and unexpected statuses counted, one Markdown table row printed
//! per run. It needs nothing but the repository's own dev-dependencies.
//!
//! ```sh
//! # 32 connections for 5 s, one page again and again, as a browser asks
//! cargo run --release --example loadgen -- get 127.0.0.1:8080 --label page \
//!     --path '/api/v1/books?per_page=20' -H 'Authorization: Bearer …' -H 'Accept-Encoding: br'
//! # a new search term per request, taken in turn from a file
//! … get ADDR --label search --path '/api/v1/search?q={}' --terms terms.txt
//! # the same reads while 64 clients sign in over and over
//! … flood ADDR --label flood --path … --sign-ins 64 --sign-in-body '{"username":…}'
//! # 1,000 connections opened at once
//! … connect ADDR --label connect --count 1000 --pid "$server_pid"
//! ```
//!
//! The exit status is 1 when anything went wrong that is not a number: a
//! transport error, a read that was not 2xx, a sign-in answered with
//! anything but 200 or a 429/503 refusal in the error envelope with
//! `Retry-After`. Timings never fail a run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "a benchmark tool should stop loudly on a broken setup"
)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(about = "Load generator for shelf's benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// GETs on keep-alive connections, as fast as the server answers.
    Get(ReadArgs),
    /// The same GETs while other connections sign in over and over.
    Flood {
        #[command(flatten)]
        reads: ReadArgs,
        /// Concurrent sign-in clients, each on its own connection.
        #[arg(long, default_value_t = 64)]
        sign_ins: usize,
        #[arg(long, default_value = "/api/token")]
        sign_in_path: String,
        /// The JSON body of every sign-in.
        #[arg(long)]
        sign_in_body: String,
        /// Wait for `Retry-After` after a refusal, as a well-behaved client
        /// does; without it the refused client asks again at once.
        #[arg(long)]
        honor_retry_after: bool,
    },
    /// Opens `count` connections at once, sends one request on each, and
    /// reports the connect times and the server's memory with all open.
    Connect {
        address: SocketAddr,
        #[arg(long)]
        label: String,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Bursts, one after the other.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[arg(long, default_value = "/health")]
        path: String,
        /// The server's process id, for its resident memory.
        #[arg(long)]
        pid: Option<u32>,
    },
}

#[derive(Args, Clone)]
struct ReadArgs {
    address: SocketAddr,
    /// The row's name in the table.
    #[arg(long)]
    label: String,
    /// The request path; `{}` in it is replaced by the next term of `--terms`.
    #[arg(long)]
    path: String,
    /// One search term per line; each request takes the next one.
    #[arg(long)]
    terms: Option<std::path::PathBuf>,
    /// Extra request headers, `Name: value`.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Threads of the generator's own runtime (wrk's `-t`).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Added to the row's notes.
    #[arg(long, default_value = "")]
    note: String,
}

/// What a run saw.
struct Tally {
    latency: Histogram<u64>,
    requests: u64,
    errors: u64,
    unexpected: u64,
    /// The first unexpected answer, to show what went wrong.
    example: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 120_000_000, 3).unwrap(),
            requests: 0,
            errors: 0,
            unexpected: 0,
            example: None,
        }
    }

    fn add(&mut self, other: &Tally) {
        self.latency.add(&other.latency).unwrap();
        self.requests += other.requests;
        self.errors += other.errors;
        self.unexpected += other.unexpected;
        if self.example.is_none() {
            self.example.clone_from(&other.example);
        }
    }

    fn ms(&self, quantile: f64) -> String {
        if self.latency.is_empty() {
            return "–".into();
        }
        format_ms(self.latency.value_at_quantile(quantile))
    }

    fn failed(&self) -> bool {
        self.errors > 0 || self.unexpected > 0
    }
}

fn format_ms(micros: u64) -> String {
    let ms = micros as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// Everything but unreserved characters is escaped in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The request paths: one fixed path, or a template filled with terms in
/// turn (shared by all connections, so no term repeats until all are used).
struct Paths {
    template: String,
    terms: Vec<String>,
    next: AtomicUsize,
}

impl Paths {
    fn new(args: &ReadArgs) -> Self {
        let terms = match &args.terms {
            Some(file) => std::fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|t| utf8_percent_encode(t, QUERY_VALUE).to_string())
                .collect(),
            None => Vec::new(),
        };
        Self { template: args.path.clone(), terms, next: AtomicUsize::new(0) }
    }

    fn next(&self) -> String {
        if self.terms.is_empty() {
            return self.template.clone();
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.template.replace("{}", &self.terms[n % self.terms.len()])
    }

    /// How often the list was gone through (above 1, terms repeated).
    fn rounds(&self) -> f64 {
        if self.terms.is_empty() { 0.0 } else { self.next.load(Ordering::Relaxed) as f64 / self.terms.len() as f64 }
    }
}

fn parse_headers(headers: &[String]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            let (name, value) = h.split_once(':').unwrap_or_else(|| panic!("not a header: {h}"));
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect()
}

/// A keep-alive HTTP/1.1 connection with `TCP_NODELAY`, as browsers open them.
async fn connect(address: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(address).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One answer, read whole.
struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Bytes,
    /// The server said `Connection: close` (as it does after refusing a
    /// request whose body it did not read): the next request needs a new
    /// connection, as a browser would open one.
    closes: bool,
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&str>,
) -> Result<Answer, String> {
    let mut request = Request::builder().method(method).uri(path).header("host", "localhost");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(Full::new(Bytes::from(body.unwrap_or_default().to_owned()))).unwrap();
    sender.ready().await.map_err(|e| format!("connection: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| format!("request: {e}"))?;
    let status = response.status();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
    let closes = response
        .headers()
        .get_all("connection")
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))));
    let body = response.into_body().collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
    Ok(Answer { status, retry_after, body, closes })
}

/// GETs on one connection until `stop`; latencies count from `measure`.
async fn read_loop(
    args: Arc<ReadArgs>,
    paths: Arc<Paths>,
    headers: Arc<[(String, String)]>,
    measure: Instant,
    stop: Instant,
) -> Tally {
    let mut tally = Tally::new();
    let mut sender = None;
    while Instant::now() < stop {
        let started = Instant::now();
        let path = paths.next();
        let result = match sender.as_mut() {
            Some(s) => send(s, "GET", &path, &headers, None).await,
            None => match connect(args.address).await {
                Ok(s) => send(sender.insert(s), "GET", &path, &headers, None).await,
                Err(e) => Err(e),
            },
        };
        let counted = started >= measure;
        match result {
            Ok(answer) => {
                if answer.closes {
                    sender = None;
                }
                if counted {
                    tally.requests += 1;
                    tally.latency.saturating_record(started.elapsed().as_micros() as u64);
                    if !answer.status.is_success() {
                        tally.unexpected += 1;
                        tally.example.get_or_insert_with(|| describe(&path, &answer));
                    }
                }
            }
            Err(e) => {
                sender = None;
                if counted {
                    tally.errors += 1;
                    tally.example.get_or_insert(e);
                }
            }
        }
    }
    tally
}

fn describe(path: &str, answer: &Answer) -> String {
    let body = String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)]).into_owned();
    format!("{path}: {} {body}", answer.status)
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(threads.max(1)).enable_all().build().unwrap()
}

/// Runs the read load; `during` runs beside it, from the start of the
/// measured time until its end.
async fn reads<F, T>(args: ReadArgs, during: impl FnOnce(Instant, Instant) -> F) -> (Tally, f64, T)
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let headers: Arc<[(String, String)]> = parse_headers(&args.headers).into();
    let paths = Arc::new(Paths::new(&args));
    let measure = Instant::now() + Duration::from_secs_f64(args.warmup);
    let stop = measure + Duration::from_secs_f64(args.duration);
    let args = Arc::new(args);
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| tokio::spawn(read_loop(args.clone(), paths.clone(), headers.clone(), measure, stop)))
        .collect();
    let side = tokio::spawn(during(measure, stop));
    let mut total = Tally::new();
    for task in tasks {
        total.add(&task.await.unwrap());
    }
    (total, paths.rounds(), side.await.unwrap())
}

/// A table row; `seconds` is `None` where a rate means nothing.
fn row(label: &str, tally: &Tally, seconds: Option<f64>, note: &str) {
    let rate = seconds.map_or("–".to_owned(), |s| format!("{:.0}", tally.requests as f64 / s));
    println!(
        "| {label} | {rate} | {} | {} | {} | {} | {} | {} | {note} |",
        tally.ms(0.50),
        tally.ms(0.95),
        tally.ms(0.99),
        tally.requests,
        tally.errors,
        tally.unexpected,
    );
}

fn report_problem(label: &str, tally: &Tally) {
    if let Some(example) = &tally.example {
        eprintln!("{label}: {} error(s), {} unexpected answer(s), e.g. {example}", tally.errors, tally.unexpected);
    }
}

fn get(args: ReadArgs) -> ExitCode {
    let label = args.label.clone();
    let seconds = args.duration;
    let args_note = args.note.clone();
    let (tally, rounds, ()) = runtime(args.threads).block_on(reads(args, |_, _| async {}));
    let mut note = args_note;
    if rounds > 1.0 {
        note.push_str(&format!("; terms reused ({rounds:.1}×)"));
    }
    row(&label, &tally, Some(seconds), &note);
    report_problem(&label, &tally);
    if tally.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Sign-in outcomes.
struct SignIns {
    /// Latency of the answers that signed in.
    signed_in: Tally,
    /// Latency of the refusals (429/503 in the envelope with `Retry-After`).
    refused: Tally,
    statuses: std::collections::BTreeMap<u16, u64>,
    bad: Tally,
}

async fn sign_in_loop(
    address: SocketAddr,
    path: String,
    body: String,
    honor_retry_after: bool,
    measure: Instant,
    stop: Instant,
    done: Arc<AtomicBool>,
) -> SignIns {
    let mut out =
        SignIns { signed_in: Tally::new(), refused: Tally::new(), statuses: Default::default(), bad: Tally::new() };
    let mut sender = None;
    while Instant::now() < stop && !done.load(Ordering::Relaxed) {
        let started = Instant::now();
        let result = match sender.as_mut() {
            Some(s) => send(s, "POST", &path, &[], Some(&body)).await,
            None => match connect(address).await {
                Ok(s) => send(sender.insert(s), "POST", &path, &[], Some(&body)).await,
                Err(e) => Err(e),
            },
        };
        let counted = started >= measure;
        let micros = started.elapsed().as_micros() as u64;
        match result {
            Ok(answer) => {
                if answer.closes {
                    sender = None;
                }
                if counted {
                    *out.statuses.entry(answer.status.as_u16()).or_default() += 1;
                }
                let refusal = matches!(answer.status.as_u16(), 429 | 503);
                if answer.status == StatusCode::OK {
                    if counted {
                        out.signed_in.requests += 1;
                        out.signed_in.latency.saturating_record(micros);
                    }
                } else if refusal && answer.retry_after.is_some() && is_envelope(&answer) {
                    if counted {
                        out.refused.requests += 1;
                        out.refused.latency.saturating_record(micros);
                    }
                    if honor_retry_after {
                        let wait = Duration::from_secs(answer.retry_after.unwrap_or(1));
                        tokio::time::sleep(wait.min(stop.saturating_duration_since(Instant::now()))).await;
                    }
                } else {
                    out.bad.unexpected += 1;
                    out.bad.example.get_or_insert_with(|| describe(&path, &answer));
                }
            }
            Err(e) => {
                sender = None;
                out.bad.errors += 1;
                out.bad.example.get_or_insert(e);
            }
        }
    }
    out
}

/// A refusal must be the error envelope, with the status repeated in it.
fn is_envelope(answer: &Answer) -> bool {
    serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["error"]["status_code"].as_u64())
        .is_some_and(|s| s == u64::from(answer.status.as_u16()))
}

fn flood(reads_args: ReadArgs, clients: usize, path: String, body: String, honor: bool) -> ExitCode {
    let label = reads_args.label.clone();
    let seconds = reads_args.duration;
    let address = reads_args.address;
    let threads = reads_args.threads;
    let (tally, _, sign_ins) = runtime(threads).block_on(reads(reads_args, move |measure, stop| async move {
        let done = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                tokio::spawn(sign_in_loop(address, path.clone(), body.clone(), honor, measure, stop, done.clone()))
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.push(task.await.unwrap());
        }
        all
    }));
    let mut signed_in = Tally::new();
    let mut refused = Tally::new();
    let mut bad = Tally::new();
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    for s in &sign_ins {
        signed_in.add(&s.signed_in);
        refused.add(&s.refused);
        bad.add(&s.bad);
        for (status, n) in &s.statuses {
            *statuses.entry(*status).or_default() += n;
        }
    }
    let statuses = statuses.iter().map(|(s, n)| format!("{n}×{s}")).collect::<Vec<_>>().join(" ");
    let note = format!(
        "{clients} sign-in clients{}: {statuses}; sign-in p50 {} p99 {}, refusal p50 {} p99 {}",
        if honor { " (honouring Retry-After)" } else { "" },
        signed_in.ms(0.5),
        signed_in.ms(0.99),
        refused.ms(0.5),
        refused.ms(0.99),
    );
    row(&label, &tally, Some(seconds), &note);
    report_problem(&label, &tally);
    report_problem(&format!("{label} (sign-ins)"), &bad);
    if tally.failed() || bad.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// The resident memory of a process, from `/proc` (Linux).
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}

/// One burst: `count` connections opened at once, one request on each,
/// all held open until the server's memory has been read.
async fn burst(address: SocketAddr, count: usize, path: &str, pid: Option<u32>) -> (Tally, Tally, Option<f64>) {
    let all_open = Arc::new(tokio::sync::Barrier::new(count + 1));
    let release = Arc::new(Mutex::new(()));
    let hold = release.clone().lock_owned().await;
    // Sockets made beforehand, so that the connects themselves leave as one
    // burst of SYNs.
    let sockets: Vec<_> = (0..count)
        .map(|_| if address.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.unwrap())
        .collect();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|socket| {
            let path = path.to_owned();
            let all_open = all_open.clone();
            let release = release.clone();
            tokio::spawn(async move {
                let begun = Instant::now();
                let stream = socket.connect(address).await;
                let connected = begun.elapsed();
                let result = match stream {
                    Ok(stream) => {
                        stream.set_nodelay(true).ok();
                        match http1::handshake(TokioIo::new(stream)).await {
                            Ok((mut sender, connection)) => {
                                tokio::spawn(connection);
                                send(&mut sender, "GET", &path, &[], None).await.map(|a| (a, sender))
                            }
                            Err(e) => Err(format!("handshake: {e}")),
                        }
                    }
                    Err(e) => Err(format!("connect: {e}")),
                };
                let answered = begun.elapsed();
                all_open.wait().await;
                // Keep the connection open until memory has been read.
                let _held = release.lock().await;
                (connected, answered, result.map(|(answer, _sender)| answer.status))
            })
        })
        .collect();
    all_open.wait().await;
    let rss_open = pid.and_then(rss_mib);
    drop(hold);
    let mut connects = Tally::new();
    let mut answers = Tally::new();
    for task in tasks {
        let (connected, answered, result) = task.await.unwrap();
        connects.latency.saturating_record(connected.as_micros() as u64);
        connects.requests += 1;
        match result {
            Ok(status) if status.is_success() => {
                answers.latency.saturating_record(answered.as_micros() as u64);
                answers.requests += 1;
            }
            Ok(status) => {
                answers.unexpected += 1;
                answers.example.get_or_insert_with(|| format!("{path}: {status}"));
            }
            Err(e) => {
                answers.errors += 1;
                answers.example.get_or_insert(e);
            }
        }
    }
    (connects, answers, rss_open)
}

fn connect_many(
    address: SocketAddr,
    label: &str,
    count: usize,
    rounds: usize,
    path: &str,
    pid: Option<u32>,
) -> ExitCode {
    let rss_before = pid.and_then(rss_mib);
    let (connects, answers, rss_open) = runtime(1).block_on(async move {
        let mut connects = Tally::new();
        let mut answers = Tally::new();
        let mut rss_open = None::<f64>;
        for _ in 0..rounds {
            let (c, a, rss) = burst(address, count, path, pid).await;
            connects.add(&c);
            answers.add(&a);
            rss_open = match (rss_open, rss) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            // Let the closed connections' TIME_WAIT and the server settle.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        (connects, answers, rss_open)
    });
    let retried = connects.latency.count_between(900_000, u64::MAX);
    let memory = match (rss_before, rss_open) {
        (Some(before), Some(open)) => format!(", server RSS {before:.0} MiB idle, {open:.0} MiB with all open"),
        _ => String::new(),
    };
    let note = format!(
        "connect time, {rounds} bursts of {count}; max {}, {retried} waited ≥ 0.9 s (a SYN retry); first answer \
         p50 {} p99 {}{memory}",
        format_ms(connects.latency.max()),
        answers.ms(0.5),
        answers.ms(0.99),
    );
    let mut shown = Tally::new();
    shown.add(&connects);
    shown.errors = answers.errors;
    shown.unexpected = answers.unexpected;
    row(label, &shown, None, &note);
    report_problem(label, &answers);
    if answers.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Get(args) => get(args),
        Command::Flood { reads, sign_ins, sign_in_path, sign_in_body, honor_retry_after } => {
            flood(reads, sign_ins, sign_in_path, sign_in_body, honor_retry_after)
        }
        Command::Connect { address, label, count, rounds, path, pid } => {
            connect_many(address, &label, count, rounds, &path, pid)
        }
    }
}
