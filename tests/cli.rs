//! The `shelf` binary: settings errors, subcommands, the first start.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test should fail loudly on anything unexpected")]

use std::process::{Command, Output};

struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    /// Runs `shelf` in this directory on its own SQLite file, with a clean
    /// environment apart from `vars`.
    fn shelf(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_shelf"));
        command.current_dir(self.dir.path()).args(args).env_clear().env("PATH", std::env::var("PATH").unwrap());
        command.env("SHELF_DATABASE_URL", format!("sqlite://{}", self.dir.path().join("cli.db").display()));
        command.env("RUST_LOG", "warn");
        for (k, v) in vars {
            command.env(k, v);
        }
        command.output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_bad_setting_stops_the_start_with_one_line_naming_the_variable() {
    let work = Workdir::new();
    for (variable, value) in [
        ("SHELF_DATABASE_POOL_SIZE", "0"),
        ("SHELF_JWT_SECRET", "too-short"),
        ("SHELF_BIND", "not-an-address"),
        ("SHELF_DATABASE_URL", "mysql://nope"),
        ("SHELF_LIMIT_ANONYMOUS", "lots"),
    ] {
        let output = work.shelf(&[], &[(variable, value)]);
        assert_eq!(output.status.code(), Some(2), "{variable}");
        let stderr = text(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(variable), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn help_lists_the_subcommands() {
    let output = Workdir::new().shelf(&["--help"], &[]);
    assert!(output.status.success());
    let help = text(&output.stdout);
    for command in ["serve", "migrate", "user", "import", "openapi"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn import_reports_bad_rows_by_line_and_is_idempotent() {
    let work = Workdir::new();
    let csv = work.dir.path().join("books.csv");
    std::fs::write(&csv, "title,author,rating\nEmma,Jane Austen,4\n,Nobody,\nDune,Frank Herbert,9\n").unwrap();
    let output = work.shelf(&["import", "books.csv"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("imported 1 book(s); 0 already present; 2 row(s) rejected"));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("books.csv:3: title"), "{stderr}");
    assert!(stderr.contains("books.csv:4: rating"), "{stderr}");
    assert!(!stderr.contains("SHELF_JWT_SECRET"), "{stderr}");

    let again = work.shelf(&["import", "books.csv"], &[]);
    assert!(text(&again.stdout).contains("imported 0 book(s); 1 already present"));

    let missing = work.shelf(&["import", "nope.csv"], &[]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("nope.csv"));
}

#[test]
fn user_create_checks_the_rules_and_takes_the_password_from_the_environment() {
    let work = Workdir::new();
    let created = work.shelf(&["user", "create", "reader", "--admin"], &[("SHELF_PASSWORD", "long-enough-password")]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).contains("created user reader"));
    assert!(text(&created.stdout).contains("role admin"));

    let taken = work.shelf(&["user", "create", "reader"], &[("SHELF_PASSWORD", "long-enough-password")]);
    assert!(!taken.status.success());
    assert!(text(&taken.stderr).contains("taken"));

    let weak = work.shelf(&["user", "create", "other"], &[("SHELF_PASSWORD", "short")]);
    assert!(!weak.status.success());
    assert!(text(&weak.stderr).contains("password"));
    let bad_name = work.shelf(&["user", "create", "No Spaces"], &[("SHELF_PASSWORD", "long-enough-password")]);
    assert!(!bad_name.status.success());
    assert!(text(&bad_name.stderr).contains("username"));
}

#[test]
fn migrate_creates_the_database_and_openapi_prints_the_committed_document() {
    let work = Workdir::new();
    let migrated = work.shelf(&["migrate"], &[]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    assert!(work.dir.path().join("cli.db").exists());

    let printed = work.shelf(&["openapi"], &[]);
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/api/openapi-v1.json")).unwrap();
    assert!(
        text(&printed.stdout) == committed,
        "api/openapi-v1.json is stale: cargo run -q -- openapi > api/openapi-v1.json"
    );
}

#[test]
fn the_first_start_creates_admin_with_a_random_password_printed_once() {
    let work = Workdir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_shelf"))
        .current_dir(work.dir.path())
        .env_clear()
        .env("SHELF_DATABASE_URL", "sqlite://first.db")
        .env("SHELF_BIND", &bind)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the server to answer, then stop it.
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&bind).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    server.kill().unwrap();
    let output = server.wait_with_output().unwrap();
    assert!(up, "server did not start: {}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let line = stdout.lines().find(|l| l.contains("Created user 'admin' with password: ")).expect(&stdout);
    let password = line.rsplit(' ').next().unwrap();
    assert!(password.len() >= 24, "{password}");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("SHELF_JWT_SECRET is not set"), "{stderr}");
    assert!(!stderr.contains(password), "the password reached the log");
}
