//! API keys for integrators: `shelf_<public id>_<secret>`.
//!
//! The public id finds the row; only a SHA-256 of the secret is stored and
//! it is compared in constant time. A key is shown once, belongs to one
//! user, carries scopes, may expire, and is read from the database on
//! every use so a revocation holds from the next request on every instance.
//! `last_used_at` is written at most once a minute per key, not per request.

pub mod ops;

use std::collections::BTreeSet;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::audit::{Event, EventContext};
use crate::auth::{Role, Scope, Scopes};
use crate::db::{self, DbConnection, schema::api_keys};
use crate::error::{ApiError, ErrorCode};
use crate::on_backend;
use crate::secrets;
use crate::state::AppState;
use crate::time::rfc3339;

pub const PREFIX: &str = "shelf_";
const PUBLIC_ID_CHARS: usize = 16;
/// How stale `last_used_at` may be.
const LAST_USED_RESOLUTION_SECONDS: i64 = 60;
pub const MAX_EXPIRY_DAYS: u32 = 3650;

/// A key as generated: the full text is shown once, then only its hash exists.
pub struct GeneratedKey {
    pub public_id: String,
    pub full: String,
    pub secret_hash: String,
}

pub fn generate() -> GeneratedKey {
    let public_id = secrets::random_alphanumeric(PUBLIC_ID_CHARS);
    let secret = secrets::new_credential();
    GeneratedKey { full: format!("{PREFIX}{public_id}_{secret}"), secret_hash: secrets::sha256_hex(&secret), public_id }
}

/// Splits `shelf_<public id>_<secret>`; `None` for anything else.
pub fn parse(raw: &str) -> Option<(&str, &str)> {
    let (public_id, secret) = raw.strip_prefix(PREFIX)?.split_once('_')?;
    let well_formed = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (public_id.len() == PUBLIC_ID_CHARS && well_formed(public_id) && well_formed(secret) && secret.len() <= 128)
        .then_some((public_id, secret))
}

fn validate_scopes(scopes: &[Scope]) -> Result<(), ValidationError> {
    if scopes.is_empty() {
        return Err(ValidationError::new("scopes").with_message("at least one scope is required".into()));
    }
    Ok(())
}

/// What a new key is: the part of a request the command line gives too.
#[derive(Debug, Clone, Validate)]
pub struct KeySpec {
    #[validate(
        length(min = 1, max = 100, message = "length must be 1 to 100"),
        custom(function = "crate::policy::single_line_text")
    )]
    pub name: String,
    #[validate(custom(function = "validate_scopes"))]
    pub scopes: Vec<Scope>,
    #[validate(range(min = 1, max = 3650, message = "must be 1 to 3650"))]
    pub expires_in_days: Option<u32>,
}

/// Body of `POST /api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for, 1–100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub name: String,
    /// At least one; `books:write` is only for admins.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
    /// Optional, 1–3650; without it the key does not expire.
    #[schema(minimum = 1, maximum = 3650)]
    #[serde(default, deserialize_with = "crate::whole_number::optional")]
    pub expires_in_days: Option<u32>,
    /// The account's password, so that a stolen access token or session
    /// cookie cannot mint a long-lived credential. A wrong one is a 401 and
    /// counts as a failed sign-in for the account.
    #[schema(min_length = 1, max_length = 1024, format = Password)]
    pub current_password: String,
}

impl NewApiKey {
    pub fn spec(&self) -> KeySpec {
        KeySpec { name: self.name.clone(), scopes: self.scopes.clone(), expires_in_days: self.expires_in_days }
    }
}

impl Validate for NewApiKey {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        let mut errors = self.spec().validate().err().unwrap_or_default();
        if !(1..=1024).contains(&self.current_password.chars().count()) {
            errors.add(
                "current_password",
                ValidationError::new("length").with_message("length must be 1 to 1024".into()),
            );
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

/// A key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: i64,
    /// HTML-safe: markup removed, `&`, `<`, `>` entity-encoded.
    pub name: String,
    /// `shelf_<public id>`: enough to recognise the key, useless to use it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Updated at most once a minute; null if never used.
    #[schema(required = true)]
    pub last_used_at: Option<String>,
    /// Null if the key does not expire.
    #[schema(required = true)]
    pub expires_at: Option<String>,
}

/// A key just created: the only response that ever holds `key`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub view: ApiKeyView,
    /// Shown once; store it now.
    pub key: String,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub public_id: String,
    pub secret_hash: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<ApiKeyRow> for ApiKeyView {
    fn from(row: ApiKeyRow) -> Self {
        Self {
            id: row.id,
            // The owner chose it, and a page may show it: HTML-safe like
            // every text field.
            name: crate::books::sanitize::text(&row.name),
            prefix: format!("{PREFIX}{}", row.public_id),
            scopes: Scopes::parse_stored(&row.scopes).iter().collect(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
            expires_at: row.expires_at.map(rfc3339),
        }
    }
}

/// Refuses `books:write` to anyone but an admin.
pub fn check_grantable(scopes: &[Scope], owner_role: Role) -> Result<(), ApiError> {
    if scopes.contains(&Scope::BooksWrite) && owner_role != Role::Admin {
        return Err(ApiError::Forbidden("Only admins can create keys with the books:write scope"));
    }
    Ok(())
}

fn too_many_keys() -> ApiError {
    ApiError::Conflict {
        code: ErrorCode::TooManyApiKeys,
        message: "This account holds as many active API keys as it may; revoke one first",
    }
}

/// Stores a new key for `user_id`, unless the user already holds
/// `max_active` keys that are neither revoked nor expired; the result holds
/// the key, shown once. The count and the insert are one transaction that
/// holds the user's row (SQLite: the write lock; PostgreSQL: the row lock),
/// so concurrent requests cannot both see room for the last key.
pub fn create(
    conn: &mut DbConnection,
    user_id: i64,
    request: &KeySpec,
    max_active: u32,
) -> Result<CreatedApiKey, ApiError> {
    db::write_transaction(conn, |conn| {
        if let DbConnection::Postgres(pg) = conn {
            diesel::sql_query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                .bind::<diesel::sql_types::BigInt, _>(user_id)
                .execute(pg)?;
        }
        let now = db::now();
        let active: i64 = api_keys::table
            .filter(api_keys::user_id.eq(user_id))
            .filter(api_keys::revoked_at.is_null())
            .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now)))
            .count()
            .get_result(conn)?;
        if active >= i64::from(max_active) {
            return Err(too_many_keys());
        }
        insert(conn, user_id, request, now)
    })
}

fn insert(conn: &mut DbConnection, user_id: i64, request: &KeySpec, now: i64) -> Result<CreatedApiKey, ApiError> {
    let generated = generate();
    let scopes: Scopes = request.scopes.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let values = (
        api_keys::user_id.eq(user_id),
        api_keys::name.eq(&request.name),
        api_keys::public_id.eq(&generated.public_id),
        api_keys::secret_hash.eq(&generated.secret_hash),
        api_keys::scopes.eq(scopes.to_stored()),
        api_keys::created_at.eq(now),
        api_keys::expires_at.eq(request.expires_in_days.map(|days| now + i64::from(days) * 86_400)),
    );
    let row = on_backend!(conn, c => diesel::insert_into(api_keys::table)
        .values(values)
        .returning(ApiKeyRow::as_returning())
        .get_result(c))?;
    Ok(CreatedApiKey { view: row.into(), key: generated.full })
}

/// The user's keys that are not revoked, newest first.
pub fn list(conn: &mut DbConnection, user_id: i64) -> QueryResult<Vec<ApiKeyRow>> {
    api_keys::table
        .filter(api_keys::user_id.eq(user_id))
        .filter(api_keys::revoked_at.is_null())
        .order(api_keys::id.desc())
        .select(ApiKeyRow::as_select())
        .load(conn)
}

/// Revokes one of the user's keys; another user's key is "not found".
pub fn revoke(conn: &mut DbConnection, user_id: i64, key_id: i64) -> Result<(), ApiError> {
    let revoked = diesel::update(
        api_keys::table.find(key_id).filter(api_keys::user_id.eq(user_id)).filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(db::now()))
    .execute(conn)?;
    if revoked == 0 {
        return Err(ApiError::NotFound("No such API key"));
    }
    Ok(())
}

/// A key that authenticated a request.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedKey {
    pub id: i64,
    pub user_id: i64,
    pub scopes: Scopes,
}

/// Why a key was refused; recorded, never sent (every refusal is the same 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    Malformed,
    Unknown,
    WrongSecret,
    Revoked,
    Expired,
}

impl Rejection {
    fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Unknown => "unknown",
            Self::WrongSecret => "wrong_secret",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

fn verify(
    conn: &mut DbConnection,
    public_id: &str,
    secret: &str,
) -> Result<Result<ApiKeyRow, (Rejection, Option<i64>)>, ApiError> {
    let row: Option<ApiKeyRow> = api_keys::table
        .filter(api_keys::public_id.eq(public_id))
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else { return Ok(Err((Rejection::Unknown, None))) };
    let now = db::now();
    let owner = Some(row.user_id);
    if !secrets::constant_time_eq(&secrets::sha256_hex(secret), &row.secret_hash) {
        return Ok(Err((Rejection::WrongSecret, owner)));
    }
    if row.revoked_at.is_some() {
        return Ok(Err((Rejection::Revoked, owner)));
    }
    if row.expires_at.is_some_and(|at| at <= now) {
        return Ok(Err((Rejection::Expired, owner)));
    }
    if row.last_used_at.is_none_or(|at| now - at >= LAST_USED_RESOLUTION_SECONDS) {
        diesel::update(api_keys::table.find(row.id)).set(api_keys::last_used_at.eq(now)).execute(conn)?;
    }
    Ok(Ok(row))
}

/// Checks an `X-API-Key` value; every failure is the same 401 and is
/// recorded with its reason (and the public id, never the secret).
pub async fn authenticate(state: &AppState, raw: &str, context: &EventContext) -> Result<VerifiedKey, ApiError> {
    let outcome = match parse(raw) {
        None => Err((Rejection::Malformed, None, None)),
        Some((public_id, secret)) => {
            let (public, secret) = (public_id.to_owned(), secret.to_owned());
            let lookup = public.clone();
            db::run(&state.pool, move |conn| verify(conn, &lookup, &secret))
                .await?
                .map_err(|(reason, owner)| (reason, owner, Some(public)))
        }
    };
    state.telemetry.api_key(outcome.is_ok());
    match outcome {
        Ok(row) => Ok(VerifiedKey { id: row.id, user_id: row.user_id, scopes: Scopes::parse_stored(&row.scopes) }),
        Err((reason, owner, public_id)) => {
            state.events.record_rejection(
                context,
                Event::ApiKeyRejected,
                owner,
                json!({"reason": reason.as_str(), "public_id": public_id}),
                reason.as_str(),
            );
            Err(ApiError::invalid_api_key())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_and_hash_their_secret() {
        let key = generate();
        let (public_id, secret) = parse(&key.full).unwrap();
        assert_eq!(public_id, key.public_id);
        assert_eq!(secrets::sha256_hex(secret), key.secret_hash);
        assert!(!key.full.contains(&key.secret_hash));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for bad in [
            "",
            "shelf_",
            "shelf_abc_def",
            "other_0123456789abcdef_secret",
            "shelf_0123456789abcdef_",
            "shelf_0123456789abcdef_se cret",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
