//! The shared store: the same GCRA in Redis, one Lua script per decision,
//! so N instances allow together what one would allow alone. Time comes
//! from Redis (`TIME`), so the instances' clocks do not matter.
//!
//! When Redis does not answer, decisions fall back to the in-process store
//! (each instance then limits on its own), one `rate_limit_store_unavailable`
//! event is recorded per outage, and Redis is tried again at most once a
//! second until it answers (`rate_limit_store_recovered`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::Script;
use redis::aio::ConnectionManager;
use serde_json::json;

use super::gcra::Params;
use super::memory::MemoryStore;
use super::{Cell, Outcome};
use crate::audit::{Event, EventContext, SecurityEvents};
use crate::telemetry::Telemetry;

/// Takes one request from every key or from none. KEYS: one per quota;
/// ARGV: `t` and `tau` in microseconds per key. Returns the index (1-based)
/// of the refusing quota or 0, then each key's TAT minus now, in µs.
const ACQUIRE: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tats = {}
local refused = 0
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  tats[i] = tat
  if refused == 0 and now < tat - tonumber(ARGV[2 * i]) then refused = i end
end
if refused == 0 then
  for i, key in ipairs(KEYS) do
    tats[i] = tats[i] + tonumber(ARGV[2 * i - 1])
    redis.call('SET', key, tats[i], 'PX', math.ceil((tats[i] - now) / 1000) + 1000)
  end
end
local result = {refused}
for i = 1, #KEYS do result[i + 1] = tats[i] - now end
return result
";

/// Each key's TAT minus now, in µs, taking nothing.
const PEEK: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local result = {}
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key)) or now
  result[i] = math.max(tat - now, 0)
end
return result
";

/// Gives back one request per key. ARGV: `t` in µs per key.
const REFUND: &str = r"
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key))
  if tat then
    local ttl = redis.call('PTTL', key)
    if ttl > 0 then redis.call('SET', key, tat - tonumber(ARGV[i]), 'PX', ttl) end
  end
end
return 0
";

const RETRY_EVERY: Duration = Duration::from_secs(1);

/// A script's "TAT minus now" in microseconds (never negative).
fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(0))
}
struct Connection {
    manager: Option<ConnectionManager>,
    /// Set while Redis is unreachable: since when, and when to try again.
    down: Option<(Instant, Instant)>,
}

pub struct RedisStore {
    client: redis::Client,
    prefix: String,
    connection: Mutex<Connection>,
    acquire: Script,
    peek: Script,
    refund: Script,
    fallback: MemoryStore,
    telemetry: Telemetry,
}

impl RedisStore {
    pub fn new(url: &str, prefix: String, telemetry: Telemetry) -> redis::RedisResult<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            prefix,
            connection: Mutex::new(Connection { manager: None, down: None }),
            acquire: Script::new(ACQUIRE),
            peek: Script::new(PEEK),
            refund: Script::new(REFUND),
            fallback: MemoryStore::default(),
            telemetry,
        })
    }

    fn key(&self, cell: &Cell) -> String {
        format!("{}{}:{}/{}s:{}", self.prefix, cell.limit, cell.quota.count, cell.quota.period.as_secs(), cell.key)
    }

    /// A connection, unless Redis is down and not due for another try.
    async fn manager(&self) -> Option<ConnectionManager> {
        {
            let connection = self.connection.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, retry_at)) = connection.down
                && Instant::now() < retry_at
            {
                return None;
            }
            if let Some(manager) = &connection.manager {
                return Some(manager.clone());
            }
        }
        let manager = crate::redis_client::connect(self.client.clone()).await.ok()?;
        self.connection.lock().unwrap_or_else(|p| p.into_inner()).manager = Some(manager.clone());
        Some(manager)
    }

    fn went_down(&self, events: &SecurityEvents, error: &str) {
        let mut connection = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match connection.down {
            Some((since, _)) => connection.down = Some((since, now + RETRY_EVERY)),
            None => {
                connection.down = Some((now, now + RETRY_EVERY));
                connection.manager = None;
                log::error!("rate-limit store unreachable, limiting in-process until it answers: {error}");
                events.record(
                    &EventContext::default(),
                    Event::RateLimitStoreUnavailable,
                    None,
                    json!({"fallback": "in-process"}),
                );
            }
        }
    }

    fn answered(&self, events: &SecurityEvents) {
        let mut connection = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((since, _)) = connection.down.take() {
            log::info!("rate-limit store answers again");
            events.record(
                &EventContext::default(),
                Event::RateLimitStoreRecovered,
                None,
                json!({"down_seconds": since.elapsed().as_secs()}),
            );
        }
    }

    /// Redis's answer, or the in-process store's when Redis has none.
    fn or_fallback(
        &self,
        events: &SecurityEvents,
        answer: Result<Outcome, String>,
        fallback: impl FnOnce(&MemoryStore) -> Outcome,
    ) -> Outcome {
        match answer {
            Ok(outcome) => {
                self.answered(events);
                outcome
            }
            Err(error) => {
                self.went_down(events, &error);
                self.telemetry.rate_limit_store_fallback();
                fallback(&self.fallback)
            }
        }
    }

    pub async fn acquire(&self, cells: &[Cell], events: &SecurityEvents) -> Outcome {
        let answer = self.try_acquire(cells).await;
        self.or_fallback(events, answer, |memory| memory.acquire(cells))
    }

    async fn try_acquire(&self, cells: &[Cell]) -> Result<Outcome, String> {
        let mut manager = self.manager().await.ok_or("no connection")?;
        let mut invocation = self.acquire.prepare_invoke();
        for cell in cells {
            let Params { t, tau } = Params::of(cell.quota);
            invocation.key(self.key(cell)).arg(t.as_micros() as u64).arg(tau.as_micros() as u64);
        }
        let reply: Vec<i64> = invocation.invoke_async(&mut manager).await.map_err(|e| e.to_string())?;
        let (refused, ahead) = reply.split_first().ok_or("empty reply")?;
        let refused = usize::try_from(*refused).ok().and_then(|i| i.checked_sub(1));
        Ok(Outcome::decided(cells, ahead.iter().map(|us| micros(*us)), refused))
    }

    pub async fn peek(&self, cells: &[Cell], events: &SecurityEvents) -> Outcome {
        let answer = self.try_peek(cells).await;
        self.or_fallback(events, answer, |memory| memory.peek(cells))
    }

    async fn try_peek(&self, cells: &[Cell]) -> Result<Outcome, String> {
        let mut manager = self.manager().await.ok_or("no connection")?;
        let mut invocation = self.peek.prepare_invoke();
        for cell in cells {
            invocation.key(self.key(cell));
        }
        let ahead: Vec<i64> = invocation.invoke_async(&mut manager).await.map_err(|e| e.to_string())?;
        Ok(Outcome::peeked(cells, ahead.into_iter().map(micros)))
    }

    pub async fn clear(&self, cells: &[Cell], events: &SecurityEvents) {
        self.fallback.clear(cells);
        let Some(mut manager) = self.manager().await else { return };
        let keys: Vec<String> = cells.iter().map(|c| self.key(c)).collect();
        if let Err(error) = redis::cmd("DEL").arg(keys).query_async::<i64>(&mut manager).await {
            self.went_down(events, &error.to_string());
        }
    }

    pub async fn refund(&self, cells: &[Cell], events: &SecurityEvents) {
        let Some(mut manager) = self.manager().await else {
            self.telemetry.rate_limit_store_fallback();
            self.fallback.refund(cells);
            return;
        };
        let mut invocation = self.refund.prepare_invoke();
        for cell in cells {
            invocation.key(self.key(cell)).arg(Params::of(cell.quota).t.as_micros() as u64);
        }
        if let Err(error) = invocation.invoke_async::<i64>(&mut manager).await {
            self.went_down(events, &error.to_string());
        }
    }
}
