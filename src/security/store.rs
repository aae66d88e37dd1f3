//! The `security_events` table: a writer thread that inserts in batches and
//! prunes old rows, and the admin query.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::Value;

use super::{Event, EventContext, NewEvent};
use crate::db::{self, DbConnection, DbPool, schema::security_events};
use crate::error::ApiError;
use crate::on_backend;

/// Rows per insert statement and per prune statement.
const BATCH: usize = 500;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const STORE_ATTEMPTS: u32 = 3;

enum Command {
    Record(Box<NewEvent>),
    /// Answered once everything sent before it is stored.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Records events: logs at once, stores in the background.
pub struct SecurityEvents {
    sender: Sender<Command>,
}

impl SecurityEvents {
    /// Starts the writer thread; it stops when the last `SecurityEvents`
    /// is dropped, after storing what was sent.
    pub fn start(pool: DbPool, retention: Duration) -> Self {
        let (sender, receiver) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("security-events".into())
            .spawn(move || write_loop(&pool, &receiver, retention));
        if let Err(e) = spawned {
            log::error!("cannot start the security event writer; events are only logged: {e}");
        }
        Self { sender }
    }

    pub fn record(&self, context: &EventContext, event: Event, user_id: Option<i64>, details: Value) {
        let event = NewEvent::new(context, event, user_id, details);
        event.log();
        if self.sender.send(Command::Record(Box::new(event))).is_err() {
            log::error!("security event writer has stopped; the event above was only logged");
        }
    }

    /// Waits until every event recorded before this call is stored (or
    /// failed), so a read right after sees this instance's own events.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.sender.send(Command::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

fn write_loop(pool: &DbPool, receiver: &Receiver<Command>, retention: Duration) {
    let mut last_prune: Option<Instant> = None;
    loop {
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            prune(pool, retention);
            last_prune = Some(Instant::now());
        }
        let first = match receiver.recv_timeout(PRUNE_EVERY) {
            Ok(command) => command,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(command) = next {
            match command {
                Command::Record(event) => batch.push(*event),
                Command::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < BATCH { receiver.try_recv().ok() } else { None };
        }
        if !batch.is_empty() {
            store(pool, &batch);
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Tries a few times (a busy SQLite or a database restart should not lose
/// rows), then gives up on the batch: its log lines were written already.
fn store(pool: &DbPool, batch: &[NewEvent]) {
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
        .limit(BATCH as i64)
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
