//! `/api/v2`: resource-shaped routes with cursor paging, over the same
//! operations as v1.

pub mod books;
pub mod library;

use super::Table;
use crate::routes;

pub fn table() -> Table {
    Table {
        prefix: "/api/v2",
        routes: routes![
            books::list_books => Search,
            books::get_book => Default,
            library::put_tag => Default,
            library::delete_tag => Default,
            library::put_status => StatusChange,
            library::delete_status => StatusChange,
            super::ops::openapi_v2 => Default,
        ],
    }
}
