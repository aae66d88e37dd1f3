//! Metrics: what the server counts and measures, kept by a Prometheus
//! recorder of the app's own and rendered for `GET /metrics` on the
//! metrics listener (`SHELF_METRICS_BIND`).
//!
//! The recorder belongs to the app rather than being installed as the
//! process's global one: settings are a value and so is what they build,
//! and two apps in one process (the tests run many) each count only their
//! own traffic. Every series is named here, so the names a dashboard relies
//! on are in one place; callers record through typed methods.
//!
//! With metrics off (no `SHELF_METRICS_BIND`) every method returns at once
//! and nothing is kept. Label values are static strings or come from
//! bounded sets (route patterns of the route table, configured rate-limit
//! policies, status codes); a series' handle is looked up once and reused,
//! so a request costs a hash lookup and a few atomic additions.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

const HTTP_REQUESTS: &str = "shelf_http_requests_total";
const HTTP_DURATION: &str = "shelf_http_request_duration_seconds";
const RATE_LIMIT_DECISIONS: &str = "shelf_rate_limit_decisions_total";
const RATE_LIMIT_STORE_FALLBACKS: &str = "shelf_rate_limit_store_fallbacks_total";
const SIGN_INS: &str = "shelf_sign_ins_total";
const SECURITY_EVENTS: &str = "shelf_security_events_total";
const SECURITY_EVENTS_DROPPED: &str = "shelf_security_events_dropped_total";
const API_KEY_AUTHENTICATIONS: &str = "shelf_api_key_authentications_total";
const POOL_MAX: &str = "shelf_db_pool_max_connections";
const POOL_OPEN: &str = "shelf_db_pool_connections";
const POOL_IN_USE: &str = "shelf_db_pool_connections_in_use";
const POOL_WAIT: &str = "shelf_db_pool_wait_seconds";
const POOL_TIMEOUTS: &str = "shelf_db_pool_timeouts_total";

/// The route label of a request no route matched: one series for every
/// path that leads nowhere, however many a scanner tries.
pub const UNMATCHED_ROUTE: &str = "unmatched";

const REQUEST_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const POOL_WAIT_BUCKETS: &[f64] = &[0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0];

/// How often buffered histogram samples are folded into their buckets when
/// nobody scrapes (a scrape folds them too).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

/// How a sign-in attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    Succeeded,
    /// A wrong username or password.
    Failed,
    /// Refused before any check: the username or client is locked out.
    Locked,
    /// Not checked: the hashing pool or the database could not take it.
    Unavailable,
}

impl SignIn {
    const ALL: [SignIn; 4] = [Self::Succeeded, Self::Failed, Self::Locked, Self::Unavailable];

    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Locked => "locked",
            Self::Unavailable => "unavailable",
        }
    }
}

/// The app's metrics; cheap to clone (one `Arc`), and inert when off.
#[derive(Clone, Default)]
pub struct Telemetry(Option<Arc<Inner>>);

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Per (route, method, status): the request counter and latency.
    http: RwLock<HashMap<RequestSeries, (Counter, Histogram)>>,
    /// Per policy: allowed, refused.
    decisions: RwLock<HashMap<Box<str>, [Counter; 2]>>,
    /// Per event type.
    security_events: RwLock<HashMap<&'static str, Counter>>,
    /// Per via ("token", "session"), then per [`SignIn`].
    sign_ins: RwLock<HashMap<&'static str, [Counter; 4]>>,
    events_dropped: Counter,
    store_fallbacks: Counter,
    /// Accepted, rejected.
    api_keys: [Counter; 2],
    pool_max: Gauge,
    pool_open: Gauge,
    pool_in_use: Gauge,
    pool_wait: Histogram,
    pool_timeouts: Counter,
}

/// A request series: route pattern (`None`: no route), method label, status.
type RequestSeries = (Option<String>, &'static str, u16);

/// The database pool as the scrape finds it.
#[derive(Debug, Clone, Copy)]
pub struct PoolGauges {
    pub max: u32,
    pub open: u32,
    pub idle: u32,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").field("enabled", &self.enabled()).finish()
    }
}

impl Telemetry {
    /// Metrics that keep nothing.
    pub fn off() -> Self {
        Self(None)
    }

    /// Metrics kept by a recorder of their own, folded every few seconds by
    /// a thread that ends when the last clone is dropped.
    pub fn on() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), REQUEST_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(POOL_WAIT.into()), POOL_WAIT_BUCKETS))
            .map(PrometheusBuilder::build_recorder);
        let recorder = match recorder {
            Ok(recorder) => recorder,
            // Only non-empty bucket lists are given; should that change,
            // latencies become summaries instead of failing the start.
            Err(e) => {
                log::error!("metrics: {e}; histograms are rendered as summaries");
                PrometheusBuilder::new().build_recorder()
            }
        };
        describe(&recorder);
        let counter = |name: &'static str, labels: &'static [Label]| {
            recorder.register_counter(&Key::from_static_parts(name, labels), &METADATA)
        };
        static ACCEPTED: [Label; 1] = [Label::from_static_parts("outcome", "accepted")];
        static REJECTED: [Label; 1] = [Label::from_static_parts("outcome", "rejected")];
        let inner = Inner {
            handle: recorder.handle(),
            http: RwLock::default(),
            decisions: RwLock::default(),
            security_events: RwLock::default(),
            sign_ins: RwLock::default(),
            events_dropped: counter(SECURITY_EVENTS_DROPPED, &[]),
            store_fallbacks: counter(RATE_LIMIT_STORE_FALLBACKS, &[]),
            api_keys: [counter(API_KEY_AUTHENTICATIONS, &ACCEPTED), counter(API_KEY_AUTHENTICATIONS, &REJECTED)],
            pool_max: recorder.register_gauge(&Key::from_static_name(POOL_MAX), &METADATA),
            pool_open: recorder.register_gauge(&Key::from_static_name(POOL_OPEN), &METADATA),
            pool_in_use: recorder.register_gauge(&Key::from_static_name(POOL_IN_USE), &METADATA),
            pool_wait: recorder.register_histogram(&Key::from_static_name(POOL_WAIT), &METADATA),
            pool_timeouts: counter(POOL_TIMEOUTS, &[]),
            recorder,
        };
        let inner = Arc::new(inner);
        // Every sign-in outcome is there from the start, so a rate over
        // them never begins with a missing series.
        for via in ["token", "session"] {
            let _ = inner.sign_ins(via);
        }
        spawn_upkeep(Arc::downgrade(&inner));
        Self(Some(inner))
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// One request answered: `route` is the pattern the router matched
    /// (`None`: no route), `method` a [`method_label`].
    pub fn request(&self, route: Option<String>, method: &'static str, status: u16, elapsed: Duration) {
        let Some(inner) = &self.0 else { return };
        let key = (route, method, status);
        let seconds = elapsed.as_secs_f64();
        {
            let series = inner.http.read().unwrap_or_else(|p| p.into_inner());
            if let Some((count, latency)) = series.get(&key) {
                count.increment(1);
                latency.record(seconds);
                return;
            }
        }
        let mut series = inner.http.write().unwrap_or_else(|p| p.into_inner());
        let (count, latency) = series.entry(key).or_insert_with_key(|(route, method, status)| {
            let labels = || {
                vec![
                    Label::new("route", route.clone().unwrap_or_else(|| UNMATCHED_ROUTE.to_owned())),
                    Label::from_static_parts("method", method),
                    Label::new("status", status.to_string()),
                ]
            };
            (
                inner.recorder.register_counter(&Key::from_parts(HTTP_REQUESTS, labels()), &METADATA),
                inner.recorder.register_histogram(&Key::from_parts(HTTP_DURATION, labels()), &METADATA),
            )
        });
        count.increment(1);
        latency.record(seconds);
    }

    /// A rate-limit quota let a request through (`refused: false`) or
    /// turned it away. `policy`: `anonymous-1h`, as the headers name it.
    pub fn rate_limit_decision(&self, policy: &str, refused: bool) {
        let Some(inner) = &self.0 else { return };
        let index = usize::from(refused);
        {
            let decisions = inner.decisions.read().unwrap_or_else(|p| p.into_inner());
            if let Some(counters) = decisions.get(policy) {
                counters[index].increment(1);
                return;
            }
        }
        let mut decisions = inner.decisions.write().unwrap_or_else(|p| p.into_inner());
        let counters = decisions.entry(Box::from(policy)).or_insert_with(|| {
            let counter = |outcome: &'static str| {
                let labels =
                    vec![Label::new("policy", policy.to_owned()), Label::from_static_parts("outcome", outcome)];
                inner.recorder.register_counter(&Key::from_parts(RATE_LIMIT_DECISIONS, labels), &METADATA)
            };
            [counter("allowed"), counter("refused")]
        });
        counters[index].increment(1);
    }

    /// A decision the shared store (Redis) could not make, made in process.
    pub fn rate_limit_store_fallback(&self) {
        if let Some(inner) = &self.0 {
            inner.store_fallbacks.increment(1);
        }
    }

    /// A password sign-in; `via`: `token` or `session`.
    pub fn sign_in(&self, via: &'static str, outcome: SignIn) {
        if let Some(inner) = &self.0 {
            let index = SignIn::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
            inner.sign_ins(via)[index].increment(1);
        }
    }

    /// A security event of type `kind` occurred (each occurrence, also those
    /// aggregated into one stored row).
    pub fn security_event(&self, kind: &'static str) {
        let Some(inner) = &self.0 else { return };
        {
            let counters = inner.security_events.read().unwrap_or_else(|p| p.into_inner());
            if let Some(counter) = counters.get(kind) {
                counter.increment(1);
                return;
            }
        }
        let mut counters = inner.security_events.write().unwrap_or_else(|p| p.into_inner());
        counters
            .entry(kind)
            .or_insert_with(|| {
                let labels = vec![Label::from_static_parts("type", kind)];
                inner.recorder.register_counter(&Key::from_parts(SECURITY_EVENTS, labels), &METADATA)
            })
            .increment(1);
    }

    /// A security event the full queue kept from the database (it was logged).
    pub fn security_event_dropped(&self) {
        if let Some(inner) = &self.0 {
            inner.events_dropped.increment(1);
        }
    }

    /// A request presented an API key, which was accepted or not.
    pub fn api_key(&self, accepted: bool) {
        if let Some(inner) = &self.0 {
            inner.api_keys[usize::from(!accepted)].increment(1);
        }
    }

    /// A database connection was checked out after waiting `waited`.
    pub fn pool_checkout(&self, waited: Duration) {
        if let Some(inner) = &self.0 {
            inner.pool_wait.record(waited.as_secs_f64());
        }
    }

    /// A checkout gave up: no connection came free in time.
    pub fn pool_timeout(&self) {
        if let Some(inner) = &self.0 {
            inner.pool_timeouts.increment(1);
        }
    }

    /// The Prometheus text of every series, with the pool as it is now;
    /// `None` when metrics are off.
    pub fn render(&self, pool: PoolGauges) -> Option<String> {
        let inner = self.0.as_ref()?;
        inner.pool_max.set(pool.max);
        inner.pool_open.set(pool.open);
        inner.pool_in_use.set(pool.open.saturating_sub(pool.idle));
        Some(inner.handle.render())
    }
}

impl Inner {
    fn sign_ins(&self, via: &'static str) -> [Counter; 4] {
        if let Some(counters) = self.sign_ins.read().unwrap_or_else(|p| p.into_inner()).get(via) {
            return counters.clone();
        }
        let mut sign_ins = self.sign_ins.write().unwrap_or_else(|p| p.into_inner());
        sign_ins
            .entry(via)
            .or_insert_with(|| {
                SignIn::ALL.map(|outcome| {
                    let labels = vec![
                        Label::from_static_parts("via", via),
                        Label::from_static_parts("outcome", outcome.as_str()),
                    ];
                    self.recorder.register_counter(&Key::from_parts(SIGN_INS, labels), &METADATA)
                })
            })
            .clone()
    }
}

/// The label of a request method: the standard ones by name, anything
/// else `other` (a client can invent any number of methods).
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];
    KNOWN.into_iter().find(|known| *known == method).unwrap_or("other")
}

fn describe(recorder: &PrometheusRecorder) {
    let help = |text: &'static str| SharedString::const_str(text);
    let name = KeyName::from_const_str;
    let counters = [
        (HTTP_REQUESTS, "Requests answered, by route pattern, method and status."),
        (RATE_LIMIT_DECISIONS, "Rate-limit quota decisions, by policy and outcome (allowed, refused)."),
        (RATE_LIMIT_STORE_FALLBACKS, "Rate-limit operations made in process because Redis did not answer."),
        (SIGN_INS, "Password sign-ins, by via (token, session) and outcome."),
        (SECURITY_EVENTS, "Security events, by type (every occurrence, also those aggregated into one row)."),
        (SECURITY_EVENTS_DROPPED, "Security events logged but not stored: the queue to the database was full."),
        (API_KEY_AUTHENTICATIONS, "Requests that presented an API key, by outcome (accepted, rejected)."),
        (POOL_TIMEOUTS, "Database connection checkouts that timed out (answered 503)."),
    ];
    for (metric, text) in counters {
        recorder.describe_counter(name(metric), None, help(text));
    }
    let gauges = [
        (POOL_MAX, "Most connections the database pool opens (SHELF_DATABASE_POOL_SIZE)."),
        (POOL_OPEN, "Open database connections."),
        (POOL_IN_USE, "Database connections checked out."),
    ];
    for (metric, text) in gauges {
        recorder.describe_gauge(name(metric), None, help(text));
    }
    let histograms = [
        (HTTP_DURATION, "Time from a request's arrival to its response, by route pattern, method and status."),
        (POOL_WAIT, "Time spent waiting for a database connection."),
    ];
    for (metric, text) in histograms {
        recorder.describe_histogram(name(metric), Some(Unit::Seconds), help(text));
    }
}

fn spawn_upkeep(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
        loop {
            std::thread::sleep(UPKEEP_EVERY);
            match inner.upgrade() {
                Some(inner) => inner.handle.run_upkeep(),
                None => return,
            }
        }
    });
    if let Err(e) = spawned {
        log::error!("metrics: cannot start the upkeep thread; histograms are folded at each scrape only: {e}");
    }
}
