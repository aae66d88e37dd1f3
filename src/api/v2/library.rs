//! `/api/v2/books/{id}/tags/{tag}` and `/api/v2/books/{id}/status`: the
//! caller's tags and status as resources. PUT and DELETE are idempotent:
//! repeating one answers as the first did.

use actix_web::{HttpResponse, delete, put, web};

use crate::audit::EventContext;
use crate::error::{ApiError, ErrorCode, ErrorEnvelope, FieldProblem};
use crate::http::caller::{Caller, rules};
use crate::http::extract::ValidJson;
use crate::http::private_json;
use crate::library::{BookStatus, BookTags, ReadingStatus, StatusBody, check_tag, ops};
use crate::state::AppState;
use actix_web::http::StatusCode;

/// The tag named in the path, held to the tag rules of a body's.
fn tag_of(raw: String) -> Result<String, ApiError> {
    check_tag(&raw).map_err(|problem| {
        let message = problem.message.map(|m| m.into_owned()).unwrap_or_else(|| "is invalid".to_owned());
        ApiError::Validation(vec![FieldProblem { field: "tag".to_owned(), message }])
    })?;
    Ok(raw)
}

/// Tag a book (creating the tag if new). Repeating it changes nothing.
#[utoipa::path(
    tag = "library",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    params(
        ("id" = i64, Path, description = "Book id"),
        ("tag" = String, Path, min_length = 1, max_length = 32, pattern = "^[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000](?:[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?$", description = "1–32 characters, percent-encoded; no leading or trailing spaces, no control characters"),
    ),
    responses(
        (status = 200, description = "The caller's tags on the book, sorted", body = BookTags),
        (status = 400, description = "The tag breaks the tag rules (`validation_failed`)", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "A cookie session without `X-CSRF-Token` (`csrf_failed`), or a key without `library:write`", body = ErrorEnvelope),
        (status = 404, description = "No such book", body = ErrorEnvelope),
    )
)]
#[put("/books/{id}/tags/{tag}")]
pub async fn put_tag(
    state: web::Data<AppState>,
    user: Caller<rules::LibraryWrite>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (book_id, tag) = path.into_inner();
    let tags = ops::add_tag(&state, user.user_id, book_id, tag_of(tag)?).await?;
    Ok(private_json(StatusCode::OK, BookTags { book_id, tags }))
}

/// Untag a book. A tag already gone is no error: the answer is the same.
#[utoipa::path(
    tag = "library",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    params(
        ("id" = i64, Path, description = "Book id"),
        ("tag" = String, Path, min_length = 1, max_length = 32, pattern = "^[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000](?:[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?$", description = "1–32 characters, percent-encoded; no leading or trailing spaces, no control characters"),
    ),
    responses(
        (status = 200, description = "The caller's tags left on the book, sorted", body = BookTags),
        (status = 400, description = "The tag breaks the tag rules (`validation_failed`)", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "A cookie session without `X-CSRF-Token` (`csrf_failed`), or a key without `library:write`", body = ErrorEnvelope),
        (status = 404, description = "No such book", body = ErrorEnvelope),
    )
)]
#[delete("/books/{id}/tags/{tag}")]
pub async fn delete_tag(
    state: web::Data<AppState>,
    user: Caller<rules::LibraryWrite>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (book_id, tag) = path.into_inner();
    let tags = ops::ensure_untagged(&state, user.user_id, book_id, tag_of(tag)?).await?;
    Ok(private_json(StatusCode::OK, BookTags { book_id, tags }))
}

/// Set the caller's reading status of a book (logged as a security event;
/// 30 per minute, shared with v1's `/change_status`).
#[utoipa::path(
    tag = "library",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Book id")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "Status set", body = BookStatus),
        (status = 400, description = "Invalid body", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "A cookie session without `X-CSRF-Token` (`csrf_failed`), or a key without `library:write`", body = ErrorEnvelope),
        (status = 404, description = "No such book", body = ErrorEnvelope),
    )
)]
#[put("/books/{id}/status")]
pub async fn put_status(
    state: web::Data<AppState>,
    user: Caller<rules::LibraryWrite>,
    context: EventContext,
    id: web::Path<i64>,
    ValidJson(body): ValidJson<StatusBody>,
) -> Result<HttpResponse, ApiError> {
    let status = ReadingStatus::parse(&body.status)
        .ok_or_else(|| ApiError::bad_request(ErrorCode::ValidationFailed, "Invalid status"))?;
    let set: BookStatus = ops::set_status(&state, &context, user.user_id, id.into_inner(), status).await?;
    Ok(private_json(StatusCode::OK, set))
}

/// Clear the caller's reading status of a book; 204 whether or not there
/// was one (limited with the status changes).
#[utoipa::path(
    tag = "library",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Book id")),
    responses(
        (status = 204, description = "The caller has no status on the book"),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "A cookie session without `X-CSRF-Token` (`csrf_failed`), or a key without `library:write`", body = ErrorEnvelope),
        (status = 404, description = "No such book", body = ErrorEnvelope),
    )
)]
#[delete("/books/{id}/status")]
pub async fn delete_status(
    state: web::Data<AppState>,
    user: Caller<rules::LibraryWrite>,
    context: EventContext,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    ops::clear_status(&state, &context, user.user_id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
