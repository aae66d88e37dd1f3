//! The `security_events` table: a writer thread that inserts in batches and
//! prunes old rows, and the admin query.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::aggregate::Aggregator;
use super::{Event, EventContext, NewEvent};
use crate::db::{self, DbConnection, DbPool, schema::security_events};
use crate::error::ApiError;
use crate::on_backend;
use crate::telemetry::Telemetry;

/// Rows per insert statement and per prune statement.
const BATCH: usize = 500;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const STORE_ATTEMPTS: u32 = 3;
/// Events waiting for the writer, at most: past this, new ones are only
/// logged (and counted), so a flood cannot grow memory without bound.
const QUEUE: usize = 10_000;
/// How often the writer wakes with nothing to write, to close aggregation
/// windows and report drops.
const TICK: Duration = Duration::from_secs(5);
/// A flush never waits longer than this for a stuck writer.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// What the recording side and the writer thread share.
struct Shared {
    aggregator: Mutex<Aggregator>,
    /// Events that found the queue full since the writer last reported.
    dropped: AtomicU64,
    /// Events queued so far.
    queued: AtomicU64,
    telemetry: Telemetry,
}

/// Records events: logs at once, stores in the background.
pub struct SecurityEvents {
    sender: SyncSender<NewEvent>,
    shared: Arc<Shared>,
    /// Events the writer has taken off the queue (stored, or failed).
    written: watch::Receiver<u64>,
}

impl SecurityEvents {
    /// Starts the writer thread; it stops when the last `SecurityEvents`
    /// is dropped, after storing what was sent.
    pub fn start(pool: DbPool, retention: Duration, telemetry: Telemetry) -> Self {
        Self::start_with_queue(pool, retention, QUEUE, telemetry)
    }

    /// The same with a queue of `queue` events (tests fill a small one).
    pub fn start_with_queue(pool: DbPool, retention: Duration, queue: usize, telemetry: Telemetry) -> Self {
        let (sender, receiver) = mpsc::sync_channel(queue);
        let shared = Arc::new(Shared {
            aggregator: Mutex::default(),
            dropped: AtomicU64::default(),
            queued: AtomicU64::default(),
            telemetry,
        });
        let (progress, written) = watch::channel(0);
        let writer = Writer { pool, receiver, retention, shared: shared.clone(), progress };
        let spawned = std::thread::Builder::new().name("security-events".into()).spawn(move || writer.run());
        if let Err(e) = spawned {
            log::error!("cannot start the security event writer; events are only logged: {e}");
        }
        Self { sender, shared, written }
    }

    pub fn record(&self, context: &EventContext, event: Event, user_id: Option<i64>, details: Value) {
        self.shared.telemetry.security_event(event.as_str());
        self.enqueue(NewEvent::new(context, event, user_id, details));
    }

    /// A rejection (a bad credential, a refused write): recorded at most
    /// once a minute per client, event type and `reason`, with a count.
    pub fn record_rejection(
        &self,
        context: &EventContext,
        event: Event,
        user_id: Option<i64>,
        details: Value,
        reason: &str,
    ) {
        self.shared.telemetry.security_event(event.as_str());
        let due = self.shared.aggregator.lock().unwrap_or_else(|p| p.into_inner()).rejected(
            context,
            event,
            user_id,
            details,
            reason,
            Instant::now(),
        );
        if let Some(event) = due {
            self.enqueue(event);
        }
    }

    fn enqueue(&self, event: NewEvent) {
        event.log();
        match self.sender.try_send(event) {
            Ok(()) => {
                self.shared.queued.fetch_add(1, Ordering::AcqRel);
            }
            Err(TrySendError::Full(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                self.shared.telemetry.security_event_dropped();
            }
            Err(TrySendError::Disconnected(_)) => {
                log::error!("security event writer has stopped; the event above was only logged");
            }
        }
    }

    /// Waits until every event queued before this call is stored (or
    /// failed), so a read right after sees this instance's own events.
    pub async fn flush(&self) {
        let target = self.shared.queued.load(Ordering::Acquire);
        let mut written = self.written.clone();
        let _ = actix_web::rt::time::timeout(FLUSH_WAIT, written.wait_for(|n| *n >= target)).await;
    }
}

struct Writer {
    pool: DbPool,
    receiver: Receiver<NewEvent>,
    retention: Duration,
    shared: Arc<Shared>,
    progress: watch::Sender<u64>,
}

impl Writer {
    fn run(self) {
        let mut last_prune: Option<Instant> = None;
        let mut written = 0;
        loop {
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                prune(&self.pool, self.retention);
                last_prune = Some(Instant::now());
            }
            let mut batch = self.housekeeping();
            let mut taken = 0;
            let next = match self.receiver.recv_timeout(TICK) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    store(&self.pool, &batch);
                    return;
                }
            };
            if let Some(first) = next {
                batch.push(first);
                taken += 1;
                while batch.len() < BATCH {
                    match self.receiver.try_recv() {
                        Ok(event) => {
                            batch.push(event);
                            taken += 1;
                        }
                        Err(_) => break,
                    }
                }
            }
            if !batch.is_empty() {
                store(&self.pool, &batch);
            }
            written += taken;
            self.progress.send_replace(written);
        }
    }

    /// Aggregated rejections whose window closed, and a record of events
    /// the full queue turned away.
    fn housekeeping(&self) -> Vec<NewEvent> {
        let mut due = self.shared.aggregator.lock().unwrap_or_else(|p| p.into_inner()).due(Instant::now());
        for event in &due {
            event.log();
        }
        let dropped = self.shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            log::error!(
                "the security event queue was full: {dropped} event(s) were logged but not stored in the database"
            );
            let event =
                NewEvent::new(&EventContext::default(), Event::SecurityEventsDropped, None, json!({"count": dropped}));
            self.shared.telemetry.security_event(event.event.as_str());
            event.log();
            due.push(event);
        }
        due
    }
}

/// Tries a few times (a busy SQLite or a database restart should not lose
/// rows), then gives up on the batch: its log lines were written already.
fn store(pool: &DbPool, batch: &[NewEvent]) {
    if batch.is_empty() {
        return;
    }
    let mut last_error = String::new();
    for attempt in 0..STORE_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
        }
        let result = pool
            .get()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| insert(&mut conn, batch).map_err(|e| e.to_string()));
        match result {
            Ok(_) => return,
            Err(e) => last_error = e,
        }
    }
    log::error!("could not store {} security event(s): {last_error}", batch.len());
}

pub fn insert(conn: &mut DbConnection, events: &[NewEvent]) -> QueryResult<usize> {
    let rows: Vec<_> = events
        .iter()
        .map(|e| {
            (
                security_events::occurred_at.eq(e.occurred_at),
                security_events::event_type.eq(e.event.as_str()),
                security_events::user_id.eq(e.user_id),
                security_events::client_ip.eq(e.client_ip.as_deref()),
                security_events::request_id.eq(e.request_id.as_deref()),
                security_events::details.eq(e.details.to_string()),
            )
        })
        .collect();
    on_backend!(conn, c => diesel::insert_into(security_events::table).values(rows).execute(c))
}

/// Logs and stores one event synchronously, for the command line.
pub fn record_now(conn: &mut DbConnection, event: Event, user_id: Option<i64>, details: Value) -> QueryResult<()> {
    let event = NewEvent::new(&EventContext::command_line(), event, user_id, details);
    event.log();
    insert(conn, std::slice::from_ref(&event)).map(|_| ())
}

/// Deletes rows older than `retention`, a batch at a time so no statement
/// holds the write lock for long.
fn prune(pool: &DbPool, retention: Duration) {
    let cutoff = db::now().saturating_sub(crate::time::seconds(retention));
    let result = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
        let mut total = 0;
        loop {
            let removed = prune_batch(&mut conn, cutoff).map_err(|e| e.to_string())?;
            total += removed;
            if removed < BATCH {
                return Ok(total);
            }
        }
    });
    match result {
        Ok(0) => {}
        Ok(n) => log::info!("pruned {n} security event(s) older than the retention period"),
        Err(e) => log::error!("could not prune security events: {e}"),
    }
}

pub fn prune_batch(conn: &mut DbConnection, cutoff: i64) -> QueryResult<usize> {
    let old: Vec<i64> = security_events::table
        .filter(security_events::occurred_at.lt(cutoff))
        .select(security_events::id)
        .order(security_events::id.asc())
        .limit(i64::try_from(BATCH).unwrap_or(i64::MAX))
        .load(conn)?;
    if old.is_empty() {
        return Ok(0);
    }
    diesel::delete(security_events::table.filter(security_events::id.eq_any(old))).execute(conn)
}

#[derive(Debug, Queryable)]
pub struct EventRow {
    pub id: i64,
    pub occurred_at: i64,
    pub event_type: String,
    pub user_id: Option<i64>,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
}

/// What the admin asked for; every field narrows the result.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFilter {
    pub event: Option<Event>,
    pub user_id: Option<i64>,
    pub since: Option<i64>,
    /// Only events with a smaller id: the paging cursor.
    pub before: Option<i64>,
    pub limit: i64,
}

/// Newest first.
pub fn query(conn: &mut DbConnection, filter: EventFilter) -> Result<Vec<EventRow>, ApiError> {
    let mut q = security_events::table.into_boxed::<db::DbBackend>();
    if let Some(event) = filter.event {
        q = q.filter(security_events::event_type.eq(event.as_str()));
    }
    if let Some(user_id) = filter.user_id {
        q = q.filter(security_events::user_id.eq(user_id));
    }
    if let Some(since) = filter.since {
        q = q.filter(security_events::occurred_at.ge(since));
    }
    if let Some(before) = filter.before {
        q = q.filter(security_events::id.lt(before));
    }
    Ok(q.order(security_events::id.desc())
        .limit(filter.limit)
        .select((
            security_events::id,
            security_events::occurred_at,
            security_events::event_type,
            security_events::user_id,
            security_events::client_ip,
            security_events::request_id,
            security_events::details,
        ))
        .load(conn)?)
}
