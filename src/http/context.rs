//! Where a request came from, for the audit trail: its client address
//! (through `client_ip`) and its request id, worked out once per request
//! (the rate limiter, the credential check and a handler may all need it)
//! and kept in the request's extensions.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::HttpConfig;
use super::envelope::RequestId;
use crate::audit::EventContext;

pub fn of(req: &HttpRequest) -> EventContext {
    if let Some(context) = req.extensions().get::<EventContext>() {
        return context.clone();
    }
    let client_ip = req.app_data::<web::Data<HttpConfig>>().and_then(|http| http.proxies.client_ip(req));
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone());
    let context = EventContext { client_ip, request_id };
    req.extensions_mut().insert(context.clone());
    context
}

impl FromRequest for EventContext {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(of(req)))
    }
}
