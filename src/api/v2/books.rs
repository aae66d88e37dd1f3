//! `/api/v2/books`: the catalog with cursor paging, and each book with the
//! caller's own status and tags.

use actix_web::http::header::{ContentType, ETAG};
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;
use validator::Validate;

use crate::auth::Principal;
use crate::auth::{Access, Scope};
use crate::books::queries::{SortColumn, SortOrder};
use crate::catalog::{CatalogBook, CatalogPage, CatalogRequest, ops};
use crate::cursor;
use crate::error::{ApiError, ErrorEnvelope};
use crate::http::Caching;
use crate::http::caller::{MaybeCaller, rules};
use crate::http::extract::ValidQuery;
use crate::paging::DEFAULT_PER_PAGE;
use crate::state::AppState;

/// Query of `GET /api/v2/books`.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BooksQuery {
    /// Case-insensitive literal substring of the title or author (`%` and
    /// `_` are not wildcards); at most 200 characters.
    #[validate(
        length(max = 200, message = "length must be at most 200"),
        custom(function = "crate::policy::single_line_text")
    )]
    #[param(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    pub q: Option<String>,
    /// `title`, `author` or `rating`; by id when absent.
    #[param(inline, value_type = Option<String>, pattern = "^(title|author|rating)$")]
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    #[param(inline, value_type = Option<String>, pattern = "^(asc|desc)$")]
    pub order: Option<String>,
    /// 1–100; default 20.
    #[validate(range(min = 1, max = 100, message = "must be 1 to 100"))]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the page before. With it, `q`, `sort` and `order`
    /// may be left out (the cursor's are used) or repeated, not changed.
    #[validate(length(min = 1, max = 2048, message = "length must be 1 to 2048"))]
    #[param(min_length = 1, max_length = 2048)]
    pub cursor: Option<String>,
}

impl BooksQuery {
    fn into_request(self) -> Result<CatalogRequest, ApiError> {
        Ok(CatalogRequest {
            q: self.q,
            sort: self.sort.as_deref().map(SortColumn::parse).transpose()?,
            order: self.order.as_deref().map(SortOrder::parse).transpose()?,
            limit: self.limit.unwrap_or(DEFAULT_PER_PAGE),
            cursor: self.cursor,
        })
    }
}

const _: () = assert!(cursor::MAX_LENGTH == 2048, "BooksQuery.cursor's limits say 2048");

/// Whose `my` to show: a caller who may read their own library.
fn viewer(caller: Option<Principal>) -> Option<i64> {
    caller.filter(|p| Access::Scope(Scope::LibraryRead).refuses(p).is_none()).map(|p| p.user_id)
}

/// The catalog, optionally searched, a page at a time. Anonymous calls are
/// allowed (limited like v1's search); a signed-in caller's books carry `my`.
#[utoipa::path(
    tag = "books",
    security((), ("bearer" = []), ("session" = []), ("api_key" = [])),
    params(BooksQuery),
    responses(
        (status = 200, description = "One page of books; `next_cursor` is null on the last", body = CatalogPage),
        (status = 400, description = "`invalid_cursor` (altered, foreign, or continuing another listing), `invalid_sort_column`, `invalid_sort_order`, `validation_failed` or `invalid_query`", body = ErrorEnvelope),
        (status = 401, description = "Credentials were sent and are invalid", body = ErrorEnvelope),
    )
)]
#[get("/books")]
pub async fn list_books(
    state: web::Data<AppState>,
    caller: MaybeCaller<rules::BooksRead>,
    ValidQuery(query): ValidQuery<BooksQuery>,
) -> Result<HttpResponse, ApiError> {
    let (body, etag) = ops::page(&state, query.into_request()?, viewer(caller.0)).await?;
    let mut response = HttpResponse::Ok();
    Caching::for_catalog(caller.0.is_some()).apply(&mut response);
    if let Some(etag) = etag {
        response.insert_header((ETAG, etag.as_ref()));
    }
    Ok(response.content_type(ContentType::json()).body(body))
}

/// One book, with `my` for a signed-in caller.
#[utoipa::path(
    tag = "books",
    security((), ("bearer" = []), ("session" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "Book id")),
    responses(
        (status = 200, description = "The book", body = CatalogBook),
        (status = 401, description = "Credentials were sent and are invalid", body = ErrorEnvelope),
        (status = 404, description = "No such book", body = ErrorEnvelope),
    )
)]
#[get("/books/{id}")]
pub async fn get_book(
    state: web::Data<AppState>,
    caller: MaybeCaller<rules::BooksRead>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let book = ops::book(&state, id.into_inner(), viewer(caller.0)).await?;
    let mut response = HttpResponse::Ok();
    Caching::for_catalog(caller.0.is_some()).apply(&mut response);
    Ok(response.json(book))
}
