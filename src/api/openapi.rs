//! The OpenAPI documents, generated from the handlers' annotations. The
//! committed copy under `api/` is compared with this in the tests.

use actix_web::App;
use actix_web::http::Method;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::api;
use crate::limits::RouteClass;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "shelf",
        description = "A security-hardened REST API for book catalogs and personal reading lists.\n\n\
            Every error has the body `ErrorEnvelope`; its `code` is stable. Text fields of books \
            are HTML-safe (tags removed, `&`, `<`, `>` entity-encoded).\n\n\
            Authenticate with exactly one of: `Authorization: Bearer <access token>`, \
            `X-API-Key: shelf_…`, or the session cookie from `POST /api/session` (whose writes \
            also need `X-CSRF-Token`); two at once are a 400 `multiple_credentials`.\n\n\
            Rate limits: every route except `/health` and `/ready` may answer 429 \
            `too_many_requests` with `Retry-After`. Limited responses carry `X-RateLimit-Limit`, \
            `X-RateLimit-Remaining`, `X-RateLimit-Reset` (seconds) for the tightest quota and \
            `RateLimit-Policy` / `RateLimit` for every quota that applies (GCRA: 50 per hour \
            is a burst of 50 refilled at one request per 72 s).\n\n\
            A method a path does not list is a 405 `method_not_allowed` whose `Allow` header names \
            the methods the path does list (and `HEAD` wherever `GET` is).",
        license(name = "GPL-3.0-or-later", identifier = "GPL-3.0-or-later")
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Tokens and cookie sessions"),
        (name = "books", description = "The catalog"),
        (name = "library", description = "The caller's tags and reading statuses"),
        (name = "account", description = "The caller's account"),
        (name = "users", description = "User administration"),
        (name = "api-keys", description = "The caller's API keys"),
        (name = "admin", description = "Security events"),
        (name = "operations", description = "Health and documents"),
    )
)]
struct V1Info;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "shelf v2",
        description = "shelf's resource-shaped API: the catalog with opaque, tamper-evident cursors             (`next_cursor`), each book with the caller's own status and tags (`my`) when signed in,             and idempotent tag and status resources. Everything else (errors, credentials, CSRF,             caching, compression, rate limits) is as in v1.\n\n            Every error has the body `ErrorEnvelope`; its `code` is stable. Text fields of books             are HTML-safe (tags removed, `&`, `<`, `>` entity-encoded).\n\n            Authenticate with exactly one of: `Authorization: Bearer <access token>`,             `X-API-Key: shelf_…`, or the session cookie from `POST /api/session` (whose writes             also need `X-CSRF-Token`); two at once are a 400 `multiple_credentials`.\n\n            Rate limits: every route except `/health` and `/ready` may answer 429             `too_many_requests` with `Retry-After`. `GET /api/v2/books` is limited like v1's             `/search` (anonymous: its own hourly quota); status changes share v1's 30 per minute.",
        license(name = "GPL-3.0-or-later", identifier = "GPL-3.0-or-later")
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Tokens and cookie sessions"),
        (name = "books", description = "The catalog, with the caller's own status and tags"),
        (name = "library", description = "The caller's tags and reading statuses, as resources"),
        (name = "operations", description = "Health and documents"),
    )
)]
struct V2Info;

/// The three credentials. The session cookie is named
/// `__Host-shelf_session` when `SHELF_COOKIE_SECURE` is on (the default).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "`shelf_<public id>_<secret>`; scopes books:read, books:write, library:read, library:write",
            ))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-shelf_session",
                "Set by POST /api/session; writes also need the X-CSRF-Token header",
            ))),
        );
    }
}

/// The v1 document, collected from the same route tables the server
/// mounts: v1's and the unversioned routes.
pub fn v1() -> utoipa::openapi::OpenApi {
    document(V1Info::openapi(), vec![api::v1::table(), api::unversioned()])
}

/// The v2 document: v2's table and the unversioned routes.
pub fn v2() -> utoipa::openapi::OpenApi {
    document(V2Info::openapi(), vec![api::v2::table(), api::unversioned()])
}

fn document(info: utoipa::openapi::OpenApi, tables: Vec<api::Table>) -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api::mount(App::new().into_utoipa_app().openapi(info), tables).split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    add_common_responses(&mut doc);
    doc
}

/// Answers that layers outside the handlers give on many routes, added
/// where a handler's annotation does not already name the status: every
/// limited route can answer 429; every route that reads a credential can
/// answer 401, and 400 for two credentials at once; every route with a body
/// can answer 400, 413 and 415.
fn add_common_responses(doc: &mut utoipa::openapi::OpenApi) {
    let envelope = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build(),
                )
                .build(),
        )
    };
    let exempt_rows: Vec<_> =
        super::limit_rows().into_iter().filter(|(_, _, class)| *class == RouteClass::Exempt).collect();
    for (path, item) in doc.paths.paths.iter_mut() {
        let exempt = |method: Method| exempt_rows.iter().any(|(m, p, _)| *m == method && p == path);
        let operations = [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let limited = !exempt(method);
            let reads_credentials = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_body = operation.request_body.is_some();
            let has_query = operation.parameters.as_ref().is_some_and(|parameters| {
                parameters.iter().any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query))
            });
            let mut add = |status: &str, description: &str| {
                operation.responses.responses.entry(status.to_owned()).or_insert_with(|| envelope(description));
            };
            if reads_credentials {
                add("400", "Two credentials in one request (`multiple_credentials`)");
                add("401", "Missing or invalid credentials");
            }
            if has_body {
                add("400", "Malformed or invalid body");
                add("408", "The body did not arrive in time (`request_timeout`); the connection closes");
                add("413", "Body over 1 MiB (`payload_too_large`)");
                add("415", "Not JSON (`unsupported_media_type`)");
                add(
                    "503",
                    "Too many request bodies at once (`server_busy`), or, where a password is checked, too many \
                     password checks at once (`sign_in_busy`); not read, retry after `Retry-After`",
                );
            }
            if has_query {
                add("414", "A request line longer than the server reads (`uri_too_long`)");
            }
            if limited {
                add("429", "Rate limited (`too_many_requests`); see `Retry-After` and the `RateLimit` headers");
            }
        }
    }
}

/// Every (route pattern, method) the document lists: the paths are the
/// router's patterns (`/api/v1/books/{id}`).
pub fn routes(doc: &utoipa::openapi::OpenApi) -> Vec<(String, Method)> {
    let mut routes = Vec::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            (Method::GET, &item.get),
            (Method::PUT, &item.put),
            (Method::POST, &item.post),
            (Method::DELETE, &item.delete),
            (Method::PATCH, &item.patch),
        ];
        routes.extend(methods.into_iter().filter(|(_, op)| op.is_some()).map(|(method, _)| (path.clone(), method)));
    }
    routes
}

/// The API versions with a document, as `shelf openapi VERSION` names them.
pub const VERSIONS: [&str; 2] = ["v1", "v2"];

/// A version's document as the pretty JSON that is served and committed
/// (`api/openapi-VERSION.json`); none for an unknown version.
pub fn json(version: &str) -> Option<String> {
    let doc = match version {
        "v1" => v1(),
        "v2" => v2(),
        _ => return None,
    };
    let mut json = doc.to_pretty_json().unwrap_or_default();
    json.push('\n');
    Some(json)
}
