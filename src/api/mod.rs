//! The only code that knows paths and versions. Each version is a route
//! table a reader can scan in one screen (`v1::table`, and the unversioned
//! routes below); every row names a handler (its method and path come from
//! the handler's own attribute) and the limit class its requests are held
//! to. The server, the OpenAPI documents and the rate limiter's classes all
//! come from these tables, so none can list a route the others lack.
//!
//! Adding a limited route: write the operation in its feature, the handler
//! beside its neighbours here, one row in the table, and its test.

use actix_web::dev::{HttpServiceFactory, ServiceFactory, ServiceRequest};
use actix_web::http::Method;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{OpenApiFactory, UtoipaApp, scope};

use crate::limits::RouteClass;

pub mod auth;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod v1;
pub mod v2;

/// One row: a handler and the limit class of its requests.
pub struct Route {
    mount: Box<dyn FnOnce(&mut ServiceConfig<'_>)>,
    /// (method, path relative to the table's prefix) of the handler.
    operations: Vec<(Method, String)>,
    limit: RouteClass,
}

impl Route {
    pub fn new<H>(handler: H, limit: RouteClass) -> Self
    where
        H: HttpServiceFactory + OpenApiFactory + 'static,
    {
        let operations = handler
            .paths()
            .paths
            .into_iter()
            .flat_map(|(path, item)| {
                let methods = [
                    (Method::GET, item.get.is_some()),
                    (Method::PUT, item.put.is_some()),
                    (Method::POST, item.post.is_some()),
                    (Method::DELETE, item.delete.is_some()),
                    (Method::PATCH, item.patch.is_some()),
                ];
                methods.into_iter().filter(|(_, has)| *has).map(move |(method, _)| (method, path.clone()))
            })
            .collect();
        Self {
            mount: Box::new(move |cfg| {
                cfg.service(handler);
            }),
            operations,
            limit,
        }
    }
}

/// `routes![handler => Class, …]`: the rows of a table.
#[macro_export]
macro_rules! routes {
    ($($handler:path => $limit:ident),* $(,)?) => {
        vec![$($crate::api::Route::new($handler, $crate::limits::RouteClass::$limit)),*]
    };
}

/// The routes under one path prefix (empty: at the root).
pub struct Table {
    pub prefix: &'static str,
    pub routes: Vec<Route>,
}

/// Routes outside the versioned prefixes: tokens, sessions, operations.
pub fn unversioned() -> Table {
    Table {
        prefix: "",
        routes: routes![
            auth::issue_token => Login,
            auth::refresh => Default,
            auth::revoke_token => Default,
            auth::create_session => Login,
            auth::current_session => Default,
            auth::delete_session => Default,
            ops::health => Exempt,
            ops::ready => Exempt,
        ],
    }
}

/// Every table the server mounts.
pub fn tables() -> Vec<Table> {
    vec![v1::table(), v2::table(), unversioned()]
}

/// Mounts every route of the given tables.
pub fn mount<T>(app: UtoipaApp<T>, tables: Vec<Table>) -> UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    tables.into_iter().fold(app, |app, table| {
        let configure = move |cfg: &mut ServiceConfig<'_>| {
            for route in table.routes {
                (route.mount)(cfg);
            }
        };
        if table.prefix.is_empty() {
            app.configure(configure)
        } else {
            app.service(scope(table.prefix).configure(configure))
        }
    })
}

/// Every route's (method, full route pattern, limit class): what the rate
/// limiter classes requests by, and the OpenAPI document's exempt set.
pub fn limit_rows() -> Vec<(Method, String, RouteClass)> {
    let mut rows = Vec::new();
    for table in tables() {
        for route in table.routes {
            for (method, path) in route.operations {
                rows.push((method, format!("{}{path}", table.prefix), route.limit));
            }
        }
    }
    rows
}
