//! Brute-force defence for password checks: failures are counted per
//! username and per client, as GCRA quotas in the rate-limit store (so
//! several instances sharing Redis share the counts).
//!
//! The failure is taken *before* the password is checked, atomically with
//! the test for room, and given back when the password turns out right.
//! So parallel attempts cannot overrun the count: of N concurrent wrong
//! passwords for one username, at most the quota's worth reach argon2 and
//! the rest get 429 before any hashing, whatever the password. "5 per 15
//! minutes" is a burst of 5 failures, then one more attempt every 3
//! minutes.
//!
//! Usernames are counted whether or not they exist, so the lockout itself
//! says nothing about existence. A success clears the username's count,
//! and gives back only the attempt it took from the client's count:
//! otherwise an attacker with one valid account could reset their own
//! client count between guesses at other accounts.

use std::net::IpAddr;
use std::time::Duration;

use crate::audit::SecurityEvents;
use crate::limits::{Cell, Outcome, RateLimiter};

/// Usernames are compared as the login compares them, ignoring case and
/// surrounding space, so `Admin ` and `admin` share one count.
pub fn username_key(username: &str) -> String {
    username.trim().to_lowercase()
}

/// Which count a failure used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    Username,
    Client,
}

/// The failure counts one password check is held to.
pub struct Throttle<'a> {
    limiter: &'a RateLimiter,
    events: &'a SecurityEvents,
    username: Vec<Cell>,
    client: Vec<Cell>,
}

impl<'a> Throttle<'a> {
    /// `username` is already a [`username_key`], as the check looks it up.
    pub fn new(limiter: &'a RateLimiter, events: &'a SecurityEvents, username: &str, ip: Option<IpAddr>) -> Self {
        let (username, client) = limiter.login_failure_cells(username, ip);
        Self { limiter, events, username, client }
    }

    fn all(&self) -> Vec<Cell> {
        self.username.iter().chain(&self.client).cloned().collect()
    }

    /// Takes one failure from both counts before the password is checked;
    /// `Err(wait)` when either has no room (nothing is taken then).
    pub async fn take(self) -> Result<Taken<'a>, Duration> {
        let outcome = self.limiter.acquire(&self.all(), self.events).await;
        match outcome.refused {
            None => Ok(Taken { throttle: self, outcome }),
            Some(_) => {
                let wait = outcome.standings.iter().filter_map(|s| s.retry_after).max().unwrap_or(Duration::ZERO);
                Err(wait.max(Duration::from_secs(1)))
            }
        }
    }
}

/// A failure taken in advance; exactly one of the methods settles it.
#[must_use = "a taken failure must be kept, given back, or cleared"]
pub struct Taken<'a> {
    throttle: Throttle<'a>,
    outcome: Outcome,
}

impl Taken<'_> {
    /// The password was wrong: the failure stays. Says which count it used
    /// up, if any (the moment a lockout starts).
    pub fn failed(self) -> Option<Locked> {
        let split = self.throttle.username.len();
        let used_up = |range: std::ops::Range<usize>| self.outcome.standings[range].iter().any(|s| s.remaining == 0);
        if used_up(0..split) {
            Some(Locked::Username)
        } else if used_up(split..self.outcome.standings.len()) {
            Some(Locked::Client)
        } else {
            None
        }
    }

    /// The password was right: the username's count starts over and the
    /// client gets its attempt back.
    pub async fn succeeded(self) {
        let Throttle { limiter, events, username, client } = self.throttle;
        limiter.clear(&username, events).await;
        limiter.refund(&client, events).await;
    }

    /// The password could not be checked (the database or the hashing pool
    /// refused): that was no failure, so both counts get it back.
    pub async fn unchecked(self) {
        self.throttle.limiter.refund(&self.throttle.all(), self.throttle.events).await;
    }
}
