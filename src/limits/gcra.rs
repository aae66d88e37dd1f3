//! What a GCRA state means for the headers, shared by both stores.
//!
//! GCRA (governor's algorithm): a quota of `count` per `period` replenishes
//! one request every `t = period / count` and allows a burst of `count`.
//! The state is one instant per key, the theoretical arrival time (TAT). A
//! request at `now` conforms when `now >= TAT - tau`, with
//! `tau = t * (count - 1)`; it then moves TAT to `max(TAT, now) + t`. So
//! "50 per hour" is a burst of 50 refilled at one request per 72 s.

use std::time::Duration;

use crate::settings::Quota;

/// Whole seconds, rounded up: a client that waits this long is never early.
pub fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The GCRA parameters of a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub t: Duration,
    pub tau: Duration,
}

impl Params {
    pub fn of(quota: Quota) -> Self {
        let count = quota.count.max(1);
        let t = quota.period / count;
        Self { t, tau: t * (count - 1) }
    }
}

/// One quota's standing for one caller, after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub quota: Quota,
    /// Requests that would conform right now.
    pub remaining: u32,
    /// Until the quota is whole again.
    pub reset: Duration,
    /// Until the next request conforms, when none would now.
    pub retry_after: Option<Duration>,
}

/// The standing of a quota whose TAT is `tat_ahead` past now (zero when the
/// TAT is in the past or the key has no state).
pub fn standing(quota: Quota, tat_ahead: Duration) -> Standing {
    let Params { t, tau } = Params::of(quota);
    let capacity = tau + t;
    let room = capacity.saturating_sub(tat_ahead);
    let remaining = if t.is_zero() { quota.count } else { (room.as_nanos() / t.as_nanos()) as u32 };
    let retry_after = (remaining == 0).then(|| tat_ahead.saturating_sub(tau));
    Standing { quota, remaining: remaining.min(quota.count), reset: tat_ahead, retry_after }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(count: u32, seconds: u64) -> Quota {
        Quota { count, period: Duration::from_secs(seconds) }
    }

    #[test]
    fn fifty_per_hour_refills_one_per_72_seconds() {
        let p = Params::of(quota(50, 3600));
        assert_eq!(p.t, Duration::from_secs(72));
        assert_eq!(p.tau, Duration::from_secs(72 * 49));
    }

    #[test]
    fn standing_counts_what_is_left() {
        let q = quota(50, 3600);
        assert_eq!(standing(q, Duration::ZERO).remaining, 50);
        // After 3 requests at once TAT is 3 t ahead.
        let s = standing(q, Duration::from_secs(3 * 72));
        assert_eq!((s.remaining, s.reset, s.retry_after), (47, Duration::from_secs(216), None));
        // After 50: none left until TAT - tau, one t from now.
        let s = standing(q, Duration::from_secs(50 * 72));
        assert_eq!((s.remaining, s.retry_after), (0, Some(Duration::from_secs(72))));
    }
}
