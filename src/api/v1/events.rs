//! `GET /api/v1/admin/security-events`.

use actix_web::{HttpResponse, get, web};

use crate::audit::query::{self, EventQuery, SecurityEventPage};
use crate::error::{ApiError, ErrorEnvelope};
use crate::http::Caching;
use crate::http::caller::{Caller, rules};
use crate::http::extract::ValidQuery;
use crate::state::AppState;

/// Security events, newest first (admins only).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = []), ("session" = [])),
    params(EventQuery),
    responses(
        (status = 200, description = "One page of events", body = SecurityEventPage),
        (status = 400, description = "Invalid filter", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
    )
)]
#[get("/admin/security-events")]
pub async fn list_events(
    state: web::Data<AppState>,
    _admin: Caller<rules::Admin>,
    ValidQuery(query): ValidQuery<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query::list(&state.pool, &state.events, query).await?;
    let mut response = HttpResponse::Ok();
    Caching::Private.apply(&mut response);
    Ok(response.json(page))
}
