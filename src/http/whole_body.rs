//! Compressed responses leave in one piece, with a `Content-Length`.
//!
//! actix's `Compress` turns every body into a stream: the head is written
//! first and the compressed bytes follow as chunks once they are ready
//! (bodies over 1 KiB are compressed on the blocking pool, so the head goes
//! out on its own). Several small writes on one connection are what
//! Nagle's algorithm holds back until the client's delayed ACK, ~40 ms
//! later. Every body shelf sends is already whole in memory, so this waits
//! for the compressed copy, no larger than the original, and sends head
//! and body together; `TCP_NODELAY` on every accepted socket
//! (`startup::on_connect`) covers whatever still leaves in pieces.

use actix_web::body::{self, BodySize, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_ENCODING;
use actix_web::middleware::Next;

/// Wraps `Compress` (outside it): collects a compressed stream into bytes.
pub async fn whole_body<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B, actix_web::web::Bytes>>, actix_web::Error> {
    let response = next.call(req).await?;
    let compressed = response.headers().contains_key(CONTENT_ENCODING);
    if !compressed || response.response().body().size() != BodySize::Stream {
        return Ok(response.map_into_left_body());
    }
    let (req, res) = response.into_parts();
    let (res, body) = res.into_parts();
    let bytes = body::to_bytes(body).await.map_err(|e| {
        let cause = e.into();
        log::error!("compressing a response failed: {cause}");
        actix_web::error::ErrorInternalServerError("compression failed")
    })?;
    Ok(ServiceResponse::new(req, res.set_body(bytes)).map_into_right_body())
}
