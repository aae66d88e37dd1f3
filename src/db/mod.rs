//! The database: one connection type for SQLite and PostgreSQL, the pool,
//! migrations, and the helpers that run diesel off the async threads.

pub mod schema;

/// Runs `$body` with `$c` bound to the inner connection of whichever
/// backend is connected, for the SQL that diesel's MultiConnection cannot
/// express (`ON CONFLICT`, `RETURNING`) but both backends support.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($c) => $body,
            $crate::db::DbConnection::Postgres($c) => $body,
        }
    };
}

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::migration::MigrationSource;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::ApiError;
use crate::settings::DatabaseUrl;
use crate::telemetry::{PoolGauges, Telemetry};

/// One binary, two backends: the variant is picked from the URL scheme.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

pub type DbPool = r2d2::Pool<ConnectionManager>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Every SQLite connection gets these. WAL lets readers run beside the one
/// writer; `busy_timeout` makes a second writer wait instead of failing;
/// `synchronous = FULL` keeps committed writes through a power loss, not
/// only a process crash. Reads map the file (up to 1 GiB) instead of
/// copying each page into each connection's own cache: a search reads
/// pages of the trigram index all over the file.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; \
     PRAGMA busy_timeout = 5000; \
     PRAGMA foreign_keys = ON; \
     PRAGMA synchronous = FULL; \
     PRAGMA mmap_size = 1073741824;";

/// Opens connections for the pool; unlike diesel's generic manager it knows
/// the backend from the URL, so a `postgres://` typo never becomes a
/// SQLite file of that name.
#[derive(Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS).map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                PgConnection::establish(url.expose()).map(DbConnection::Postgres).map_err(r2d2::Error::ConnectionError)
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        match conn {
            DbConnection::Sqlite(c) => c.is_broken(),
            DbConnection::Postgres(c) => c.is_broken(),
        }
    }
}

/// Builds the pool without connecting: start-up connects right after (to
/// migrate), and `/ready` reports an outage instead of the pool hiding it.
pub fn pool(url: &DatabaseUrl, size: u32, timeout: Duration) -> DbPool {
    observed_pool(url, size, timeout, Telemetry::off())
}

/// The same, reporting how long checkouts wait to `telemetry`.
pub fn observed_pool(url: &DatabaseUrl, size: u32, timeout: Duration, telemetry: Telemetry) -> DbPool {
    let builder = r2d2::Pool::builder().max_size(size).min_idle(Some(0)).connection_timeout(timeout);
    let builder = if telemetry.enabled() { builder.event_handler(Box::new(PoolEvents(telemetry))) } else { builder };
    builder.build_unchecked(ConnectionManager { url: url.clone() })
}

/// The pool's counts, for the metrics.
pub fn pool_gauges(pool: &DbPool) -> PoolGauges {
    let state = pool.state();
    PoolGauges { max: pool.max_size(), open: state.connections, idle: state.idle_connections }
}

/// Hands the pool's checkout waits and timeouts to the metrics.
#[derive(Debug)]
struct PoolEvents(Telemetry);

impl r2d2::HandleEvent for PoolEvents {
    fn handle_checkout(&self, event: r2d2::event::CheckoutEvent) {
        self.0.pool_checkout(event.duration());
    }

    fn handle_timeout(&self, _: r2d2::event::TimeoutEvent) {
        self.0.pool_timeout();
    }
}

/// Checks a connection out and runs sync diesel code on the blocking
/// thread pool; handlers never see r2d2 or block an executor thread.
pub async fn run<T, F>(pool: &DbPool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get().map_err(|e| {
            log::error!("database unavailable: {e}");
            ApiError::Unavailable
        })?;
        work(&mut conn)
    })
    .await
    .map_err(|_| ApiError::internal("database task panicked"))?
}

/// A transaction that takes the write lock up front on SQLite
/// (`BEGIN IMMEDIATE`): a deferred one that reads and then writes can fail
/// with "database is locked" despite `busy_timeout`. PostgreSQL uses a
/// plain transaction.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConnection::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    match work(conn) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn) {
                log::error!("rollback failed: {rollback}");
            }
            Err(e)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the database was migrated by a newer shelf (it has migration {0}, unknown to this binary); \
         run the newer binary or restore a backup"
    )]
    DatabaseIsNewer(String),
    #[error("could not migrate the database: {0}")]
    Failed(String),
}

/// Applies the embedded migrations of the connection's backend, refusing a
/// database that a newer binary has migrated.
pub fn migrate(conn: &mut DbConnection) -> Result<usize, MigrationError> {
    fn apply<C>(conn: &mut C, source: EmbeddedMigrations) -> Result<usize, MigrationError>
    where
        C: MigrationHarness<C::Backend> + Connection,
        EmbeddedMigrations: MigrationSource<C::Backend>,
    {
        let failed = |e: Box<dyn std::error::Error + Send + Sync>| MigrationError::Failed(e.to_string());
        let known: Vec<String> = MigrationSource::<C::Backend>::migrations(&source)
            .map_err(failed)?
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
        // Creates the bookkeeping table on a fresh database, so read the
        // applied list only after asking what is pending.
        let pending = conn.pending_migrations(source).map_err(failed)?;
        let applied = conn.applied_migrations().map_err(failed)?;
        if let Some(unknown) = applied.iter().map(|v| v.to_string()).find(|v| !known.contains(v)) {
            return Err(MigrationError::DatabaseIsNewer(unknown));
        }
        for migration in &pending {
            conn.run_migration(migration.as_ref()).map_err(failed)?;
        }
        Ok(pending.len())
    }
    match conn {
        DbConnection::Sqlite(c) => apply(c, SQLITE_MIGRATIONS),
        DbConnection::Postgres(c) => apply(c, POSTGRES_MIGRATIONS),
    }
}

/// The SQLite migration versions embedded in this binary, oldest first: a
/// database (or a backup of one) that has applied any other was migrated
/// by a newer shelf.
pub fn known_sqlite_migrations() -> Result<Vec<String>, MigrationError> {
    let migrations = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
        .map_err(|e| MigrationError::Failed(e.to_string()))?;
    Ok(migrations.iter().map(|m| m.name().version().to_string()).collect())
}

/// Seconds since the Unix epoch: every stored time uses this.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Reads a value of the `settings` table.
pub fn get_setting(conn: &mut DbConnection, key: &str) -> QueryResult<Option<String>> {
    use schema::settings::dsl;
    dsl::settings.filter(dsl::key.eq(key)).select(dsl::value).first(conn).optional()
}

/// Stores a value of the `settings` table, keeping the first writer's value
/// when two instances race (the insert yields to a row that appeared
/// meanwhile, on PostgreSQL as on SQLite); returns the value that is now
/// stored.
pub fn put_setting_if_absent(conn: &mut DbConnection, key: &str, value: &str) -> QueryResult<String> {
    use schema::settings::dsl;
    let row = (dsl::key.eq(key), dsl::value.eq(value));
    crate::on_backend!(conn, c => diesel::insert_into(dsl::settings).values(row).on_conflict_do_nothing().execute(c))?;
    get_setting(conn, key)?.ok_or(diesel::result::Error::NotFound)
}

/// Stores a value of the `settings` table, replacing any earlier one.
pub fn put_setting(conn: &mut DbConnection, key: &str, value: &str) -> QueryResult<()> {
    use schema::settings::dsl;
    write_transaction(conn, |conn| {
        let updated = diesel::update(dsl::settings.filter(dsl::key.eq(key))).set(dsl::value.eq(value)).execute(conn)?;
        if updated == 0 {
            diesel::insert_into(dsl::settings).values((dsl::key.eq(key), dsl::value.eq(value))).execute(conn)?;
        }
        Ok(())
    })
}

/// The backend type of `DbConnection`, for boxed queries.
pub type DbBackend = <DbConnection as Connection>::Backend;
