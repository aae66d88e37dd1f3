//! The `shelf` binary: settings errors, subcommands, the first start.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "a test should fail loudly on anything unexpected"
)]

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

    /// `sqlite://…/cli.db`, the database `shelf` runs on here.
    fn database_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("cli.db").display())
    }

    /// Creates a user with `shelf user create`.
    fn user(&self, name: &str, admin: bool) {
        let mut args = vec!["user", "create", name];
        if admin {
            args.push("--admin");
        }
        let output = self.shelf(&args, &[("SHELF_PASSWORD", "long-enough-password")]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    /// Runs `shelf api-key …`.
    fn api_key(&self, args: &[&str]) -> Output {
        let args: Vec<&str> = ["api-key"].into_iter().chain(args.iter().copied()).collect();
        self.shelf(&args, &[])
    }

    /// `shelf api-key create` that must succeed; the key it printed.
    fn new_key(&self, args: &[&str]) -> String {
        let output = self.api_key(&[&["create"], args].concat());
        assert!(output.status.success(), "{}", text(&output.stderr));
        let stdout = text(&output.stdout);
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        stdout.trim().to_owned()
    }

    /// `shelf api-key list --user NAME`, one row of tab-separated fields a key.
    fn keys_of(&self, user: &str) -> (String, Vec<Vec<String>>) {
        let output = self.api_key(&["list", "--user", user]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let stdout = text(&output.stdout);
        let rows = stdout.lines().map(|line| line.split('\t').map(str::to_owned).collect()).collect();
        (stdout, rows)
    }
}

/// Splits `shelf_<16 alphanumerics>_<secret>`, checking its form.
#[track_caller]
fn key_parts(key: &str) -> (&str, &str) {
    let (public_id, secret) = key
        .strip_prefix("shelf_")
        .and_then(|rest| rest.split_once('_'))
        .unwrap_or_else(|| panic!("not a key: {key:?}"));
    assert_eq!(public_id.len(), 16, "{key}");
    assert!(public_id.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
    assert!(!secret.is_empty() && secret.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
    (public_id, secret)
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
fn migrate_creates_the_database_and_openapi_prints_each_document() {
    let work = Workdir::new();
    let migrated = work.shelf(&["migrate"], &[]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    assert!(work.dir.path().join("cli.db").exists());

    // What the server serves is compared with the committed copies in the
    // API tests; here, that the command prints each version's document.
    for (args, version) in [(&["openapi"][..], "v1"), (&["openapi", "v1"], "v1"), (&["openapi", "v2"], "v2")] {
        let printed = work.shelf(args, &[]);
        assert!(printed.status.success());
        assert!(text(&printed.stdout) == shelf::api::openapi::json(version).unwrap(), "{args:?}");
    }
    assert!(!work.shelf(&["openapi", "v3"], &[]).status.success());
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

#[test]
fn api_key_help_lists_create_list_and_revoke() {
    let output = Workdir::new().shelf(&["api-key", "--help"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let help = text(&output.stdout);
    for command in ["create", "list", "revoke"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn api_key_create_prints_the_key_once_and_list_shows_only_its_prefix() {
    let work = Workdir::new();
    work.user("reader", false);
    let key = work.new_key(&["--user", "reader", "--name", "sync", "--scope", "books:read,library:read"]);
    let (public_id, secret) = key_parts(&key);

    let (listing, rows) = work.keys_of("reader");
    assert_eq!(rows.len(), 1, "{listing}");
    assert!(listing.contains(&format!("shelf_{public_id}")), "{listing}");
    assert!(!listing.contains(secret), "the secret is listed: {listing}");
    assert_eq!(rows[0][1], format!("shelf_{public_id}"), "{listing}");
    assert_eq!(rows[0][2], "sync", "{listing}");
    assert_eq!(rows[0][3], "books:read,library:read", "{listing}");
    assert!(rows[0].iter().any(|f| f == "expires never"), "{listing}");
    assert!(rows[0].iter().any(|f| f == "last used never"), "{listing}");

    // Repeated --scope works like a comma-separated one.
    let other =
        work.new_key(&["--user", "reader", "--name", "tags", "--scope", "library:read", "--scope", "library:write"]);
    assert_ne!(key_parts(&other).0, public_id);
    let (listing, rows) = work.keys_of("reader");
    assert_eq!(rows.len(), 2, "{listing}");
    assert!(rows.iter().any(|r| r[3] == "library:read,library:write"), "{listing}");
    assert!(!listing.contains(key_parts(&other).1), "{listing}");
}

#[test]
fn api_key_create_takes_an_expiry_in_days_within_the_limits() {
    let work = Workdir::new();
    work.user("reader", false);
    work.new_key(&["--user", "reader", "--name", "month", "--scope", "books:read", "--expires-in-days", "30"]);
    let (listing, rows) = work.keys_of("reader");
    let field = |prefix: &str| {
        let value = rows[0].iter().find_map(|f| f.strip_prefix(prefix)).unwrap_or_else(|| panic!("{listing}"));
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{value}: {e}"))
            .unix_timestamp()
    };
    assert_eq!(field("expires ") - field("created "), 30 * 86_400, "{listing}");

    for days in ["0", "3651"] {
        let output = work.api_key(&[
            "create",
            "--user",
            "reader",
            "--name",
            "bad",
            "--scope",
            "books:read",
            "--expires-in-days",
            days,
        ]);
        let message = assert_one_line_failure(&output);
        assert!(message.contains("expires_in_days"), "{message}");
    }
    assert_eq!(work.keys_of("reader").1.len(), 1, "a refused request created a key");
}

#[test]
fn api_key_create_refuses_books_write_to_a_non_admin() {
    let work = Workdir::new();
    work.user("reader", false);
    let output = work.api_key(&["create", "--user", "reader", "--name", "editor", "--scope", "books:read,books:write"]);
    let message = assert_one_line_failure(&output);
    assert!(message.contains("books:write"), "{message}");
    assert!(work.keys_of("reader").1.is_empty(), "a refused request created a key");

    work.user("boss", true);
    let key = work.new_key(&["--user", "boss", "--name", "editor", "--scope", "books:write"]);
    key_parts(&key);
    assert_eq!(work.keys_of("boss").1[0][3], "books:write");
}

#[test]
fn api_key_commands_refuse_an_unknown_user_or_scope() {
    let work = Workdir::new();
    work.user("reader", false);
    let message =
        assert_one_line_failure(&work.api_key(&["create", "--user", "ghost", "--name", "n", "--scope", "books:read"]));
    assert!(message.contains("ghost"), "{message}");
    let message = assert_one_line_failure(&work.api_key(&["list", "--user", "ghost"]));
    assert!(message.contains("ghost"), "{message}");
    let message = assert_one_line_failure(&work.api_key(&["revoke", "--user", "ghost", "1"]));
    assert!(message.contains("ghost"), "{message}");

    let message =
        assert_one_line_failure(&work.api_key(&["create", "--user", "reader", "--name", "n", "--scope", "admin:all"]));
    assert!(message.contains("admin:all"), "{message}");
    let output = work.api_key(&["create", "--user", "reader", "--name", "n"]);
    assert!(!output.status.success(), "a key without scopes was created");
    assert!(work.keys_of("reader").1.is_empty());
}

#[test]
fn api_key_revoke_removes_the_key_from_the_list() {
    let work = Workdir::new();
    work.user("reader", false);
    work.user("other", false);
    let doomed = work.new_key(&["--user", "reader", "--name", "doomed", "--scope", "books:read"]);
    let kept = work.new_key(&["--user", "reader", "--name", "kept", "--scope", "books:read"]);
    let (_, rows) = work.keys_of("reader");
    let id_of = |key: &str| {
        let prefix = format!("shelf_{}", key_parts(key).0);
        rows.iter().find(|r| r[1] == prefix).map(|r| r[0].clone()).unwrap()
    };
    let (doomed_id, kept_id) = (id_of(&doomed), id_of(&kept));

    // Someone else cannot revoke it.
    let message = assert_one_line_failure(&work.api_key(&["revoke", "--user", "other", &doomed_id]));
    assert!(message.contains(&doomed_id), "{message}");
    assert_eq!(work.keys_of("reader").1.len(), 2);

    let revoked = work.api_key(&["revoke", "--user", "reader", &doomed_id]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    assert!(text(&revoked.stdout).contains(&format!("revoked API key {doomed_id}")));
    let (listing, rows) = work.keys_of("reader");
    assert_eq!(rows.len(), 1, "{listing}");
    assert_eq!(rows[0][0], kept_id);
    assert!(!listing.contains(key_parts(&doomed).0), "{listing}");

    assert_one_line_failure(&work.api_key(&["revoke", "--user", "reader", &doomed_id]));
    assert_one_line_failure(&work.api_key(&["revoke", "--user", "reader", "999"]));
}

#[actix_web::test]
async fn a_key_from_the_command_line_works_against_the_server_until_revoked() {
    use actix_web::test::{self, TestRequest};

    let work = Workdir::new();
    work.user("reader", false);
    let key = work.new_key(&["--user", "reader", "--name", "sync", "--scope", "books:read"]);

    let vars: std::collections::HashMap<String, String> = [
        ("SHELF_DATABASE_URL".to_owned(), work.database_url()),
        ("SHELF_JWT_SECRET".to_owned(), "cli-test-secret-that-is-at-least-32-bytes".to_owned()),
        ("SHELF_ADMIN_PASSWORD".to_owned(), "admin-password-123".to_owned()),
    ]
    .into();
    let settings = shelf::settings::Settings::from_vars(&vars).unwrap();
    let (_, shared) = shelf::startup::prepare(&settings).unwrap();
    let service = test::init_service(shelf::startup::app(&shared, &settings)).await;
    let get = |path: &str, key: &str| {
        test::call_service(&service, TestRequest::get().uri(path).insert_header(("X-API-Key", key)).to_request())
    };

    let me = get("/api/v1/me", &key).await;
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = test::read_body_json(me).await;
    assert_eq!(me["username"], "reader");
    assert_eq!(get("/api/v1/books", &key).await.status(), 200);
    // The scopes given on the command line hold.
    assert_eq!(get("/api/v1/tags", &key).await.status(), 403);

    let (_, rows) = work.keys_of("reader");
    let revoked = work.api_key(&["revoke", "--user", "reader", &rows[0][0]]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let refused = get("/api/v1/me", &key).await;
    assert_eq!(refused.status(), 401);
    let body: serde_json::Value = test::read_body_json(refused).await;
    assert_eq!(body["error"]["code"], "invalid_api_key");
}
