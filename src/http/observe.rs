//! What each request did, for the operator: one access-log line (target
//! `access`) and the request metrics (`telemetry`). Both name the route by
//! the pattern the router matched, never by the raw path, and neither ever
//! sees a credential: the caller is told by kind and user id only.

use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};

use super::caller::Resolved;
use super::envelope::RequestId;
use crate::auth::Via;
use crate::state::AppState;
use crate::telemetry::{UNMATCHED_ROUTE, method_label};

/// The log target of the access log, for `RUST_LOG` (`access=warn` silences it).
pub const ACCESS_LOG: &str = "access";

/// What to do per request, decided once when the app is built: a disabled
/// part costs nothing per request, and with both off the middleware is not
/// mounted at all.
#[derive(Debug, Clone, Copy)]
pub struct Observe {
    pub access_log: bool,
    pub metrics: bool,
}

impl Observe {
    pub fn any(self) -> bool {
        self.access_log || self.metrics
    }
}

pub async fn observe<B: MessageBody + 'static>(
    observe: Observe,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let started = Instant::now();
    // Matched before the call, as the rate limiter matches it: an error
    // that escapes as `Err` leaves no request to ask afterwards.
    let route = req.resource_map().match_pattern(req.match_info().as_str());
    let method = method_label(req.method().as_str());
    let state = if observe.metrics { req.app_data::<web::Data<AppState>>().cloned() } else { None };
    let path = observe.access_log.then(|| req.path().to_owned());

    let result = next.call(req).await;
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    if let Some(path) = path {
        let line = AccessLine {
            method,
            path: &path,
            route: route.as_deref().unwrap_or(UNMATCHED_ROUTE),
            status: status.as_u16(),
            millis: elapsed.as_secs_f64() * 1000.0,
        };
        match &result {
            Ok(response) => line.log(Some(response.request()), response.response().body().size()),
            Err(_) => line.log(None, BodySize::None),
        }
    }
    if let Some(state) = state {
        state.telemetry.request(route, method, status.as_u16(), elapsed);
    }
    result
}

struct AccessLine<'a> {
    method: &'static str,
    path: &'a str,
    route: &'a str,
    status: u16,
    millis: f64,
}

impl AccessLine<'_> {
    /// The line, with its fields as structured values too (the JSON log
    /// format writes them as keys). The query string is left out: it is the
    /// one part of a request a confused client might put a secret in.
    fn log(&self, req: Option<&HttpRequest>, body: BodySize) {
        let (principal, user_id) = req.map_or(("unresolved", None), caller_of);
        let client =
            req.and_then(|req| super::context::of(req).client_ip).map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        let request_id =
            req.and_then(|req| req.extensions().get::<RequestId>().map(|id| id.0.clone())).unwrap_or_default();
        let bytes = match body {
            BodySize::Sized(n) => Some(n),
            _ => None,
        };
        let user = user_id.map_or_else(|| "-".to_owned(), |id| id.to_string());
        let Self { method, path, route, status, millis } = *self;
        log::info!(
            target: ACCESS_LOG,
            client_ip = client.as_str(),
            method = method,
            route = route,
            status = status,
            duration_ms = millis,
            bytes = bytes,
            request_id = request_id.as_str(),
            principal = principal,
            user_id = user_id;
            "{client} \"{method} {path}\" {status} {millis:.3}ms route={route} principal={principal} user_id={user} \
             request_id={request_id}"
        );
    }
}

/// Who the request turned out to be, as far as anything resolved its
/// credential: `bearer`, `cookie` or `api_key` with the user's id;
/// `anonymous` (none sent), `rejected` (one that failed), or `unresolved`
/// (nothing looked: sign-in routes, health checks, preflights).
fn caller_of(req: &HttpRequest) -> (&'static str, Option<i64>) {
    match req.extensions().get::<Resolved>().map(|resolved| &resolved.0) {
        None => ("unresolved", None),
        Some(Ok(None)) => ("anonymous", None),
        Some(Err(_)) => ("rejected", None),
        Some(Ok(Some(principal))) => {
            let kind = match principal.via {
                Via::Bearer { .. } => "bearer",
                Via::Cookie { .. } => "cookie",
                Via::ApiKey { .. } => "api_key",
            };
            (kind, Some(principal.user_id))
        }
    }
}
