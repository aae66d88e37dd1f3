//! The middleware that applies the rate limits (`limits`) and writes
//! their headers.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use crate::limits::gcra::{Standing, ceil_seconds};
use std::fmt::Write as _;

use super::HttpConfig;
use super::caller::{presented, principal_of};
use crate::audit::EventContext;
use crate::error::ApiError;
use crate::http::etag::Earned304;
use crate::limits::{Cell, RouteClass};
use crate::state::AppState;

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Checks the request's limits before the handler; refuses with 429, or
/// adds the headers to the handler's response.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // The path as the router decodes it, so the pattern is the one the
    // router will match, whatever the percent-encoding.
    let pattern = req.resource_map().match_pattern(req.match_info().as_str());
    let class = state.as_ref().map_or(RouteClass::Default, |s| s.limiter.class_of(req.method(), pattern.as_deref()));
    let Some(state) = state.filter(|s| class != RouteClass::Exempt && s.limiter.enabled()) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    // A credential that fails counts as anonymous, by client IP; the
    // handler still answers it with its 401. Sign-in routes are keyed by
    // client IP whoever calls, and do not use a credential the browser may
    // send along (a session cookie), so it is not even looked at.
    let context = crate::http::context::of(req.request());
    let principal = match class {
        RouteClass::Login => None,
        _ => {
            // A client whose credentials keep failing gets no more lookups
            // (each costs the database a query and the audit trail a row).
            let session_cookie = req.app_data::<web::Data<HttpConfig>>().map(|h| h.cookies.session_name());
            let carries = presented(req.request(), session_cookie.unwrap_or_default()).map_or(true, |p| p.is_some());
            if carries && let Some((cell, wait)) = state.limiter.credentials_blocked(context.client_ip) {
                return Ok(req.into_response(credentials_refused(&state, &context, &cell, wait)));
            }
            match principal_of(req.request(), &state).await {
                Ok(principal) => principal,
                Err(ApiError::Unauthorized { .. }) => {
                    state.limiter.credential_failed(context.client_ip, &state.events).await;
                    None
                }
                Err(_) => None,
            }
        }
    };
    let cells = state.limiter.cells(class, principal.map(|p| p.user_id), context.client_ip);
    if cells.is_empty() {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    }
    let outcome = state.limiter.acquire(&cells, &state.events).await;
    count_decisions(&state, &cells, outcome.refused);

    if let Some(index) = outcome.refused {
        let (cell, standing) = (&cells[index], &outcome.standings[index]);
        state.limiter.report(&state.events, &context, cell, standing, principal.map(|p| p.user_id));
        let retry_after = standing.retry_after.map_or(1, ceil_seconds).max(1);
        let error = ApiError::TooManyRequests {
            message: format!(
                "Rate limit exceeded: {} ({} requests per {} s); retry in {retry_after} s",
                cell.policy,
                cell.quota.count,
                cell.quota.period.as_secs()
            ),
            retry_after_seconds: retry_after,
        };
        let mut response = error.error_response();
        write_headers(response.headers_mut(), &cells, &outcome.standings, Some(index));
        return Ok(req.into_response(response));
    }

    let mut response = next.call(req).await?.map_into_boxed_body();
    if response.status() == StatusCode::NOT_MODIFIED && response.response().extensions().contains::<Earned304>() {
        state.limiter.refund(&cells, &state.events).await;
        // The 304 cost nothing: report the standing from before it.
        let standings: Vec<Standing> = outcome
            .standings
            .iter()
            .map(|s| Standing { remaining: (s.remaining + 1).min(s.quota.count), ..*s })
            .collect();
        write_headers(response.headers_mut(), &cells, &standings, None);
    } else {
        write_headers(response.headers_mut(), &cells, &outcome.standings, None);
    }
    Ok(response)
}

/// For the metrics: a refusal counts against the quota that refused (the
/// others were not charged); an admission counts for every quota it used.
fn count_decisions(state: &AppState, cells: &[Cell], refused: Option<usize>) {
    match refused {
        Some(index) => state.telemetry.rate_limit_decision(&cells[index].policy, true),
        None => cells.iter().for_each(|cell| state.telemetry.rate_limit_decision(&cell.policy, false)),
    }
}

/// The 429 for a client whose failed credentials used up their count.
fn credentials_refused(
    state: &AppState,
    context: &EventContext,
    cell: &Cell,
    wait: std::time::Duration,
) -> actix_web::HttpResponse {
    let standing = Standing { quota: cell.quota, remaining: 0, reset: wait, retry_after: Some(wait) };
    state.telemetry.rate_limit_decision(&cell.policy, true);
    state.limiter.report(&state.events, context, cell, &standing, None);
    let retry_after = ceil_seconds(wait).max(1);
    let error = ApiError::TooManyRequests {
        message: format!(
            "Too many failed credentials from this client: {} ({} per {} s); retry in {retry_after} s",
            cell.policy,
            cell.quota.count,
            cell.quota.period.as_secs()
        ),
        retry_after_seconds: retry_after,
    };
    let mut response = error.error_response();
    write_headers(response.headers_mut(), std::slice::from_ref(cell), &[standing], Some(0));
    response
}

/// `X-RateLimit-*` for the tightest quota (the refusing one on a 429), and
/// the IETF `RateLimit-Policy` / `RateLimit` fields for every quota.
fn write_headers(headers: &mut HeaderMap, cells: &[Cell], standings: &[Standing], refused: Option<usize>) {
    let tightest = refused.or_else(|| {
        standings.iter().enumerate().min_by_key(|(_, s)| (s.remaining, std::cmp::Reverse(s.reset))).map(|(i, _)| i)
    });
    if let Some(i) = tightest {
        let s = &standings[i];
        let reset = s.retry_after.filter(|_| refused.is_some()).unwrap_or(s.reset);
        headers.insert(LIMIT, HeaderValue::from(s.quota.count));
        headers.insert(REMAINING, HeaderValue::from(s.remaining));
        headers.insert(RESET, HeaderValue::from(ceil_seconds(reset)));
    }
    // Built in place: these two headers are on every limited response.
    let mut policy = String::with_capacity(48 * cells.len());
    let mut current = String::with_capacity(40 * cells.len());
    for (i, (c, s)) in cells.iter().zip(standings).enumerate() {
        let separator = if i == 0 { "" } else { ", " };
        let _ = write!(policy, "{separator}\"{}\";q={};w={}", c.policy, c.quota.count, c.quota.period.as_secs());
        let _ = write!(current, "{separator}\"{}\";r={};t={}", c.policy, s.remaining, ceil_seconds(s.reset));
    }
    for (name, value) in [(POLICY, policy), (RATELIMIT, current)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}
