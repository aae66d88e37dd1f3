//! `/api/v1`: the seed's routes, kept stable.

pub mod accounts;
pub mod api_keys;
pub mod books;
pub mod events;
pub mod library;
