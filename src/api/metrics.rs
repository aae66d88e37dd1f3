//! The metrics listener's one route, `GET /metrics`: the Prometheus text
//! format, served only on `SHELF_METRICS_BIND` (never on the API's port,
//! and not in the OpenAPI documents, which describe the API).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::{HttpResponse, web};

use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

pub const PATH: &str = "/metrics";

/// Prometheus's text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn routes(config: &mut web::ServiceConfig) {
    config.route(PATH, web::get().to(scrape));
}

/// Every series, with the database pool as it is at the scrape.
pub async fn scrape(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state.telemetry.render(db::pool_gauges(&state.pool)).ok_or(ApiError::NotFound("No such route"))?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT)))
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(text))
}
