//! Access tokens: HS256 JWTs with a pinned algorithm, every claim checked,
//! and a key ring so the signing secret can rotate without signing anyone
//! out.
//!
//! Each secret is named by a `kid` derived from it (a hash prefix, which
//! reveals nothing usable). The current secret signs; previous secrets only
//! verify, until they are removed from `SHELF_JWT_PREVIOUS_SECRETS`. A token
//! without a `kid`, or with one the ring does not hold, is rejected.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::secrets;
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
    /// The session (refresh-token family) the token belongs to; revoking
    /// the session kills its access tokens too.
    pub sid: i64,
}

/// What a token is issued for.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub user_id: i64,
    pub role: &'a str,
    pub token_version: i64,
    pub session_id: i64,
}

pub struct JwtKeys {
    current_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
    pub ttl: Duration,
    /// Tokens whose signature and claims have been checked, by their exact
    /// text, until they expire: a client sends the same token on every
    /// request for its 15 minutes, and checking the HMAC and parsing the
    /// claims each time was the largest cost of a request. Only tokens that
    /// passed [`JwtKeys::verify`] are here, so a forged token is checked in
    /// full every time. Session and version checks happen per request
    /// elsewhere; expiry is checked here on every use.
    verified: RwLock<HashMap<String, Claims>>,
}

/// Verified tokens kept at most (a few hundred bytes each).
const VERIFIED_MAX: usize = 10_000;

/// The public name of a secret: 16 hex characters of its SHA-256.
pub fn key_id(secret: &Secret) -> String {
    secrets::sha256_hex(&format!("shelf-jwt-kid:{}", secret.expose()))[..16].to_owned()
}

impl JwtKeys {
    pub fn new(current: &Secret, previous: &[Secret], ttl: Duration) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        let mut decoding = HashMap::new();
        for secret in previous.iter().chain(std::iter::once(current)) {
            decoding.insert(key_id(secret), DecodingKey::from_secret(secret.expose().as_bytes())?);
        }
        Ok(Self {
            current_kid: key_id(current),
            encoding: EncodingKey::from_secret(current.expose().as_bytes())?,
            decoding,
            validation,
            ttl,
            verified: RwLock::new(HashMap::new()),
        })
    }

    pub fn issue(&self, subject: Subject<'_>) -> Result<String, ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: subject.user_id.to_string(),
            role: subject.role.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl.as_secs(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            ver: subject.token_version,
            sid: subject.session_id,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current_kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("token signing failed: {e}")))
    }

    /// Verifies key, signature, algorithm, issuer, audience and times.
    /// Every failure is the same 401 so the reason does not help an attacker.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        let live = |claims: &Claims| claims.exp.saturating_add(LEEWAY_SECONDS) > now;
        if let Ok(verified) = self.verified.read()
            && let Some(claims) = verified.get(token)
        {
            return if live(claims) { Ok(claims.clone()) } else { Err(ApiError::invalid_token()) };
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::invalid_token())?;
        let key = header.kid.as_deref().and_then(|kid| self.decoding.get(kid)).ok_or_else(ApiError::invalid_token)?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::invalid_token())?;
        if let Ok(mut verified) = self.verified.write() {
            if verified.len() >= VERIFIED_MAX {
                verified.retain(|_, claims| live(claims));
            }
            if verified.len() < VERIFIED_MAX {
                verified.insert(token.to_owned(), claims.clone());
            }
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret::new(format!("{s}-padding-to-reach-thirty-two-bytes"))
    }

    fn subject() -> Subject<'static> {
        Subject { user_id: 7, role: "user", token_version: 0, session_id: 1 }
    }

    #[test]
    fn previous_keys_verify_but_do_not_sign_and_retired_keys_fail() {
        let ttl = Duration::from_secs(60);
        let old = JwtKeys::new(&secret("old"), &[], ttl).unwrap();
        let old_token = old.issue(subject()).unwrap();

        let rotated = JwtKeys::new(&secret("new"), &[secret("old")], ttl).unwrap();
        assert_eq!(rotated.verify(&old_token).unwrap().sub, "7");
        let new_token = rotated.issue(subject()).unwrap();
        assert_eq!(jsonwebtoken::decode_header(&new_token).unwrap().kid, Some(key_id(&secret("new"))));

        let retired = JwtKeys::new(&secret("new"), &[], ttl).unwrap();
        assert!(retired.verify(&old_token).is_err());
        assert!(retired.verify(&new_token).is_ok());
    }

    #[test]
    fn a_remembered_token_still_expires_and_a_tampered_one_is_checked_in_full() {
        let keys = JwtKeys::new(&secret("k"), &[], Duration::from_secs(60)).unwrap();
        let token = keys.issue(subject()).unwrap();
        assert!(keys.verify(&token).is_ok());
        assert!(keys.verify(&token).is_ok(), "from the cache");
        // Another signature for the same claims is another string: checked.
        let tampered = format!("{}x", &token[..token.len() - 1]);
        assert!(keys.verify(&tampered).is_err());
        // Expired while remembered.
        if let Ok(mut verified) = keys.verified.write() {
            verified.get_mut(&token).unwrap().exp = 1;
        }
        assert!(keys.verify(&token).is_err());
    }

    #[test]
    fn the_key_id_does_not_contain_the_secret() {
        let s = secret("visible");
        assert!(!s.expose().contains(&key_id(&s)));
        assert_eq!(key_id(&s).len(), 16);
    }
}
