//! Request bodies: refuses those over the limit by their `Content-Length`
//! before any handler runs, and bounds how long any body may take to
//! arrive (actix-web times out slow headers, not slow bodies, so a client
//! trickling a body would hold its connection and a worker's attention).
//!
//! An oversized body is read and discarded so the connection can carry its
//! next request (actix closes a connection whose request body was left
//! unread); a body that misses its deadline ends the connection.
//!
//! Bodies are buffered whole before they are parsed, so the bytes buffered
//! at once are bounded too, across every connection ([`BodyBudget`]): a
//! request waits briefly for room, and past that is refused with 503 and
//! `Retry-After` before its body is read.

use std::io;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::middleware::Next;
use actix_web::rt::time::{Instant, timeout};
use actix_web::{HttpMessage, ResponseError, http::ConnectionType, web};
use futures_util::StreamExt;

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::HttpConfig;
use super::extract::MAX_BODY_BYTES;
use crate::error::ApiError;

/// Past this many bytes, draining is not worth it: answer and close.
const MAX_DRAIN_BYTES: usize = 4 * MAX_BODY_BYTES;

/// How long a request waits for room in the budget before a 503.
const BUDGET_WAIT: Duration = Duration::from_secs(2);

/// Room for request bodies, counted in KiB.
pub struct BodyBudget {
    kib: Arc<Semaphore>,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self { kib: Arc::new(Semaphore::new(bytes.div_ceil(1024))) }
    }

    /// Room for a body of `bytes`, held until the permit is dropped.
    async fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        match timeout(BUDGET_WAIT, self.kib.clone().acquire_many_owned(kib)).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::Busy { retry_after_seconds: 1 }),
        }
    }
}

pub async fn body_limit(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let declared =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let has_body = declared.is_some_and(|length| length > 0) || req.headers().contains_key(TRANSFER_ENCODING);
    let http = req.app_data::<web::Data<HttpConfig>>().cloned();
    let deadline = http.as_ref().map(|h| h.request_body_timeout);
    let Some(length) = declared.filter(|length| *length > MAX_BODY_BYTES) else {
        // A chunked body may be as large as the limit allows.
        let room = match (&http, has_body) {
            (Some(http), true) => match http.body_budget.reserve(declared.unwrap_or(MAX_BODY_BYTES)).await {
                Ok(permit) => Some(permit),
                Err(busy) => {
                    let mut response = busy.error_response();
                    response.head_mut().set_connection_type(ConnectionType::Close);
                    return Ok(req.into_response(response));
                }
            },
            _ => None,
        };
        if let (true, Some(limit)) = (has_body, deadline) {
            let payload = req.take_payload();
            req.set_payload(with_deadline(payload, limit));
        }
        let mut response = next.call(req).await?.map_into_boxed_body();
        drop(room);
        if response.status() == StatusCode::REQUEST_TIMEOUT {
            response.response_mut().head_mut().set_connection_type(ConnectionType::Close);
        }
        return Ok(response);
    };

    let mut response = ApiError::PayloadTooLarge.error_response();
    if length <= MAX_DRAIN_BYTES {
        let mut payload = with_deadline(req.take_payload(), deadline.unwrap_or(Duration::from_secs(30)));
        while let Some(chunk) = payload.next().await {
            if chunk.is_err() {
                response.head_mut().set_connection_type(ConnectionType::Close);
                break;
            }
        }
    } else {
        response.head_mut().set_connection_type(ConnectionType::Close);
    }
    Ok(req.into_response(response))
}

/// The same body, ending in a `TimedOut` error if it is not complete
/// `limit` after now.
fn with_deadline(payload: Payload, limit: Duration) -> Payload {
    let deadline = Instant::now() + limit;
    let stream = futures_util::stream::unfold(Some(payload), move |payload| async move {
        let mut payload = payload?;
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, payload.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(payload))),
            Ok(None) => None,
            Err(_) => {
                let late = io::Error::new(io::ErrorKind::TimedOut, "the request body did not arrive in time");
                Some((Err(PayloadError::Io(late)), None))
            }
        }
    });
    Payload::from(Box::pin(stream) as std::pin::Pin<Box<dyn futures_util::Stream<Item = _>>>)
}
