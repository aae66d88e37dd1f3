//! Page-number paging shared by the v1 lists.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

pub const DEFAULT_PER_PAGE: u32 = 20;

#[derive(Debug, Clone, Copy, Default, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–100,000; default 1.
    #[validate(range(min = 1, max = 100_000, message = "must be 1 to 100000"))]
    #[param(minimum = 1, maximum = 100_000)]
    pub page: Option<u32>,
    /// 1–100; default 20.
    #[validate(range(min = 1, max = 100, message = "must be 1 to 100"))]
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    pub fn limit(self) -> i64 {
        i64::from(self.per_page)
    }
}

impl From<PageQuery> for Page {
    fn from(q: PageQuery) -> Self {
        Self { page: q.page.unwrap_or(1), per_page: q.per_page.unwrap_or(DEFAULT_PER_PAGE) }
    }
}
