//! Brute-force defence for password logins: failures are counted per
//! username and per client, as GCRA quotas in the rate-limit store (so
//! several instances sharing Redis share the counts). Once a quota has no
//! room, further attempts are refused with 429 before any password is
//! checked, so argon2 does not run and the answer does not depend on the
//! password. "5 per 15 minutes" is a burst of 5 failures, then one more
//! attempt every 3 minutes.
//!
//! Usernames are counted whether or not they exist, so the lockout itself
//! says nothing about existence. A success clears the username's count,
//! not the client's: otherwise an attacker with one valid account could
//! reset their own client count between guesses at other accounts.

use std::net::IpAddr;
use std::time::Duration;

use crate::limits::{Cell, RateLimiter};
use crate::security::SecurityEvents;

/// Usernames are compared as the login compares them, ignoring case and
/// surrounding space, so `Admin ` and `admin` share one count.
pub fn username_key(username: &str) -> String {
    username.trim().to_lowercase()
}

/// The failure counts one sign-in attempt is checked against.
pub struct Attempt<'a> {
    limiter: &'a RateLimiter,
    events: &'a SecurityEvents,
    username: Vec<Cell>,
    client: Vec<Cell>,
}

/// Which count a failure used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    Username,
    Client,
}

impl<'a> Attempt<'a> {
    /// `username` is already a [`username_key`], as the sign-in looks it up.
    pub fn new(limiter: &'a RateLimiter, events: &'a SecurityEvents, username: &str, ip: Option<IpAddr>) -> Self {
        let (username, client) = limiter.login_failure_cells(username, ip);
        Self { limiter, events, username, client }
    }

    fn all(&self) -> Vec<Cell> {
        self.username.iter().chain(&self.client).cloned().collect()
    }

    /// `Err(wait)` while either count has no room.
    pub async fn check(&self) -> Result<(), Duration> {
        let outcome = self.limiter.peek(&self.all(), self.events).await;
        match outcome.refused {
            None => Ok(()),
            Some(_) => {
                let wait = outcome.standings.iter().filter_map(|s| s.retry_after).max().unwrap_or(Duration::ZERO);
                Err(wait.max(Duration::from_secs(1)))
            }
        }
    }

    /// Counts a failure against both; says which count it used up, if any
    /// (the moment a lockout starts).
    pub async fn failed(&self) -> Option<Locked> {
        let outcome = self.limiter.acquire(&self.all(), self.events).await;
        let used_up = |range: std::ops::Range<usize>| outcome.standings[range].iter().any(|s| s.remaining == 0);
        let split = self.username.len();
        if used_up(0..split) {
            Some(Locked::Username)
        } else if used_up(split..outcome.standings.len()) {
            Some(Locked::Client)
        } else {
            None
        }
    }

    /// A success: the username's count starts over.
    pub async fn succeeded(&self) {
        self.limiter.clear(&self.username, self.events).await;
    }
}
