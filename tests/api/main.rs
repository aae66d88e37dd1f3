//! Integration tests: the real app over HTTP, in-process and over real
//! sockets, on SQLite or PostgreSQL (see `helpers`).

mod helpers;

mod accounts;
mod books;
mod concurrency;
mod database;
mod errors;
mod import;
mod library;
mod ops;
mod search;
mod socket;
mod tokens;
