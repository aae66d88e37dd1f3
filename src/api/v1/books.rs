//! `/api/v1` catalog routes: list, search, read, and admin writes.

use actix_web::http::StatusCode;
use actix_web::http::header::{ContentType, ETAG, LOCATION};
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::successor;
use crate::audit::EventContext;
use crate::books::queries::{Listing, SortColumn, SortOrder};
use crate::books::{Book, BookInput, BookPage, ops};
use crate::error::{ApiError, ErrorEnvelope};
use crate::http::Caching;
use crate::http::caller::{Caller, MaybeCaller, rules};
use crate::http::extract::{ValidJson, ValidQuery};
use crate::paging::{Page, PageQuery};
use crate::state::AppState;

/// Query of `GET /books` and `GET /search`.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Case-insensitive literal substring of the title or author (`%` and
    /// `_` are not wildcards); at most 200 characters.
    #[validate(
        length(max = 200, message = "length must be at most 200"),
        custom(function = "crate::policy::single_line_text")
    )]
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub q: Option<String>,
    /// 1–100,000; default 1.
    #[validate(range(min = 1, max = 100_000, message = "must be 1 to 100000"))]
    #[param(minimum = 1, maximum = 100_000)]
    pub page: Option<u32>,
    /// 1–100; default 20.
    #[validate(range(min = 1, max = 100, message = "must be 1 to 100"))]
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// `title`, `author` or `rating`; by id when absent.
    #[serde(rename = "sortColumn")]
    #[param(rename = "sortColumn", inline, value_type = Option<SortColumnName>)]
    pub sort_column: Option<String>,
    /// `asc` (default) or `desc`.
    #[serde(rename = "sortOrder")]
    #[param(rename = "sortOrder", inline, value_type = Option<SortOrderName>)]
    pub sort_order: Option<String>,
}

// The names the sort parameters take, for the document only: the query keeps
// the raw text so that a wrong one is the contract's `invalid_sort_column` or
// `invalid_sort_order`. Their doc lines are what the document shows.

/// `title`, `author` or `rating`; by id when absent.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(dead_code, reason = "only the OpenAPI document uses it")]
enum SortColumnName {
    Title,
    Author,
    Rating,
}

/// `asc` (default) or `desc`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(dead_code, reason = "only the OpenAPI document uses it")]
enum SortOrderName {
    Asc,
    Desc,
}

impl CatalogQuery {
    fn into_listing(self) -> Result<Listing, ApiError> {
        Ok(Listing {
            q: self.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()),
            sort: self.sort_column.as_deref().map(SortColumn::parse).transpose()?,
            order: self.sort_order.as_deref().map(SortOrder::parse).transpose()?.unwrap_or_default(),
            page: Page::from(PageQuery { page: self.page, per_page: self.per_page }),
        })
    }
}

/// The page as JSON, with the caching rule of the caller.
async fn page_of_books(state: &AppState, listing: Listing, caching: Caching) -> Result<HttpResponse, ApiError> {
    let (body, etag) = ops::page(state, listing).await?;
    let mut response = HttpResponse::Ok();
    caching.apply(&mut response);
    successor(&mut response, "/api/v2/books");
    response.insert_header((ETAG, etag.as_ref()));
    Ok(response.content_type(ContentType::json()).body(body))
}

/// List the catalog, one page at a time (optionally filtered like `/search`).
#[utoipa::path(
    tag = "books",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    params(CatalogQuery),
    responses(
        (status = 200, description = "One page of books", body = BookPage),
        (status = 400, description = "`invalid_sort_column`, `invalid_sort_order`, `validation_failed` or `invalid_query`", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
    )
)]
#[get("/books")]
pub async fn list_books(
    state: web::Data<AppState>,
    _caller: Caller<rules::BooksRead>,
    ValidQuery(query): ValidQuery<CatalogQuery>,
) -> Result<HttpResponse, ApiError> {
    page_of_books(&state, query.into_listing()?, Caching::Private).await
}

/// Search the catalog by title or author. Anonymous calls are allowed.
#[utoipa::path(
    tag = "books",
    security((), ("bearer" = []), ("session" = []), ("api_key" = [])),
    params(CatalogQuery),
    responses(
        (status = 200, description = "One page of matching books", body = BookPage),
        (status = 400, description = "`invalid_sort_column` (message `Invalid sort column`), `invalid_sort_order` (message `Invalid sort order`), `validation_failed` or `invalid_query`", body = ErrorEnvelope),
        (status = 401, description = "Credentials were sent and are invalid", body = ErrorEnvelope),
    )
)]
#[get("/search")]
pub async fn search(
    state: web::Data<AppState>,
    caller: MaybeCaller<rules::BooksRead>,
    ValidQuery(query): ValidQuery<CatalogQuery>,
) -> Result<HttpResponse, ApiError> {
    let caching = Caching::for_catalog(caller.0.is_some());
    page_of_books(&state, query.into_listing()?, caching).await
}

/// One book.
#[utoipa::path(
    tag = "books",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Book id")),
    responses(
        (status = 200, description = "The book", body = Book),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 404, description = "No such book", body = ErrorEnvelope),
    )
)]
#[get("/books/{id}")]
pub async fn get_book(
    state: web::Data<AppState>,
    _caller: Caller<rules::BooksRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let book = ops::get(&state, id.into_inner()).await?;
    let mut response = HttpResponse::Ok();
    Caching::Private.apply(&mut response);
    successor(&mut response, &format!("/api/v2/books/{}", book.id));
    Ok(response.json(book))
}

/// Add a book (admins only).
#[utoipa::path(
    tag = "books",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    request_body = BookInput,
    responses(
        (status = 201, description = "Created; `Location` names the new book", body = Book),
        (status = 400, description = "Invalid body (`validation_failed` lists the fields, `invalid_body`, `invalid_json`)", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
        (status = 413, description = "Body over 1 MiB", body = ErrorEnvelope),
        (status = 415, description = "Not JSON", body = ErrorEnvelope),
    )
)]
#[post("/books")]
pub async fn create_book(
    state: web::Data<AppState>,
    editor: Caller<rules::BooksWrite>,
    context: EventContext,
    ValidJson(input): ValidJson<BookInput>,
) -> Result<HttpResponse, ApiError> {
    let book = ops::create(&state, &context, editor.user_id, input).await?;
    let mut response = HttpResponse::build(StatusCode::CREATED);
    Caching::Private.apply(&mut response);
    Ok(response.insert_header((LOCATION, format!("/api/v1/books/{}", book.id))).json(book))
}

/// Replace a book (admins only).
#[utoipa::path(
    tag = "books",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Book id")),
    request_body = BookInput,
    responses(
        (status = 200, description = "The book as now stored", body = Book),
        (status = 400, description = "Invalid body", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such book", body = ErrorEnvelope),
    )
)]
#[put("/books/{id}")]
pub async fn replace_book(
    state: web::Data<AppState>,
    editor: Caller<rules::BooksWrite>,
    context: EventContext,
    id: web::Path<i64>,
    ValidJson(input): ValidJson<BookInput>,
) -> Result<HttpResponse, ApiError> {
    let book = ops::replace(&state, &context, editor.user_id, id.into_inner(), input).await?;
    let mut response = HttpResponse::Ok();
    Caching::Private.apply(&mut response);
    Ok(response.json(book))
}

/// Delete a book, with every user's tags and status on it (admins only).
#[utoipa::path(
    tag = "books",
    security(("bearer" = []), ("session" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Book id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid credentials", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such book", body = ErrorEnvelope),
    )
)]
#[delete("/books/{id}")]
pub async fn delete_book(
    state: web::Data<AppState>,
    editor: Caller<rules::BooksWrite>,
    context: EventContext,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    ops::delete(&state, &context, editor.user_id, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
