//! `/api/v1`: the seed's routes, kept stable.

pub mod accounts;
pub mod api_keys;
pub mod books;
pub mod events;
pub mod library;

use actix_web::HttpResponseBuilder;
use actix_web::http::header::LINK;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::Table;
use crate::routes;

/// What a path segment must escape: all but RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Points a v1 answer at the v2 route that does the same
/// (`Link: </api/v2/…>; rel="successor-version"`).
fn successor(response: &mut HttpResponseBuilder, v2_path: &str) {
    response.insert_header((LINK, format!("<{v2_path}>; rel=\"successor-version\"")));
}

/// A tag as one segment of a v2 path.
fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

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
