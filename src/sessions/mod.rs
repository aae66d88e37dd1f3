//! Sessions: signing in for a token pair or a cookie session, refreshing,
//! revoking and signing out. The session store itself is
//! `auth::sessions`; the password check is `accounts::login`.

pub mod ops;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; spend it at `/api/token/refresh` for a new pair. Each one
    /// works once.
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// A refresh token from `/api/token` or an earlier refresh. Any string
    /// that is not a live refresh token (spent, expired, unknown,
    /// malformed, an access token) is a 401 `invalid_refresh_token`; so is
    /// one outside these lengths, refused unread.
    #[schema(min_length = 1, max_length = 256)]
    pub refresh_token: String,
}

/// Longer than any refresh token this server issues: refused unread.
pub const MAX_REFRESH_TOKEN_LEN: usize = 256;

/// The optional body of `/api/token/revoke`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// One of the caller's refresh tokens whose session should end too.
    #[validate(length(min = 1, max = 256, message = "length must be 1 to 256"))]
    #[schema(min_length = 1, max_length = 256)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Send this as `X-CSRF-Token` on every POST, PUT, PATCH and DELETE.
    pub csrf_token: String,
    /// Seconds until the session expires.
    pub expires_in: i64,
}
