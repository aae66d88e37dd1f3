//! The admins' query over the stored events: its filters, parsed once,
//! and its answer.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::Event;
use super::SecurityEvents;
use super::store::{self, EventFilter, EventRow};
use crate::db::{self, DbPool};
use crate::error::{ApiError, FieldProblem};
use crate::time::rfc3339;

pub const DEFAULT_LIMIT: u32 = 50;

/// A bad `type` or `since`, reported under the parameter's name. Both are
/// parsed here, once, rather than by `validator` and then again: the
/// derive would report `type` under the field's Rust name.
fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Validation(vec![FieldProblem { field: field.into(), message: message.into() }])
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// One event type, e.g. `login_failed`.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<Event>)]
    pub event_type: Option<String>,
    #[validate(range(min = 1, message = "must be a positive id"))]
    #[param(minimum = 1)]
    pub user_id: Option<i64>,
    /// Only events at or after this RFC 3339 time.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only events with a smaller id: pass the previous page's `next_before`.
    #[validate(range(min = 1, message = "must be a positive id"))]
    #[param(minimum = 1)]
    pub before: Option<i64>,
    /// 1–500; default 50.
    #[validate(range(min = 1, max = 500, message = "must be 1 to 500"))]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// One recorded event.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEvent {
    pub id: i64,
    /// RFC 3339, UTC.
    pub occurred_at: String,
    #[serde(rename = "type")]
    #[schema(value_type = Event)]
    pub event_type: String,
    #[schema(required = true)]
    pub user_id: Option<i64>,
    #[schema(required = true)]
    pub client_ip: Option<String>,
    #[schema(required = true)]
    pub request_id: Option<String>,
    /// Event-specific facts; never a password, token or key.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<EventRow> for SecurityEvent {
    fn from(row: EventRow) -> Self {
        Self {
            id: row.id,
            occurred_at: rfc3339(row.occurred_at),
            event_type: row.event_type,
            user_id: row.user_id,
            client_ip: row.client_ip,
            request_id: row.request_id,
            details: serde_json::from_str(&row.details).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEventPage {
    /// Newest first.
    pub events: Vec<SecurityEvent>,
    /// Pass as `before` for the next (older) page; null on the last page.
    #[schema(required = true)]
    pub next_before: Option<i64>,
}

/// Events, newest first, as the admin's query asks. This instance's own
/// events are stored first, so they are readable at once.
pub async fn list(pool: &DbPool, events: &SecurityEvents, query: EventQuery) -> Result<SecurityEventPage, ApiError> {
    let event = match query.event_type.as_deref() {
        None => None,
        Some(raw) => Some(Event::parse(raw).ok_or_else(|| invalid("type", "unknown event type"))?),
    };
    let since = match query.since.as_deref() {
        None => None,
        Some(raw) => Some(
            OffsetDateTime::parse(raw, &Rfc3339)
                .map_err(|_| invalid("since", "must be an RFC 3339 time, e.g. 2026-11-29T00:00:00Z"))?
                .unix_timestamp(),
        ),
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    let filter = EventFilter { event, user_id: query.user_id, since, before: query.before, limit: i64::from(limit) };
    events.flush().await;
    let rows = db::run(pool, move |conn| store::query(conn, filter)).await?;
    let next_before = (rows.len() == limit as usize).then(|| rows.last().map(|r| r.id)).flatten();
    Ok(SecurityEventPage { events: rows.into_iter().map(SecurityEvent::from).collect(), next_before })
}
