//! Operations routes: liveness, readiness, the OpenAPI document and the
//! offline docs page.

use std::sync::{Arc, LazyLock};

use actix_web::http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, HeaderValue};
use actix_web::{HttpResponse, get, web};
use diesel::connection::SimpleConnection;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_swagger_ui::{Config, Url};

use crate::db;
use crate::error::{ApiError, ErrorEnvelope};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok`
    pub status: &'static str,
}

/// 200 while the process serves.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Serving", body = Status)))]
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// 200 when the database answers, else 503.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Status),
        (status = 503, description = "The database does not answer (`service_unavailable`)", body = ErrorEnvelope),
    )
)]
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    db::run(&state.pool, |conn| conn.batch_execute("SELECT 1").map_err(|_| ApiError::Unavailable)).await?;
    Ok(HttpResponse::Ok().json(Status { status: "ok" }))
}

fn document(body: &web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")))
        .body(body.clone())
}

/// This document.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of v1", content_type = "application/json"))
)]
#[get("/openapi.json")]
pub async fn openapi_v1(docs: web::Data<Documents>) -> HttpResponse {
    document(&docs.v1)
}

/// This document.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of v2", content_type = "application/json"))
)]
#[get("/openapi.json")]
pub async fn openapi_v2(docs: web::Data<Documents>) -> HttpResponse {
    document(&docs.v2)
}

/// The OpenAPI documents as served, rendered once at start.
pub struct Documents {
    pub v1: web::Bytes,
    pub v2: web::Bytes,
}

static DOCS_CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    let urls = [Url::new("v1", "/api/v1/openapi.json"), Url::new("v2", "/api/v2/openapi.json")];
    // "none": the page must not call swagger.io's online validator.
    Arc::new(Config::new(urls).validator_url("none"))
});

/// Swagger UI's own assets come from the binary (vendored), so the page
/// works without internet access; its policy allows only this origin.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish()
}

pub async fn docs(tail: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let file = utoipa_swagger_ui::serve(&tail, DOCS_CONFIG.clone())
        .map_err(|e| ApiError::internal(format!("docs asset: {e}")))?
        .ok_or(ApiError::NotFound("No such docs file"))?;
    let mut response = HttpResponse::Ok();
    response
        .content_type(file.content_type)
        .insert_header((CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_POLICY)))
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")));
    if file.gzpipped {
        response.insert_header((CONTENT_ENCODING, HeaderValue::from_static("gzip")));
    }
    Ok(response.body(file.bytes.into_owned()))
}
