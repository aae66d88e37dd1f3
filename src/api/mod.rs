//! The route tables: a reader can see every route of a version here.

use actix_web::dev::{ServiceFactory, ServiceRequest};
use actix_web::http::Method;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{UtoipaApp, scope};

use crate::limits::RouteClass;

pub mod auth;
pub mod openapi;
pub mod ops;
pub mod v1;

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
    cfg.service(v1::books::list_books)
        .service(v1::books::get_book)
        .service(v1::books::create_book)
        .service(v1::books::replace_book)
        .service(v1::books::delete_book)
        .service(v1::books::search)
        .service(v1::library::add_tag)
        .service(v1::library::remove_tag)
        .service(v1::library::change_status)
        .service(v1::library::list_tags)
        .service(v1::library::library)
        .service(v1::accounts::me)
        .service(v1::accounts::change_password)
        .service(v1::accounts::create_user)
        .service(v1::accounts::list_users)
        .service(v1::accounts::change_role)
        .service(v1::accounts::delete_user)
        .service(v1::api_keys::create_api_key)
        .service(v1::api_keys::list_api_keys)
        .service(v1::api_keys::revoke_api_key)
        .service(v1::events::list_events)
        .service(ops::openapi_v1);
}

/// Routes outside the versioned prefix: tokens, sessions and operations.
pub fn unversioned(cfg: &mut ServiceConfig) {
    cfg.service(auth::issue_token)
        .service(auth::refresh)
        .service(auth::revoke_token)
        .service(auth::create_session)
        .service(auth::current_session)
        .service(auth::delete_session)
        .service(ops::health)
        .service(ops::ready);
}
