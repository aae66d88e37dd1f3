#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::unused_async,
    reason = "a test should fail loudly on anything unexpected"
)]

//! Integration tests: the real app over HTTP, in-process and over real
//! sockets, on SQLite or PostgreSQL (see `helpers`).

mod helpers;

mod accounts;
mod api_keys;
mod books;
mod client_ip;
mod concurrency;
mod cors;
mod database;
mod documents;
mod errors;
mod events;
mod import;
mod library;
mod limits;
mod limits_redis;
mod lockout;
mod login;
mod logs;
mod metrics;
mod network;
mod ops;
mod races;
mod search;
mod sessions;
mod sign_in_load;
mod socket;
mod tokens;
mod v2;
