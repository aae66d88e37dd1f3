//! shelf: a security-hardened REST API for book catalogs and reading lists.
//!
//! - `startup`: the application, its middleware order and server
//! - `settings`: typed configuration from the environment
//! - `api`: the route tables; `openapi`: the generated documents
//! - `http`: envelope middleware, request ids, validating extractors
//! - `error`: the one error type and envelope
//! - `auth`: credentials to principals, access rules, CSRF, login throttle
//! - `sessions`: sign-in, refresh-token families, cookie sessions
//! - `api_keys`: integrators' scoped keys
//! - `audit`: security events (log target and table)
//! - `limits`: rate limits, in process or in Redis
//! - `accounts`, `books`, `library`: the features; `catalog`: v2's view of
//!   books with the caller's own status and tags
//! - `cursor`: v2's signed paging cursors
//! - `db`: connections for SQLite and PostgreSQL, pool, migrations
//! - `telemetry`: the metrics `/metrics` serves (`SHELF_METRICS_BIND`)
//! - `backup`: SQLite backups and restores, and the lock a server holds
//! - `cli`: the `shelf` command line

pub mod accounts;
pub mod api;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod books;
pub mod catalog;
pub mod cli;
pub mod cursor;
pub mod db;
pub mod error;
pub mod fingerprint;
pub mod http;
pub mod library;
pub mod limits;
pub mod logging;
pub mod pages;
pub mod paging;
pub mod policy;
pub mod redis_client;
pub mod secrets;
pub mod sessions;
pub mod settings;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod time;
pub mod whole_number;
