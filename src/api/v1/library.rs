//! `/api/v1` routes over the caller's own tags, statuses and library.

use actix_web::{HttpResponse, get, post, web};

use super::{segment, successor};
use crate::audit::EventContext;
use crate::error::{ApiError, ErrorCode, ErrorEnvelope};
use crate::http::caller::{Caller, rules};
use crate::http::extract::{ValidJson, ValidQuery};
use crate::http::{Caching, private_json};
use crate::library::queries::LibraryFilter;
use crate::library::{
    LibraryPage, LibraryQuery, ReadingStatus, StatusRequest, StatusResponse, TagList, TagRequest, TagsResponse, ops,
};
use crate::paging::{Page, PageQuery};
use crate::state::AppState;
use actix_web::http::StatusCode;

/// A private answer, pointing at its v2 successor.
fn private_json_with_successor(body: impl serde::Serialize, v2_path: &str) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    Caching::Private.apply(&mut response);
    successor(&mut response, v2_path);
    response.json(body)
}

fn tag_path(book_id: i64, tag: &str) -> String {
    format!("/api/v2/books/{book_id}/tags/{}", segment(tag))
}

/// Tag a book for the caller, creating the tag if new.
#[utoipa::path(
    tag = "library",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    request_body = TagRequest,
    responses(
        (status = 200, description = "The caller's tags on the book, sorted", body = TagsResponse),
        (status = 400, description = "Invalid body", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 404, description = "No such book", body = ErrorEnvelope),
    )
)]
#[post("/add_tag")]
pub async fn add_tag(
    state: web::Data<AppState>,
    user: Caller<rules::LibraryWrite>,
    ValidJson(body): ValidJson<TagRequest>,
) -> Result<HttpResponse, ApiError> {
    let path = tag_path(body.book_id, &body.tag);
    let tags = ops::add_tag(&state, user.user_id, body.book_id, body.tag).await?;
    Ok(private_json_with_successor(TagsResponse { success: true, tags }, &path))
}

/// Remove one of the caller's tags from a book.
#[utoipa::path(
    tag = "library",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    request_body = TagRequest,
    responses(
        (status = 200, description = "The caller's remaining tags on the book, sorted", body = TagsResponse),
        (status = 400, description = "Invalid body", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 404, description = "No such book, or the caller has no such tag on it", body = ErrorEnvelope),
    )
)]
#[post("/remove_tag")]
pub async fn remove_tag(
    state: web::Data<AppState>,
    user: Caller<rules::LibraryWrite>,
    ValidJson(body): ValidJson<TagRequest>,
) -> Result<HttpResponse, ApiError> {
    let path = tag_path(body.book_id, &body.tag);
    let tags = ops::remove_tag(&state, user.user_id, body.book_id, body.tag).await?;
    Ok(private_json_with_successor(TagsResponse { success: true, tags }, &path))
}

/// Set the caller's reading status of a book (logged as a security event).
#[utoipa::path(
    tag = "library",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    request_body = StatusRequest,
    responses(
        (status = 200, description = "Status set", body = StatusResponse),
        (status = 400, description = "Invalid body", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 404, description = "No such book", body = ErrorEnvelope),
    )
)]
#[post("/change_status")]
pub async fn change_status(
    state: web::Data<AppState>,
    user: Caller<rules::LibraryWrite>,
    context: EventContext,
    ValidJson(body): ValidJson<StatusRequest>,
) -> Result<HttpResponse, ApiError> {
    let status = ReadingStatus::parse(&body.status)
        .ok_or_else(|| ApiError::bad_request(ErrorCode::ValidationFailed, "Invalid status"))?;
    let book_id = body.book_id;
    ops::set_status(&state, &context, user.user_id, book_id, status).await?;
    Ok(private_json_with_successor(
        StatusResponse { success: true, book_id, status },
        &format!("/api/v2/books/{book_id}/status"),
    ))
}

/// The caller's tags, with how many books carry each.
#[utoipa::path(
    tag = "library",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's tags, by name", body = TagList),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
    )
)]
#[get("/tags")]
pub async fn list_tags(state: web::Data<AppState>, user: Caller<rules::LibraryRead>) -> Result<HttpResponse, ApiError> {
    let tags = ops::tags(&state, user.user_id).await?;
    Ok(private_json(StatusCode::OK, TagList { tags }))
}

/// The caller's books (any with a status or a tag), by title.
#[utoipa::path(
    tag = "library",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    params(LibraryQuery),
    responses(
        (status = 200, description = "One page of the caller's books", body = LibraryPage),
        (status = 400, description = "Invalid filter or paging", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
    )
)]
#[get("/library")]
pub async fn library(
    state: web::Data<AppState>,
    user: Caller<rules::LibraryRead>,
    ValidQuery(query): ValidQuery<LibraryQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = LibraryFilter {
        status: query.status.as_deref().and_then(ReadingStatus::parse),
        tag: query.tag,
        page: Page::from(PageQuery { page: query.page, per_page: query.per_page }),
    };
    let page = filter.page;
    let (books, total) = ops::library(&state, user.user_id, filter).await?;
    Ok(private_json(StatusCode::OK, LibraryPage { books, page: page.page, per_page: page.per_page, total }))
}
