//! Brute-force defence for password logins: failures are counted per
//! username and per client; once a key has its quota of failures inside the
//! period, further attempts are refused with 429 before any password is
//! checked (so argon2 does not run and the answer does not depend on the
//! password).
//!
//! Usernames are counted whether or not they exist, so the lockout itself
//! says nothing about existence. A success clears the username's count,
//! not the client's: otherwise an attacker with one valid account could
//! reset their own client count between guesses at other accounts.
//!
//! The counts live in this process; with several instances each keeps its
//! own (shared counting arrives with the shared rate-limit store).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::settings::Quota;

/// Keys past this are swept of stale entries on insert.
const SWEEP_AT: usize = 100_000;

/// Failures of one kind of key (usernames, or clients).
pub struct FailureCounter {
    quotas: Vec<Quota>,
    /// The longest quota period: older failures never matter.
    horizon: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl FailureCounter {
    pub fn new(quotas: &[Quota]) -> Self {
        let horizon = quotas.iter().map(|q| q.period).max().unwrap_or_default();
        Self { quotas: quotas.to_vec(), horizon, failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(wait)` when `key` has used up a quota; `wait` is when the oldest
    /// failure counted against it leaves the window.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let Ok(failures) = self.failures.lock() else { return Ok(()) };
        let Some(times) = failures.get(key) else { return Ok(()) };
        let now = Instant::now();
        let mut wait = Duration::ZERO;
        for quota in &self.quotas {
            let recent: Vec<&Instant> = times.iter().filter(|t| now.duration_since(**t) < quota.period).collect();
            if recent.len() >= quota.count as usize {
                // The failure that must expire for one more attempt.
                let freeing = recent[recent.len() - quota.count as usize];
                wait = wait.max(quota.period.saturating_sub(now.duration_since(*freeing)));
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a failure; returns true when this failure used up a quota
    /// (the moment a lockout starts).
    pub fn fail(&self, key: &str) -> bool {
        let Ok(mut failures) = self.failures.lock() else { return false };
        let now = Instant::now();
        if failures.len() >= SWEEP_AT {
            let horizon = self.horizon;
            failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < horizon));
        }
        let times = failures.entry(key.to_owned()).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= self.horizon) {
            times.pop_front();
        }
        times.push_back(now);
        self.quotas
            .iter()
            .any(|q| times.iter().filter(|t| now.duration_since(**t) < q.period).count() == q.count as usize)
    }

    pub fn clear(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(key);
        }
    }
}

/// Both counters of the login routes.
pub struct LoginThrottle {
    pub usernames: FailureCounter,
    pub clients: FailureCounter,
}

impl LoginThrottle {
    pub fn new(per_username: &[Quota], per_client: &[Quota]) -> Self {
        Self { usernames: FailureCounter::new(per_username), clients: FailureCounter::new(per_client) }
    }
}

/// Usernames are compared as the login compares them, ignoring case and
/// surrounding space, so `Admin ` and `admin` share one count.
pub fn username_key(username: &str) -> String {
    username.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(count: u32, seconds: u64) -> FailureCounter {
        FailureCounter::new(&[Quota { count, period: Duration::from_secs(seconds) }])
    }

    #[test]
    fn the_fifth_failure_locks_and_clearing_unlocks() {
        let c = counter(5, 900);
        for n in 1..=5 {
            assert!(c.check("alice").is_ok(), "attempt {n} is allowed");
            assert_eq!(c.fail("alice"), n == 5, "only the fifth failure starts the lockout");
        }
        let wait = c.check("alice").unwrap_err();
        assert!(wait > Duration::from_secs(890) && wait <= Duration::from_secs(900), "{wait:?}");
        assert!(c.check("bob").is_ok(), "other keys are not affected");
        c.clear("alice");
        assert!(c.check("alice").is_ok());
    }

    #[test]
    fn failures_older_than_the_period_do_not_count() {
        let c = counter(2, 1);
        c.fail("k");
        c.fail("k");
        assert!(c.check("k").is_err());
        std::thread::sleep(Duration::from_millis(1100));
        assert!(c.check("k").is_ok());
    }
}
