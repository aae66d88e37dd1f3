//! Stored times are Unix seconds: their RFC 3339 form for responses, and
//! durations in the same unit.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A duration as the whole seconds that stored times add and subtract.
pub fn seconds(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// RFC 3339 in UTC, e.g. `2026-11-29T06:02:43Z`.
pub fn rfc3339(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}
