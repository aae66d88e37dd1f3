//! Users: their queries, the first admin, and the response type that can
//! never carry a hash. The rules for names and passwords are `policy`'s.

pub mod login;
pub mod ops;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::auth::Role;
use crate::db::{self, DbConnection, schema::users};
use crate::error::{ApiError, ErrorCode};
use crate::on_backend;
use crate::policy::{check_password_for, check_password_rules, check_username_rules};
use crate::time::rfc3339;

/// The same check, as the validation error of one field.
pub fn password_problem(field: &str, username: &str, password: &str) -> Result<(), ApiError> {
    check_password_for(username, password)
        .map_err(|message| ApiError::Validation(vec![crate::error::FieldProblem { field: field.to_owned(), message }]))
}

fn validate_password(password: &str) -> Result<(), ValidationError> {
    check_password_rules(password).map(|_| ()).map_err(|m| ValidationError::new("password").with_message(m.into()))
}

fn validate_username(username: &str) -> Result<(), ValidationError> {
    check_username_rules(username).map(|_| ()).map_err(|m| ValidationError::new("username").with_message(m.into()))
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub token_version: i64,
    pub created_at: i64,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            role: Role::parse(&row.role).unwrap_or(Role::User),
            username: row.username,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[validate(
        length(min = 1, max = 64, message = "length must be 1 to 64"),
        custom(function = "crate::policy::single_line_text")
    )]
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub username: String,
    #[validate(length(min = 1, max = 1024, message = "length must be 1 to 1024"))]
    #[schema(min_length = 1, max_length = 1024, format = Password)]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 3–32 characters of `[a-z0-9_.-]`.
    #[validate(custom(function = "validate_username"))]
    #[schema(min_length = 3, max_length = 32, pattern = "^[a-z0-9_.-]{3,32}$")]
    pub username: String,
    /// 12–128 characters; not the username, not a common leaked password.
    #[validate(custom(function = "validate_password"))]
    #[schema(min_length = 12, max_length = 128, format = Password)]
    pub password: String,
    /// Defaults to `user`.
    #[serde(default)]
    pub role: Option<Role>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[validate(length(min = 1, max = 1024, message = "length must be 1 to 1024"))]
    #[schema(min_length = 1, max_length = 1024, format = Password)]
    pub current_password: String,
    /// 12–128 characters; not the username, not a common leaked password.
    #[validate(custom(function = "validate_password"))]
    #[schema(min_length = 12, max_length = 128, format = Password)]
    pub new_password: String,
}

pub fn find_by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<UserRow>> {
    users::table.filter(users::username.eq(username)).select(UserRow::as_select()).first(conn).optional()
}

pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<UserRow>> {
    users::table.find(id).select(UserRow::as_select()).first(conn).optional()
}

pub fn insert(conn: &mut DbConnection, username: &str, password_hash: &str, role: Role) -> Result<UserRow, ApiError> {
    let values = (
        users::username.eq(username),
        users::password_hash.eq(password_hash),
        users::role.eq(role.as_str()),
        users::token_version.eq(0),
        users::created_at.eq(db::now()),
    );
    on_backend!(conn, c => diesel::insert_into(users::table)
        .values(values)
        .returning(UserRow::as_returning())
        .get_result(c))
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => {
            ApiError::Conflict { code: ErrorCode::UsernameTaken, message: "That username is taken" }
        }
        other => other,
    })
}

/// Stores a new hash and bumps the token version, so every token issued
/// before now stops working. Returns the new version.
pub fn set_password(conn: &mut DbConnection, id: i64, password_hash: &str) -> QueryResult<i64> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(password_hash), users::token_version.eq(users::token_version + 1)))
        .returning(users::token_version)
        .get_result(conn)
}

/// Replaces a hash with a stronger one of the same password: no token
/// version bump, since nothing about the credential changed.
pub fn upgrade_hash(conn: &mut DbConnection, id: i64, old_hash: &str, new_hash: &str) -> QueryResult<()> {
    // Only if nobody changed the password meanwhile.
    diesel::update(users::table.find(id).filter(users::password_hash.eq(old_hash)))
        .set(users::password_hash.eq(new_hash))
        .execute(conn)
        .map(|_| ())
}

/// Changes a role and bumps the token version: the user's earlier tokens
/// stop working, so a demoted admin must sign in again as a user.
pub fn set_role(conn: &mut DbConnection, id: i64, role: Role) -> QueryResult<i64> {
    diesel::update(users::table.find(id))
        .set((users::role.eq(role.as_str()), users::token_version.eq(users::token_version + 1)))
        .returning(users::token_version)
        .get_result(conn)
}

/// Deletes a user with their sessions, keys, tags and statuses (cascades).
pub fn delete(conn: &mut DbConnection, id: i64) -> QueryResult<bool> {
    diesel::delete(users::table.find(id)).execute(conn).map(|n| n > 0)
}

pub fn list(conn: &mut DbConnection, offset: i64, limit: i64) -> QueryResult<(Vec<UserRow>, i64)> {
    let total = users::table.count().get_result(conn)?;
    let rows =
        users::table.order(users::id.asc()).offset(offset).limit(limit).select(UserRow::as_select()).load(conn)?;
    Ok((rows, total))
}

/// What the first start did about the first admin.
#[derive(Debug, PartialEq, Eq)]
pub enum Bootstrap {
    AlreadyHasUsers,
    CreatedWithGivenPassword,
    /// The generated password, to print once.
    CreatedWithRandomPassword(String),
}

/// On an empty database, creates `admin`, with the configured password or
/// a random one that the caller prints once.
pub fn bootstrap_admin(conn: &mut DbConnection, given: Option<&str>) -> Result<Bootstrap, ApiError> {
    let (password, outcome) = match given {
        Some(p) => (p.to_owned(), Bootstrap::CreatedWithGivenPassword),
        None => {
            let random = crate::secrets::random_token(18);
            (random.clone(), Bootstrap::CreatedWithRandomPassword(random))
        }
    };
    let any: i64 = users::table.count().get_result(conn)?;
    if any > 0 {
        return Ok(Bootstrap::AlreadyHasUsers);
    }
    let hash = crate::auth::password::hash_blocking(&password)?;
    let created = db::write_transaction(conn, |conn| {
        let any: i64 = users::table.count().get_result(conn)?;
        if any > 0 {
            return Ok(Bootstrap::AlreadyHasUsers);
        }
        insert(conn, "admin", &hash, Role::Admin)?;
        Ok(outcome)
    });
    match created {
        // Another instance starting at the same moment made it first.
        Err(ApiError::Conflict { .. }) => Ok(Bootstrap::AlreadyHasUsers),
        other => other,
    }
}
