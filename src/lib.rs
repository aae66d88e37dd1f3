//! shelf: a security-hardened REST API for book catalogs and reading lists.
//!
//! - `startup`: the application, its middleware order and server
//! - `settings`: typed configuration from the environment
//! - `api`: the route tables; `openapi`: the generated documents
//! - `http`: envelope middleware, request ids, validating extractors
//! - `error`: the one error type and envelope
//! - `auth`: bearer tokens, passwords, roles
//! - `accounts`, `books`, `library`: the features
//! - `db`: connections for SQLite and PostgreSQL, pool, migrations
//! - `cli`: the `shelf` command line

pub mod accounts;
pub mod api;
pub mod auth;
pub mod books;
pub mod cli;
pub mod db;
pub mod error;
pub mod http;
pub mod library;
pub mod logging;
pub mod openapi;
pub mod ops;
pub mod paging;
pub mod secrets;
pub mod security;
pub mod settings;
pub mod startup;
pub mod time;
