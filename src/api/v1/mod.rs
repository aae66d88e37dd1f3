//! `/api/v1`: the seed's routes, kept stable.

pub mod accounts;
pub mod api_keys;
pub mod books;
pub mod events;
pub mod library;

use super::Table;
use crate::routes;

pub fn table() -> Table {
    Table {
        prefix: "/api/v1",
        routes: routes![
            books::list_books => Default,
            books::get_book => Default,
            books::create_book => Default,
            books::replace_book => Default,
            books::delete_book => Default,
            books::search => Search,
            library::add_tag => Default,
            library::remove_tag => Default,
            library::change_status => StatusChange,
            library::list_tags => Default,
            library::library => Default,
            accounts::me => Default,
            accounts::change_password => Default,
            accounts::create_user => Default,
            accounts::list_users => Default,
            accounts::change_role => Default,
            accounts::delete_user => Default,
            api_keys::create_api_key => Default,
            api_keys::list_api_keys => Default,
            api_keys::revoke_api_key => Default,
            events::list_events => Default,
            super::ops::openapi_v1 => Default,
        ],
    }
}
