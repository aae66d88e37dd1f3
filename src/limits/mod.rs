//! Rate limits: the contract's table as named limits, keyed by who is
//! calling, checked before the handler runs, in process or in Redis.
//!
//! | limit | applies to | key |
//! |---|---|---|
//! | `anonymous` | every route without its own limit, no valid credential | client IP (IPv6 by /64) |
//! | `authenticated` | every route, valid credential | user id (an API key's owner) |
//! | `search` | anonymous search (replaces `anonymous`) | client IP |
//! | `status_change` | reading-status changes (besides `authenticated`) | user id |
//! | `login` | password sign-ins (replaces `anonymous`) | client IP |
//!
//! Which route is which is not known here: the route tables (`api`) say,
//! row by row, and the middleware classes a request by the route pattern
//! the router matched.
//!
//! Every quota of every limit that applies must have room, or the request
//! is refused and costs nothing anywhere. A 304 is given back afterwards.
//! Exempt routes (health checks, which load balancers poll) are never limited.

pub mod gcra;
pub mod memory;
pub mod redis;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use ipnet::IpNet;
use serde_json::json;

use crate::audit::{Event, EventContext, SecurityEvents};
use crate::settings::{Limits, Quota};
use gcra::Standing;

/// One quota of one limit, for one caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub limit: &'static str,
    pub quota: Quota,
    pub key: String,
    /// `anonymous-1h`, as the headers and messages name this quota.
    pub policy: Arc<str>,
}

impl Cell {
    pub fn new(limit: &'static str, quota: Quota, key: String) -> Self {
        Self { limit, quota, key, policy: Arc::from(policy_name(limit, quota)) }
    }
}

/// The policy names of every configured quota, made once rather than per
/// request.
#[derive(Debug, Default)]
struct PolicyNames(HashMap<(&'static str, Quota), Arc<str>>);

impl PolicyNames {
    fn new(limits: &Limits) -> Self {
        let named: [(&'static str, &[Quota]); 8] = [
            ("anonymous", &limits.anonymous),
            ("authenticated", &limits.authenticated),
            ("search", &limits.search_anonymous),
            ("status_change", &limits.status_change),
            ("login", &limits.login_ip),
            ("login_failures", &limits.login_failures),
            ("login_client_failures", &limits.login_client_failures),
            ("credential_failures", &limits.credential_failures),
        ];
        let names = named
            .iter()
            .flat_map(|(limit, quotas)| quotas.iter().map(move |q| ((*limit, *q), Arc::from(policy_name(limit, *q)))))
            .collect();
        Self(names)
    }

    /// One cell per quota of `limit` for `key`, shortest period first.
    fn cells(&self, limit: &'static str, quotas: &[Quota], key: &str) -> Vec<Cell> {
        let mut cells: Vec<Cell> = quotas
            .iter()
            .map(|quota| match self.0.get(&(limit, *quota)) {
                Some(policy) => Cell { limit, quota: *quota, key: key.to_owned(), policy: policy.clone() },
                None => Cell::new(limit, *quota, key.to_owned()),
            })
            .collect();
        cells.sort_by_key(|cell| cell.quota.period);
        cells
    }
}

/// A decision over a request's cells, in the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The cell whose quota refused the request, if one did.
    pub refused: Option<usize>,
    pub standings: Vec<Standing>,
}

impl Outcome {
    /// The standing of each cell from how far its TAT lies ahead, after a
    /// decision that `refused` names (or none).
    pub fn decided(cells: &[Cell], ahead: impl IntoIterator<Item = Duration>, refused: Option<usize>) -> Self {
        let standings = cells.iter().zip(ahead).map(|(cell, ahead)| gcra::standing(cell.quota, ahead)).collect();
        Self { refused, standings }
    }

    /// The same without a decision: the first cell with no room refuses.
    pub fn peeked(cells: &[Cell], ahead: impl IntoIterator<Item = Duration>) -> Self {
        let mut outcome = Self::decided(cells, ahead, None);
        outcome.refused = outcome.standings.iter().position(|s| s.remaining == 0);
        outcome
    }
}

/// Where the decisions are kept.
pub enum Store {
    Memory(memory::MemoryStore),
    Redis(Box<redis::RedisStore>),
}

/// The configured limits and their store.
pub struct RateLimiter {
    enabled: bool,
    limits: Limits,
    ipv6_prefix: u8,
    store: Store,
    classes: RouteClasses,
    names: PolicyNames,
    /// Clients whose failed credentials used up their count, and until when
    /// a request carrying a credential from them is refused unread. Kept in
    /// process: each instance learns it at its first failure past the count.
    blocked: Mutex<HashMap<String, (Instant, Cell)>>,
    /// When each refused (limit, key) may next be recorded as an event: at
    /// most one `rate_limited` per key and window.
    reported: Mutex<HashMap<(&'static str, String), Instant>>,
}

/// What a request is, as far as the limits care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    Exempt,
    Login,
    Search,
    StatusChange,
    /// The anonymous or authenticated limits, whichever applies.
    Default,
}

/// The class of every route: (method, route pattern, class) rows from the
/// route tables. A request is classed by the pattern the router matches,
/// so every spelling of a path that reaches a handler
/// (`/api/v1/change%5Fstatus`, `/api/%74oken`) gets that handler's limits.
#[derive(Debug, Clone, Default)]
pub struct RouteClasses(Vec<(Method, String, RouteClass)>);

impl RouteClasses {
    pub fn new(rows: Vec<(Method, String, RouteClass)>) -> Self {
        Self(rows)
    }

    /// The class of a request for `pattern` (`None`: no route matched).
    /// `HEAD` is answered as `GET`, so it is limited as `GET`; preflights
    /// never count.
    pub fn of(&self, method: &Method, pattern: Option<&str>) -> RouteClass {
        if method == Method::OPTIONS {
            return RouteClass::Exempt;
        }
        let method = if method == Method::HEAD { &Method::GET } else { method };
        pattern
            .and_then(|pattern| self.0.iter().find(|(m, p, _)| m == method && *p == pattern))
            .map_or(RouteClass::Default, |(_, _, class)| *class)
    }
}

impl RateLimiter {
    pub fn new(enabled: bool, limits: Limits, ipv6_prefix: u8, store: Store, classes: RouteClasses) -> Self {
        let names = PolicyNames::new(&limits);
        Self {
            enabled,
            limits,
            ipv6_prefix,
            store,
            classes,
            names,
            blocked: Mutex::new(HashMap::new()),
            reported: Mutex::new(HashMap::new()),
        }
    }

    pub fn class_of(&self, method: &Method, pattern: Option<&str>) -> RouteClass {
        self.classes.of(method, pattern)
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The client key of an address: IPv4 as is, IPv6 by its prefix, so
    /// rotating addresses inside one allocation gains nothing.
    pub fn client_key(&self, ip: Option<IpAddr>) -> String {
        match ip {
            Some(IpAddr::V4(v4)) => format!("ip:{v4}"),
            Some(IpAddr::V6(v6)) => IpNet::new(IpAddr::V6(v6), self.ipv6_prefix)
                .map(|net| format!("ip:{}", net.trunc()))
                .unwrap_or_else(|_| format!("ip:{v6}")),
            None => "ip:unknown".to_owned(),
        }
    }

    /// The cells a request must find room in, tightest window first: by
    /// `user_id` when a credential proved the caller, else by client address.
    pub fn cells(&self, class: RouteClass, user_id: Option<i64>, ip: Option<IpAddr>) -> Vec<Cell> {
        let mut cells = Vec::new();
        let mut add =
            |limit: &'static str, quotas: &[Quota], key: String| cells.extend(self.names.cells(limit, quotas, &key));
        match (class, user_id) {
            (RouteClass::Exempt, _) => {}
            (RouteClass::Login, _) => add("login", &self.limits.login_ip, self.client_key(ip)),
            (RouteClass::Search, None) => add("search", &self.limits.search_anonymous, self.client_key(ip)),
            (_, None) => add("anonymous", &self.limits.anonymous, self.client_key(ip)),
            (class, Some(user_id)) => {
                // Every credential of a user, API keys included, draws on
                // the user's one quota: more keys are not more requests.
                add("authenticated", &self.limits.authenticated, format!("user:{user_id}"));
                if class == RouteClass::StatusChange {
                    add("status_change", &self.limits.status_change, format!("user:{user_id}"));
                }
            }
        }
        cells
    }

    pub async fn acquire(&self, cells: &[Cell], events: &SecurityEvents) -> Outcome {
        match &self.store {
            Store::Memory(store) => store.acquire(cells),
            Store::Redis(store) => store.acquire(cells, events).await,
        }
    }

    /// The cells' standing, taking nothing.
    pub async fn peek(&self, cells: &[Cell], events: &SecurityEvents) -> Outcome {
        match &self.store {
            Store::Memory(store) => store.peek(cells),
            Store::Redis(store) => store.peek(cells, events).await,
        }
    }

    /// Makes the cells' quotas whole again.
    pub async fn clear(&self, cells: &[Cell], events: &SecurityEvents) {
        match &self.store {
            Store::Memory(store) => store.clear(cells),
            Store::Redis(store) => store.clear(cells, events).await,
        }
    }

    /// The sign-in failure counts of a username and of a client (the same
    /// store as the rate limits, so they are shared through Redis too).
    pub fn login_failure_cells(&self, username: &str, ip: Option<IpAddr>) -> (Vec<Cell>, Vec<Cell>) {
        (
            self.names.cells("login_failures", &self.limits.login_failures, &format!("username:{username}")),
            self.names.cells("login_client_failures", &self.limits.login_client_failures, &self.client_key(ip)),
        )
    }

    /// Whether requests carrying credentials from this client are refused
    /// for now: the quota cell that ran out, and how long until it has room.
    pub fn credentials_blocked(&self, ip: Option<IpAddr>) -> Option<(Cell, Duration)> {
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let (until, cell) = blocked.get(&self.client_key(ip))?;
        let wait = until.checked_duration_since(Instant::now())?;
        (!wait.is_zero()).then(|| (cell.clone(), wait))
    }

    /// Counts a failed credential of this client. Once its count has no
    /// room, further requests with credentials from it are refused without
    /// a lookup until the count frees up.
    pub async fn credential_failed(&self, ip: Option<IpAddr>, events: &SecurityEvents) {
        let key = self.client_key(ip);
        let cells = self.names.cells("credential_failures", &self.limits.credential_failures, &key);
        let outcome = self.acquire(&cells, events).await;
        let exhausted = outcome.standings.iter().zip(&cells).find(|(s, _)| s.remaining == 0);
        let Some((standing, cell)) = exhausted else { return };
        // Refused: wait until the next request conforms; used up just now:
        // until one refill.
        let wait = standing.retry_after.unwrap_or(cell.quota.period / cell.quota.count.max(1));
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if blocked.len() > 100_000 {
            blocked.retain(|_, (until, _)| *until > now);
        }
        blocked.insert(key, (now + wait, cell.clone()));
    }

    pub async fn refund(&self, cells: &[Cell], events: &SecurityEvents) {
        match &self.store {
            Store::Memory(store) => store.refund(cells),
            Store::Redis(store) => store.refund(cells, events).await,
        }
    }

    /// Records a refusal unless this key was already reported in the
    /// window that refused it.
    pub fn report(
        &self,
        events: &SecurityEvents,
        context: &EventContext,
        cell: &Cell,
        standing: &Standing,
        user_id: Option<i64>,
    ) {
        let now = Instant::now();
        let id = (cell.limit, cell.key.clone());
        {
            let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
            if reported.get(&id).is_some_and(|until| now < *until) {
                return;
            }
            if reported.len() > 100_000 {
                reported.retain(|_, until| now < *until);
            }
            reported.insert(
                id,
                now + standing.retry_after.unwrap_or(Duration::ZERO).max(cell.quota.period / cell.quota.count.max(1)),
            );
        }
        events.record(
            context,
            Event::RateLimited,
            user_id,
            json!({"limit": cell.limit, "quota": &*cell.policy, "key": cell.key}),
        );
    }
}

/// `anonymous-1h`: a limit and the period of one of its quotas.
fn policy_name(limit: &str, quota: Quota) -> String {
    format!("{limit}-{}", period_label(quota.period))
}

fn period_label(period: Duration) -> String {
    let s = period.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
