//! Refuses bodies over the limit by their `Content-Length` before any
//! handler runs, reading and discarding what the client sends so the
//! connection can carry its next request (actix closes a connection whose
//! request body was left unread).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, http::ConnectionType};
use futures_util::StreamExt;

use super::extract::MAX_BODY_BYTES;
use crate::error::ApiError;

/// Past this many bytes, draining is not worth it: answer and close.
const MAX_DRAIN_BYTES: usize = 4 * MAX_BODY_BYTES;

pub async fn body_limit(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let declared =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let Some(length) = declared.filter(|length| *length > MAX_BODY_BYTES) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };

    let mut response = ApiError::PayloadTooLarge.error_response();
    if length <= MAX_DRAIN_BYTES {
        let mut payload = req.take_payload();
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
