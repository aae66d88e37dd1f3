//! Access tokens: HS256 JWTs with a pinned algorithm and every claim checked.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::settings::Secret;

pub const ISSUER: &str = "shelf";
pub const AUDIENCE: &str = "shelf-api";
/// Clock skew tolerated between instances, kept small on purpose.
const LEEWAY_SECONDS: u64 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (RFC 7519).
    pub sub: String,
    pub role: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// The user's token version when issued; a password change bumps it,
    /// which kills every earlier token even within the same second.
    pub ver: i64,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl: Duration,
}

impl JwtKeys {
    pub fn new(secret: &Secret, ttl: Duration) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes())?,
            decoding: DecodingKey::from_secret(secret.expose().as_bytes())?,
            validation,
            ttl,
        })
    }

    pub fn issue(&self, user_id: i64, role: &str, token_version: i64) -> Result<String, ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            role: role.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl.as_secs(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            ver: token_version,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("token signing failed: {e}")))
    }

    /// Verifies signature, algorithm, issuer, audience and times. Every
    /// failure is the same 401 so the reason does not help an attacker.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::invalid_token())
    }
}
