//! The route tables: a reader can see every route of a version here.

use actix_web::dev::{ServiceFactory, ServiceRequest};
use actix_web::http::Method;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{UtoipaApp, scope};

use crate::limits::RouteClass;
use crate::{accounts, api_keys, audit, books, library, ops, sessions};

/// Mounts every documented route. The server and the OpenAPI document both
/// come from this, so neither can list a route the other lacks.
pub fn mount<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    app.service(scope("/api/v1").configure(v1)).configure(unversioned)
}

/// Routes with limits of their own, by method and route pattern; every
/// other route has the anonymous or authenticated limits.
pub const LIMITED_ROUTES: &[(Method, &str, RouteClass)] = &[
    (Method::POST, "/api/token", RouteClass::Login),
    (Method::POST, "/api/session", RouteClass::Login),
    (Method::GET, "/api/v1/search", RouteClass::Search),
    (Method::POST, "/api/v1/change_status", RouteClass::StatusChange),
    (Method::GET, "/health", RouteClass::Exempt),
    (Method::GET, "/ready", RouteClass::Exempt),
];

/// `/api/v1`: the seed's routes, kept stable.
pub fn v1(cfg: &mut ServiceConfig) {
    cfg.service(books::handlers::list_books)
        .service(books::handlers::get_book)
        .service(books::handlers::create_book)
        .service(books::handlers::replace_book)
        .service(books::handlers::delete_book)
        .service(books::handlers::search)
        .service(library::handlers::add_tag)
        .service(library::handlers::remove_tag)
        .service(library::handlers::change_status)
        .service(library::handlers::list_tags)
        .service(library::handlers::library)
        .service(accounts::handlers::me)
        .service(accounts::handlers::change_password)
        .service(accounts::handlers::create_user)
        .service(accounts::handlers::list_users)
        .service(accounts::handlers::change_role)
        .service(accounts::handlers::delete_user)
        .service(api_keys::handlers::create_api_key)
        .service(api_keys::handlers::list_api_keys)
        .service(api_keys::handlers::revoke_api_key)
        .service(audit::handlers::list_events)
        .service(ops::openapi_v1);
}

/// Routes outside the versioned prefix: tokens, sessions and operations.
pub fn unversioned(cfg: &mut ServiceConfig) {
    cfg.service(sessions::handlers::issue_token)
        .service(sessions::handlers::refresh)
        .service(sessions::handlers::revoke_token)
        .service(sessions::handlers::create_session)
        .service(sessions::handlers::current_session)
        .service(sessions::handlers::delete_session)
        .service(ops::health)
        .service(ops::ready);
}
