//! `shelf backup` and `shelf restore`: the real binary, real server
//! processes writing while the backup runs, and the restored copy served
//! again.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "a test should fail loudly on anything unexpected"
)]

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use serde_json::{Value, json};

const WRITER_PASSWORD: &str = "long-enough-password";

/// A temporary directory with its SQLite database, `shelf.db`.
struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self, name: &str) -> String {
        format!("sqlite://{}", self.path(name).display())
    }

    /// A `shelf` command in this directory with a clean environment, on
    /// `shelf.db` unless `vars` names another database.
    fn command(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_shelf"));
        command.current_dir(self.dir.path()).args(args).env_clear().env("PATH", std::env::var("PATH").unwrap());
        command.env("SHELF_DATABASE_URL", self.url("shelf.db")).env("RUST_LOG", "warn");
        for (k, v) in vars {
            command.env(k, v);
        }
        command
    }

    fn shelf(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        self.command(args, vars).output().unwrap()
    }

    /// Runs `shelf` and insists that it succeeded; its stdout.
    #[track_caller]
    fn ok(&self, args: &[&str], vars: &[(&str, &str)]) -> String {
        let output = self.shelf(args, vars);
        assert!(output.status.success(), "shelf {args:?}: {}", text(&output.stderr));
        text(&output.stdout)
    }

    /// A catalog of `count` books (ids 1..=count in a new database), a user
    /// `writer`, and an API key of theirs that reads and writes the library.
    fn seed(&self, count: usize) -> String {
        let mut csv = String::from("title,author\n");
        for i in 1..=count {
            csv.push_str(&format!("Book {i},Author {i}\n"));
        }
        std::fs::write(self.path("books.csv"), csv).unwrap();
        self.ok(&["import", "books.csv"], &[]);
        self.ok(&["user", "create", "writer"], &[("SHELF_PASSWORD", WRITER_PASSWORD)]);
        self.ok(&["api-key", "create", "--user", "writer", "--name", "w", "--scope", "library:read,library:write"], &[])
            .trim()
            .to_owned()
    }

    /// The names of the files in the directory, hidden ones included.
    fn files(&self) -> BTreeSet<String> {
        std::fs::read_dir(self.dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A failure reported the way the binary promises: a non-zero exit, nothing
/// on stdout, one line on stderr without a panic; returns that line.
#[track_caller]
fn assert_one_line_failure(output: &Output) -> String {
    assert!(!output.status.success(), "succeeded: {}", text(&output.stdout));
    assert_eq!(text(&output.stdout), "", "printed on failure");
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A `shelf` server process on a port of its own, killed on drop.
struct Server {
    port: u16,
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `shelf` on `database` (a file in `work`) and waits for
    /// `/health`. Limits are off: these tests are about the data.
    fn start(work: &Workdir, database: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = work.path(&format!("server-{port}.log"));
        let file = File::create(&log).unwrap();
        let child = work
            .command(
                &[],
                &[
                    ("SHELF_DATABASE_URL", &work.url(database)),
                    ("SHELF_BIND", &format!("127.0.0.1:{port}")),
                    ("SHELF_JWT_SECRET", "backup-test-secret-that-is-at-least-32-bytes"),
                    ("SHELF_ADMIN_PASSWORD", "admin-password-123"),
                    ("SHELF_RATE_LIMITS", "false"),
                ],
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        let mut server = Self { port, child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("shelf exited with {status} before answering:\n{}", server.log());
            }
            if server.call("GET", "/health", None, None).is_ok_and(|(status, _)| status == 200) {
                return server;
            }
            assert!(Instant::now() < deadline, "shelf did not answer /health:\n{}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One request on a fresh connection; the status and the JSON body.
    fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<&Value>) -> std::io::Result<(u16, Value)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        if let Some(key) = key {
            head.push_str(&format!("X-API-Key: {key}\r\n"));
        }
        let body = body.map(Value::to_string).unwrap_or_default();
        if !body.is_empty() {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        stream.write_all(format!("{head}\r\n{body}").as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let raw = text(&raw);
        let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other(raw.clone()))?;
        assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
        let status =
            head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other(raw.clone()))?;
        Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
    }

    /// A request that must succeed; its body.
    #[track_caller]
    fn get(&self, path: &str, key: &str) -> Value {
        let (status, body) = self.call("GET", path, Some(key), None).unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `PRAGMA integrity_check` of a database file, opened read-only.
fn integrity(path: &Path) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let mut conn = SqliteConnection::establish(&format!("file:{}?mode=ro", path.display())).unwrap();
    diesel::sql_query("PRAGMA integrity_check")
        .load::<Row>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|r| r.integrity_check)
        .collect()
}

/// How many rows of `sql` (a `SELECT count(*) AS n …`) a database file has.
fn count(path: &Path, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = SqliteConnection::establish(&format!("file:{}?mode=ro", path.display())).unwrap();
    diesel::sql_query(sql).get_result::<Row>(&mut conn).unwrap().n
}

/// One write a writer thread made, and whether its 2xx arrived before the
/// backup began.
#[derive(Debug, Clone)]
struct Acked {
    kind: Kind,
    acked_before_backup: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A tag of this (unique) name.
    Tag(String),
    /// Status `reading` on this book (each book once).
    Status(i64),
}

const BOOKS: usize = 400;
const WRITERS: usize = 4;

/// Writer `thread`'s `i`-th write: tags with names of their own, and
/// statuses on books of their own while they last. Nothing is overwritten,
/// so every write is either in a copy or not.
fn nth_write(thread: usize, i: usize) -> Kind {
    let status_book = thread + WRITERS * (i / 2);
    if i % 2 == 1 && status_book < BOOKS {
        Kind::Status(status_book as i64 + 1)
    } else {
        Kind::Tag(format!("w{thread}-{i}"))
    }
}

#[test]
fn a_backup_under_concurrent_writes_holds_every_write_acknowledged_before_it_began() {
    let work = Workdir::new();
    let key = work.seed(BOOKS);
    let server = Arc::new(Server::start(&work, "shelf.db"));

    let backup_began = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|thread| {
            let (server, key, began, stop, acked) =
                (server.clone(), key.clone(), backup_began.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut done = Vec::new();
                for i in 0..5_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let kind = nth_write(thread, i);
                    let (path, body) = match &kind {
                        Kind::Tag(name) => ("/api/v1/add_tag", json!({"tag": name, "book_id": 1 + (i % BOOKS) as i64})),
                        Kind::Status(book) => ("/api/v1/change_status", json!({"book_id": book, "status": "reading"})),
                    };
                    let (status, answer) = server.call("POST", path, Some(&key), Some(&body)).unwrap();
                    assert_eq!(status, 200, "{path} {body}: {answer}");
                    // Read after the 2xx arrived: false means the write was
                    // acknowledged before the backup process was started.
                    let acked_before_backup = !began.load(Ordering::SeqCst);
                    acked.fetch_add(1, Ordering::SeqCst);
                    done.push(Acked { kind, acked_before_backup });
                }
                done
            })
        })
        .collect();

    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while acked.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "writers stalled at {}", acked.load(Ordering::SeqCst));
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(100);
    backup_began.store(true, Ordering::SeqCst);
    let during = acked.load(Ordering::SeqCst);
    let output = work.shelf(&["backup", "backup.db"], &[]);
    let after = acked.load(Ordering::SeqCst);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // Writes went on while the backup ran, and go on after it.
    wait_for(after + 100);
    stop.store(true, Ordering::SeqCst);
    let writes: Vec<Vec<Acked>> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    drop(Arc::into_inner(server).expect("writers hold no server"));
    eprintln!("{during} writes acknowledged when the backup began, {after} when it ended");

    let backup = work.path("backup.db");
    let report = text(&output.stdout);
    assert!(report.starts_with("wrote backup.db: "), "{report}");
    assert!(report.contains(&format!("{BOOKS} books")), "{report}");
    assert!(report.contains("integrity ok"), "{report}");
    assert_eq!(integrity(&backup), ["ok"]);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a backup holds password hashes: only its owner may read it");
    }
    assert!(!work.files().iter().any(|f| f.contains("partial")), "{:?}", work.files());

    // Restore into a new path and serve it.
    let restored = work.ok(&["restore", "backup.db"], &[("SHELF_DATABASE_URL", &work.url("restored.db"))]);
    assert!(restored.contains("restored backup.db into "), "{restored}");
    let server = Server::start(&work, "restored.db");

    let mut tags = HashSet::new();
    let mut tags_on_books = 0;
    for tag in server.get("/api/v1/tags", &key)["tags"].as_array().unwrap() {
        tags.insert(tag["name"].as_str().unwrap().to_owned());
        tags_on_books += tag["book_count"].as_i64().unwrap();
    }
    let mut reading = HashSet::new();
    for page in 1.. {
        let body = server.get(&format!("/api/v1/library?status=reading&per_page=100&page={page}"), &key);
        let books = body["books"].as_array().unwrap();
        reading.extend(books.iter().map(|b| b["id"].as_i64().unwrap()));
        if books.len() < 100 {
            break;
        }
    }
    assert!(report.contains(&format!("{tags_on_books} tags on books")), "{report} vs {tags_on_books} tags served");
    assert!(report.contains(&format!("{} reading statuses", reading.len())), "{report}");

    let mut before = 0;
    for (thread, writes) in writes.iter().enumerate() {
        let present: Vec<bool> = writes
            .iter()
            .map(|w| match &w.kind {
                Kind::Tag(name) => tags.contains(name),
                Kind::Status(book) => reading.contains(book),
            })
            .collect();
        for (i, (write, present)) in writes.iter().zip(&present).enumerate() {
            if write.acked_before_backup {
                before += 1;
                assert!(present, "writer {thread}'s write {i} ({:?}) was acknowledged before the backup", write.kind);
            }
        }
        // One moment's database: what a writer did is in the copy up to
        // some write and not after it.
        let first_missing = present.iter().position(|p| !p).unwrap_or(present.len());
        assert!(
            present[first_missing..].iter().all(|p| !p),
            "writer {thread}: the copy has write(s) after missing write {first_missing}"
        );
    }
    assert!(before >= 100, "{before}");
}

#[test]
fn a_server_stopped_by_sigterm_leaves_one_complete_database_file() {
    let work = Workdir::new();
    let key = work.seed(3);
    let mut server = Server::start(&work, "shelf.db");
    let (status, body) =
        server.call("POST", "/api/v1/add_tag", Some(&key), Some(&json!({"tag": "kept", "book_id": 1}))).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(work.files().contains("shelf.db-wal"), "{:?}", work.files());

    let pid = rustix::process::Pid::from_raw(i32::try_from(server.child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "shelf did not stop on SIGTERM:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}:\n{}", server.log());
    // The write-ahead log was folded into the file: nothing beside it is
    // needed to read every acknowledged write.
    let wal = work.path("shelf.db-wal");
    assert!(std::fs::metadata(&wal).map_or(true, |m| m.len() == 0), "{:?}", work.files());
    let alone = work.path("copy.db");
    std::fs::copy(work.path("shelf.db"), &alone).unwrap();
    assert_eq!(count(&alone, "SELECT count(*) AS n FROM tags WHERE name = 'kept'"), 1);
}

#[test]
fn backup_never_overwrites_a_file() {
    let work = Workdir::new();
    work.ok(&["migrate"], &[]);
    std::fs::write(work.path("taken.db"), "keep me").unwrap();
    File::create(work.path("empty.db")).unwrap();
    let before = work.files();

    for name in ["taken.db", "empty.db"] {
        let message = assert_one_line_failure(&work.shelf(&["backup", name], &[]));
        assert!(message.contains(name) && message.contains("never overwrites"), "{message}");
    }
    assert_eq!(std::fs::read_to_string(work.path("taken.db")).unwrap(), "keep me");
    assert_eq!(std::fs::metadata(work.path("empty.db")).unwrap().len(), 0);
    assert_eq!(work.files(), before, "a refused backup left files behind");

    let message = assert_one_line_failure(&work.shelf(&["backup", "no/such/dir/b.db"], &[]));
    assert!(message.contains("no/such/dir/b.db"), "{message}");
}

#[test]
fn backup_of_a_missing_database_creates_nothing() {
    let work = Workdir::new();
    let message = assert_one_line_failure(&work.shelf(&["backup", "b.db"], &[]));
    assert!(message.contains("no database at") && message.contains("shelf.db"), "{message}");
    assert!(work.files().is_empty(), "{:?}", work.files());
}

#[test]
fn on_postgresql_backup_and_restore_point_to_pg_dump() {
    let work = Workdir::new();
    // Port 1: nothing is asked of a server.
    let vars = [("SHELF_DATABASE_URL", "postgres://postgres@127.0.0.1:1/shelf")];
    for args in [&["backup", "b.db"][..], &["restore", "b.db", "--force"]] {
        let message = assert_one_line_failure(&work.shelf(args, &vars));
        assert!(message.contains("SQLite") && message.contains("pg_dump"), "{message}");
    }
    assert!(work.files().is_empty(), "{:?}", work.files());
}

#[test]
fn restore_waits_for_the_server_to_stop_and_keeps_the_database_it_replaces() {
    let work = Workdir::new();
    let key = work.seed(3);
    let server = Server::start(&work, "shelf.db");
    let tag = |name: &str| {
        let (status, body) =
            server.call("POST", "/api/v1/add_tag", Some(&key), Some(&json!({"tag": name, "book_id": 1}))).unwrap();
        assert_eq!(status, 200, "{body}");
    };
    tag("before");
    work.ok(&["backup", "b.db"], &[]);
    tag("after");

    let message = assert_one_line_failure(&work.shelf(&["restore", "b.db", "--force"], &[]));
    assert!(message.contains("server is running"), "{message}");
    // Killed, not stopped: its write-ahead log stays behind.
    drop(server);
    assert!(work.files().contains("shelf.db-wal"), "{:?}", work.files());

    let message = assert_one_line_failure(&work.shelf(&["restore", "b.db"], &[]));
    assert!(message.contains("--force"), "{message}");

    let report = work.ok(&["restore", "b.db", "--force"], &[]);
    let replaced = report
        .lines()
        .find_map(|l| l.strip_prefix("the database it replaced is kept as "))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(!work.files().contains("shelf.db-wal") && !work.files().contains("shelf.db-shm"), "{:?}", work.files());
    // Nothing is lost: the replaced database has the write made after the
    // backup.
    assert_eq!(count(Path::new(replaced), "SELECT count(*) AS n FROM tags WHERE name = 'after'"), 1);

    let server = Server::start(&work, "shelf.db");
    let tags: Vec<String> = server.get("/api/v1/tags", &key)["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tags, ["before"]);
}

#[test]
fn a_server_does_not_start_while_a_restore_holds_the_database() {
    let work = Workdir::new();
    work.ok(&["migrate"], &[]);
    let lock = File::create(work.path("shelf.db.lock")).unwrap();
    lock.try_lock().unwrap();
    let mut server = work
        .command(&[], &[("SHELF_BIND", "127.0.0.1:0")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A server that ignored the lock would serve on: stop it, then fail.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            server.kill().unwrap();
            panic!("the server started while a restore held the lock");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let message = assert_one_line_failure(&server.wait_with_output().unwrap());
    assert!(message.contains("restore is in progress"), "{message}");
}

#[test]
fn restore_run_as_root_leaves_the_database_to_the_owner_of_the_one_it_replaces() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: only root can give a file to another user");
        return;
    }
    let work = Workdir::new();
    work.ok(&["migrate"], &[]);
    work.ok(&["backup", "b.db"], &[]);
    // As systemd's DynamicUser would have left it.
    let database = work.path("shelf.db");
    std::os::unix::fs::chown(&database, Some(61_234), Some(61_234)).unwrap();
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o640)).unwrap();

    work.ok(&["restore", "b.db", "--force"], &[]);
    let restored = std::fs::metadata(&database).unwrap();
    assert_eq!((restored.uid(), restored.gid(), restored.mode() & 0o777), (61_234, 61_234, 0o640));
    // A new database gets its directory's owner and is its owner's only.
    std::os::unix::fs::chown(work.dir.path(), Some(61_235), Some(61_235)).unwrap();
    work.ok(&["restore", "b.db"], &[("SHELF_DATABASE_URL", &work.url("new.db"))]);
    let created = std::fs::metadata(work.path("new.db")).unwrap();
    assert_eq!((created.uid(), created.gid(), created.mode() & 0o777), (61_235, 61_235, 0o600));
}

#[test]
fn restore_refuses_what_is_not_a_shelf_backup_this_binary_can_open() {
    let work = Workdir::new();
    work.ok(&["migrate"], &[]);
    work.ok(&["backup", "good.db"], &[]);
    std::fs::write(work.path("notes.txt"), "not a database at all, just some words").unwrap();
    {
        let mut other = SqliteConnection::establish(work.path("other.db").to_str().unwrap()).unwrap();
        diesel::sql_query("CREATE TABLE things (id INTEGER PRIMARY KEY)").execute(&mut other).unwrap();
    }
    std::fs::copy(work.path("good.db"), work.path("newer.db")).unwrap();
    {
        let mut newer = SqliteConnection::establish(work.path("newer.db").to_str().unwrap()).unwrap();
        diesel::sql_query(
            "INSERT INTO __diesel_schema_migrations (version, run_on) VALUES ('29991231000000', CURRENT_TIMESTAMP)",
        )
        .execute(&mut newer)
        .unwrap();
    }

    let vars = [("SHELF_DATABASE_URL", work.url("target.db"))];
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for (backup, expected) in [
        ("notes.txt", "is not a shelf database"),
        ("other.db", "shelf's tables are missing"),
        ("newer.db", "newer shelf (it has migration 29991231000000"),
        ("missing.db", "missing.db"),
    ] {
        let message = assert_one_line_failure(&work.shelf(&["restore", backup], &vars));
        assert!(message.contains(expected), "{backup}: {message}");
        let files = work.files();
        assert!(!files.iter().any(|f| f.starts_with("target.db") && f != "target.db.lock"), "{files:?}");
        assert!(!files.iter().any(|f| f.contains("restoring")), "{files:?}");
    }
    let restored = work.ok(&["restore", "good.db"], &vars);
    assert!(restored.contains("0 books"), "{restored}");
    assert_eq!(integrity(&work.path("target.db")), ["ok"]);
}
