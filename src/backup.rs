//! Backups of a SQLite database while the server runs (`shelf backup`),
//! putting one back (`shelf restore`), and the lock a serving process holds
//! so that a restore can tell it is running.
//!
//! A backup is `VACUUM INTO` on a connection of the live database: one read
//! transaction, so the copy is the database as of one moment (WAL lets the
//! server keep writing meanwhile), written to a hidden file beside the
//! destination, checked, synced, and only then given its name, without ever
//! replacing a file. A restore checks the backup (SQLite's integrity check,
//! shelf's tables, migrations this binary knows) on a copy beside the
//! database and renames the copy into place, keeping the database it
//! replaces. PostgreSQL has its own tools (`pg_dump`, `pg_restore`).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;

use crate::db;
use crate::settings::DatabaseUrl;

/// Why a backup or restore did not happen; each message is one line that
/// says what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "shelf backup and restore work on SQLite databases; for PostgreSQL use pg_dump -Fc and pg_restore \
         (README, \"Backup and restore\")"
    )]
    NotSqlite,
    #[error("SHELF_DATABASE_URL: {0:?} is not a database file; backups need sqlite://PATH")]
    NotAFile(String),
    #[error("no database at {0} (SHELF_DATABASE_URL)")]
    MissingDatabase(PathBuf),
    #[error("{0} exists; a backup never overwrites a file, choose a new name")]
    Exists(PathBuf),
    #[error("{0}: {1}")]
    Io(String, io::Error),
    #[error("{0}: {1}")]
    Sqlite(String, String),
    #[error("{0} is not a shelf database ({1})")]
    NotShelf(PathBuf, String),
    #[error("{0} fails SQLite's integrity check: {1}")]
    Corrupt(PathBuf, String),
    #[error(
        "{0} comes from a newer shelf (it has migration {1}, unknown to this binary); restore it with that version"
    )]
    Newer(PathBuf, String),
    #[error("a shelf server is running on {0}; stop it first")]
    ServerRunning(PathBuf),
    #[error("{0} is open in another process (an older shelf, a sqlite3 shell?); stop it first")]
    InUse(PathBuf),
    #[error("{0} exists; stop the server and run shelf restore --force to replace it (the replaced database is kept)")]
    TargetExists(PathBuf),
    #[error("SHELF_DATABASE_URL: a restore is in progress on {0}; start again when it has finished")]
    RestoreInProgress(PathBuf),
}

fn io_error(context: impl std::fmt::Display) -> impl FnOnce(io::Error) -> BackupError {
    let context = context.to_string();
    move |e| BackupError::Io(context, e)
}

fn sqlite_error(context: impl std::fmt::Display) -> impl FnOnce(diesel::result::Error) -> BackupError {
    let context = context.to_string();
    move |e| BackupError::Sqlite(context, e.to_string())
}

/// What a backup holds, read from the copy itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    pub bytes: u64,
    pub books: i64,
    pub users: i64,
    pub tags_on_books: i64,
    pub reading_statuses: i64,
    /// Migrations the database has applied, oldest first.
    pub migrations: Vec<String>,
}

impl std::fmt::Display for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} MiB ({} bytes), {} books, {} users, {} tags on books, {} reading statuses, schema {}",
            self.bytes as f64 / (1024.0 * 1024.0),
            self.bytes,
            self.books,
            self.users,
            self.tags_on_books,
            self.reading_statuses,
            self.migrations.last().map_or("(none)", String::as_str),
        )
    }
}

/// What `restore` did.
#[derive(Debug)]
pub struct Restored {
    pub target: PathBuf,
    pub contents: Contents,
    /// Where the database that was replaced now is (with its `-wal`, if it
    /// had one).
    pub replaced: Option<PathBuf>,
    /// Migrations the next start will apply.
    pub pending_migrations: usize,
    /// Things the operator should know, one line each.
    pub warnings: Vec<String>,
}

/// The database file `url` names, or why there is none to back up.
fn database_path(url: &DatabaseUrl) -> Result<PathBuf, BackupError> {
    match url {
        DatabaseUrl::Postgres(_) => Err(BackupError::NotSqlite),
        // SQLite reads `file:` names as URIs and `:memory:` as no file at
        // all; neither is a path this module can copy or lock.
        DatabaseUrl::Sqlite(path) if path == ":memory:" || path.starts_with("file:") => {
            Err(BackupError::NotAFile(path.clone()))
        }
        DatabaseUrl::Sqlite(path) => Ok(PathBuf::from(path)),
    }
}

/// `path`'s directory, absolute (so no name ever reads as a `file:` URI),
/// and its file name.
fn split_path(path: &Path) -> Result<(PathBuf, std::ffi::OsString), BackupError> {
    let name = path
        .file_name()
        .ok_or_else(|| BackupError::Io(path.display().to_string(), io::Error::other("not a file name")))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let dir = dir.canonicalize().map_err(io_error(path.display()))?;
    Ok((dir, name.to_owned()))
}

/// A file beside `dir/name` that is removed when dropped, unless kept.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    /// Creates it empty and readable by its owner only: backups hold
    /// password hashes and, unless `SHELF_JWT_SECRET` is set, the token
    /// signing secret.
    fn create(dir: &Path, name: &std::ffi::OsStr, purpose: &str) -> Result<(Self, File), BackupError> {
        let mut file_name = std::ffi::OsString::from(".");
        file_name.push(name);
        file_name.push(format!(".{purpose}-{}", std::process::id()));
        let path = dir.join(file_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_error(path.display()))?;
        Ok((Self { path, keep: false }, file))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Opens an existing database file (`mode` is `rw` or `ro`), never creating
/// one: a typo in `SHELF_DATABASE_URL` must not back up an empty database.
fn open(path: &Path, mode: &str) -> Result<SqliteConnection, BackupError> {
    let text =
        path.to_str().ok_or_else(|| BackupError::Io(path.display().to_string(), io::Error::other("not UTF-8")))?;
    // The path goes into a URI: escape what a URI would read otherwise.
    let escaped = text.replace('%', "%25").replace('?', "%3F").replace('#', "%23");
    SqliteConnection::establish(&format!("file:{escaped}?mode={mode}"))
        .map_err(|e| BackupError::Sqlite(path.display().to_string(), e.to_string()))
}

#[derive(QueryableByName)]
struct IntegrityRow {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct VersionRow {
    #[diesel(sql_type = Text)]
    version: String,
}

fn count(conn: &mut SqliteConnection, path: &Path, sql: &str) -> Result<i64, BackupError> {
    Ok(diesel::sql_query(sql).get_result::<CountRow>(conn).map_err(sqlite_error(path.display()))?.n)
}

/// Checks that `path` is a sound shelf database and reads what it holds.
fn inspect(conn: &mut SqliteConnection, path: &Path) -> Result<Contents, BackupError> {
    let not_shelf = |reason: &str| BackupError::NotShelf(path.to_owned(), reason.to_owned());
    let problems: Vec<String> = diesel::sql_query("PRAGMA integrity_check")
        .load::<IntegrityRow>(conn)
        .map_err(|e| not_shelf(&e.to_string()))?
        .into_iter()
        .map(|row| row.integrity_check)
        .collect();
    if problems != ["ok"] {
        return Err(BackupError::Corrupt(path.to_owned(), problems.join("; ")));
    }
    let tables = count(
        conn,
        path,
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' \
         AND name IN ('__diesel_schema_migrations', 'users', 'books', 'book_tags', 'reading_statuses')",
    )?;
    if tables != 5 {
        return Err(not_shelf("shelf's tables are missing"));
    }
    let migrations = diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
        .load::<VersionRow>(conn)
        .map_err(sqlite_error(path.display()))?
        .into_iter()
        .map(|row| row.version)
        .collect();
    Ok(Contents {
        bytes: fs::metadata(path).map_err(io_error(path.display()))?.len(),
        books: count(conn, path, "SELECT count(*) AS n FROM books")?,
        users: count(conn, path, "SELECT count(*) AS n FROM users")?,
        tags_on_books: count(conn, path, "SELECT count(*) AS n FROM book_tags")?,
        reading_statuses: count(conn, path, "SELECT count(*) AS n FROM reading_statuses")?,
        migrations,
    })
}

/// Flushes a directory's entries, so a rename or link survives a power loss.
fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir.display()))
}

/// Copies the configured database to `dest` while it may be in use, and
/// describes the copy. Never overwrites `dest`, never creates or migrates
/// the database (a backup taken with a newer binary before an upgrade must
/// leave the database as the old binary knows it).
pub fn backup(url: &DatabaseUrl, dest: &Path) -> Result<Contents, BackupError> {
    let source = database_path(url)?;
    if dest.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    let (dir, name) = split_path(dest)?;
    let dest = dir.join(&name);
    if !source.is_file() {
        return Err(BackupError::MissingDatabase(source));
    }
    let source = source.canonicalize().map_err(io_error(source.display()))?;

    let (partial, file) = TempFile::create(&dir, &name, "partial")?;
    drop(file);
    {
        let mut conn = open(&source, "rw")?;
        // A checkpoint or recovery by the server may hold a lock briefly.
        conn.batch_execute("PRAGMA busy_timeout = 5000;").map_err(sqlite_error(source.display()))?;
        let target = partial
            .path
            .to_str()
            .ok_or_else(|| BackupError::Io(partial.path.display().to_string(), io::Error::other("not UTF-8")))?;
        // VACUUM INTO accepts an existing empty file, and keeps its mode.
        diesel::sql_query("VACUUM INTO ?")
            .bind::<Text, _>(target)
            .execute(&mut conn)
            .map_err(sqlite_error(format!("backing up {}", source.display())))?;
    }
    let contents = inspect(&mut open(&partial.path, "ro")?, &partial.path)?;
    File::open(&partial.path).and_then(|f| f.sync_all()).map_err(io_error(partial.path.display()))?;
    // A hard link fails if `dest` appeared meanwhile, where a rename would
    // replace it.
    fs::hard_link(&partial.path, &dest).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => BackupError::Exists(dest.clone()),
        _ => BackupError::Io(dest.display().to_string(), e),
    })?;
    drop(partial);
    sync_dir(&dir)?;
    Ok(contents)
}

/// `PATH.lock`: a serving process holds it shared; a restore holds it
/// exclusively while it swaps the file. A separate file, because closing
/// any descriptor of the database itself would drop SQLite's own locks.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    match OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path) {
        // A lock file that a restore run by root created: locking needs
        // only a descriptor, not write access.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => File::open(path),
        other => other,
    }
}

/// Held for as long as the server runs, so `shelf restore` refuses to
/// replace its database. Dropping it releases the lock.
#[derive(Debug)]
pub struct ServerLock {
    _file: File,
}

/// Takes the server's shared lock beside a SQLite database file (several
/// servers may share one database); `None` for PostgreSQL and in-memory
/// databases, which have no file to replace.
pub fn lock_for_serving(url: &DatabaseUrl) -> Result<Option<ServerLock>, BackupError> {
    let Ok(database) = database_path(url) else { return Ok(None) };
    let path = lock_path(&database);
    let file =
        open_lock_file(&path).map_err(|e| BackupError::Io(format!("SHELF_DATABASE_URL: {}", path.display()), e))?;
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(ServerLock { _file: file })),
        Err(fs::TryLockError::WouldBlock) => Err(BackupError::RestoreInProgress(database)),
        Err(fs::TryLockError::Error(e)) => Err(BackupError::Io(path.display().to_string(), e)),
    }
}

/// Gives `file` the owner of `like` where it differs: a restore run as
/// root must leave a database the service's user can write.
fn match_owner(file: &File, like: &fs::Metadata, warnings: &mut Vec<String>) -> Result<(), BackupError> {
    let current = file.metadata().map_err(io_error("restored copy"))?;
    if (current.uid(), current.gid()) != (like.uid(), like.gid())
        && let Err(e) = std::os::unix::fs::fchown(file, Some(like.uid()), Some(like.gid()))
    {
        warnings.push(format!(
            "could not give the restored database the owner {}:{} ({e}); the server may not be able to write it",
            like.uid(),
            like.gid()
        ));
    }
    Ok(())
}

/// Moves `from` to `to` if it exists.
fn move_if_present(from: &Path, to: &Path) -> Result<bool, BackupError> {
    match fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(BackupError::Io(from.display().to_string(), e)),
    }
}

fn remove_if_present(path: &Path) -> Result<(), BackupError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(BackupError::Io(path.display().to_string(), e)),
        _ => Ok(()),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Puts the backup at `source` in place of the configured database.
///
/// Refuses while a server holds the database's lock or any process has it
/// open, when the backup is not a sound shelf database this binary can
/// migrate, and, without `force`, when a database is already there. The
/// database it replaces is kept beside it as `PATH.replaced-TIME` (with its
/// `-wal`), and the stale `-shm` index is removed, so the server never
/// reads the old database's log into the new one.
pub fn restore(url: &DatabaseUrl, source: &Path, force: bool) -> Result<Restored, BackupError> {
    let target = database_path(url)?;
    let (dir, name) = split_path(&target)?;
    let target = dir.join(&name);
    let mut warnings = Vec::new();

    let lock = open_lock_file(&lock_path(&target)).map_err(io_error(lock_path(&target).display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Err(BackupError::ServerRunning(target)),
        Err(fs::TryLockError::Error(e)) => return Err(BackupError::Io(lock_path(&target).display().to_string(), e)),
    }
    let existing = target.symlink_metadata().ok();
    if existing.is_some() && !force {
        return Err(BackupError::TargetExists(target));
    }

    // Check the copy that will be renamed into place, not the source, so
    // nothing can change between the check and the swap.
    let (copy, mut file) = TempFile::create(&dir, &name, "restoring")?;
    let mut input = File::open(source).map_err(io_error(source.display()))?;
    io::copy(&mut input, &mut file).map_err(io_error(format!("copying {}", source.display())))?;
    let contents = {
        let mut conn = open(&copy.path, "rw")?;
        // A copy of a live WAL database file (not one of our backups) is
        // still in WAL mode; leave a self-contained file.
        conn.batch_execute("PRAGMA journal_mode = DELETE;").map_err(|e| {
            BackupError::NotShelf(source.to_owned(), e.to_string().replace(&copy.path.display().to_string(), "copy"))
        })?;
        inspect(&mut conn, &copy.path).map_err(|e| match e {
            BackupError::NotShelf(_, why) => BackupError::NotShelf(source.to_owned(), why),
            BackupError::Corrupt(_, why) => BackupError::Corrupt(source.to_owned(), why),
            other => other,
        })?
    };
    let known = db::known_sqlite_migrations().map_err(|e| BackupError::Sqlite("migrations".into(), e.to_string()))?;
    if let Some(unknown) = contents.migrations.iter().find(|v| !known.contains(v)) {
        return Err(BackupError::Newer(source.to_owned(), unknown.clone()));
    }
    let pending_migrations = known.iter().filter(|v| !contents.migrations.contains(v)).count();
    let like = match &existing {
        Some(_) => fs::metadata(&target).map_err(io_error(target.display()))?,
        None => fs::metadata(&dir).map_err(io_error(dir.display()))?,
    };
    match_owner(&file, &like, &mut warnings)?;
    // The mode of the database it replaces; a new one is its owner's only.
    let mode = if existing.is_some() { like.mode() & 0o777 } else { 0o600 };
    file.set_permissions(fs::Permissions::from_mode(mode)).map_err(io_error("restored copy"))?;
    file.sync_all().map_err(io_error(copy.path.display()))?;
    drop(file);
    // A lock file that this run created belongs with the database.
    if let Err(e) = std::os::unix::fs::fchown(&lock, Some(like.uid()), Some(like.gid())) {
        log::debug!("lock file left with its owner: {e}");
    }

    let wal = with_suffix(&target, "-wal");
    let shm = with_suffix(&target, "-shm");
    let replaced = match existing {
        Some(_) => {
            quiesce(&target)?;
            let stamp = time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
                .unwrap_or_else(|_| db::now().to_string());
            let aside = with_suffix(&target, &format!(".replaced-{stamp}"));
            fs::hard_link(&target, &aside).map_err(io_error(aside.display()))?;
            move_if_present(&wal, &with_suffix(&aside, "-wal"))?;
            Some(aside)
        }
        None => {
            let stale = with_suffix(&target, &format!(".stale-wal-{}", db::now()));
            if move_if_present(&wal, &stale)? {
                warnings.push(format!("moved a -wal file without its database to {}", stale.display()));
            }
            None
        }
    };
    remove_if_present(&shm)?;
    fs::rename(&copy.path, &target).map_err(io_error(target.display()))?;
    let mut copy = copy;
    copy.keep = true;
    sync_dir(&dir)?;
    drop(lock);
    Ok(Restored { target, contents, replaced, pending_migrations, warnings })
}

/// Folds the database's write-ahead log into its file and makes sure no
/// other process has it open: leaving WAL mode needs every other
/// connection closed (idle ones included), so it fails, without waiting,
/// while an older server or a sqlite3 shell holds it. A file SQLite cannot
/// read at all is replaced as it is.
fn quiesce(target: &Path) -> Result<(), BackupError> {
    let mut conn = match open(target, "rw") {
        Ok(conn) => conn,
        Err(_) => return Ok(()),
    };
    match conn.batch_execute("PRAGMA journal_mode = DELETE;") {
        Err(e) if e.to_string().contains("locked") || e.to_string().contains("busy") => {
            Err(BackupError::InUse(target.to_owned()))
        }
        _ => Ok(()),
    }
}
