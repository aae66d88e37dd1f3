//! The in-process store: one governor `RateLimiter` per quota, over a state
//! store of our own (governor's `StateStore` extension point) that can also
//! be read, and refunded when a request turns out not to count (a 304, or a
//! request another quota refused).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use governor::clock::MonotonicClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota as GovernorQuota, RateLimiter};

use super::gcra::Params;
use super::{Cell, Outcome};
use crate::settings::Quota;

/// Sweep keys whose buckets are whole again every this many decisions.
const SWEEP_EVERY: u64 = 4096;

/// TATs by key, as nanoseconds from the limiter's start.
#[derive(Clone, Default)]
struct Tats(Arc<Mutex<HashMap<String, Nanos>>>);

impl Tats {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Nanos>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl StateStore for Tats {
    type Key = String;

    fn measure_and_replace<T, F, E>(&self, key: &String, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let mut tats = self.lock();
        let (value, next) = f(tats.get(key).copied())?;
        match tats.get_mut(key) {
            Some(tat) => *tat = next,
            None => {
                tats.insert(key.clone(), next);
            }
        }
        Ok(value)
    }
}

/// One quota's limiter and the state it keeps.
struct Bucket {
    limiter: RateLimiter<String, Tats, MonotonicClock, NoOpMiddleware<Instant>>,
    tats: Tats,
    /// When the limiter started counting (its TATs are relative to this).
    start: Instant,
    params: Params,
}

impl Bucket {
    fn new(quota: Quota) -> Option<Self> {
        let params = Params::of(quota);
        let governor_quota = GovernorQuota::with_period(params.t)?.allow_burst(NonZeroU32::new(quota.count)?);
        let tats = Tats::default();
        let start = Instant::now();
        let limiter = RateLimiter::new(governor_quota, tats.clone(), MonotonicClock);
        Some(Self { limiter, tats, start, params })
    }

    /// How far the key's TAT lies past `now`.
    fn ahead(&self, key: &str, now: Instant) -> Duration {
        let tat = self.tats.lock().get(key).map(|n| self.start + Duration::from(*n));
        tat.map_or(Duration::ZERO, |tat| tat.saturating_duration_since(now))
    }

    fn refund(&self, key: &str) {
        if let Some(tat) = self.tats.lock().get_mut(key) {
            *tat = Nanos::from(tat.as_u64().saturating_sub(self.params.t.as_nanos() as u64));
        }
    }

    fn sweep(&self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start).as_nanos() as u64;
        self.tats.lock().retain(|_, tat| tat.as_u64() > elapsed);
    }
}

#[derive(Default)]
pub struct MemoryStore {
    buckets: Mutex<HashMap<(&'static str, Quota), Arc<Bucket>>>,
    decisions: AtomicU64,
}

impl MemoryStore {
    fn bucket(&self, cell: &Cell) -> Option<Arc<Bucket>> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = (cell.limit, cell.quota);
        if let Some(bucket) = buckets.get(&id) {
            return Some(bucket.clone());
        }
        let bucket = Arc::new(Bucket::new(cell.quota)?);
        buckets.insert(id, bucket.clone());
        Some(bucket)
    }

    /// Takes one request from every cell, or from none: if a quota refuses,
    /// the cells already taken are given back.
    pub fn acquire(&self, cells: &[Cell]) -> Outcome {
        if self.decisions.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        let buckets: Vec<Option<Arc<Bucket>>> = cells.iter().map(|c| self.bucket(c)).collect();
        let mut refused = None;
        for (index, (cell, bucket)) in cells.iter().zip(&buckets).enumerate() {
            let Some(bucket) = bucket else { continue };
            if bucket.limiter.check_key(&cell.key).is_err() {
                refused = Some(index);
                for (taken, bucket) in cells.iter().zip(&buckets).take(index) {
                    if let Some(bucket) = bucket {
                        bucket.refund(&taken.key);
                    }
                }
                break;
            }
        }
        let now = Instant::now();
        let ahead =
            cells.iter().zip(&buckets).map(|(cell, b)| b.as_ref().map_or(Duration::ZERO, |b| b.ahead(&cell.key, now)));
        Outcome::decided(cells, ahead, refused)
    }

    /// The cells' standing without taking anything; `refused` names the
    /// first cell with no room.
    pub fn peek(&self, cells: &[Cell]) -> Outcome {
        let now = Instant::now();
        let ahead = cells.iter().map(|cell| self.bucket(cell).map_or(Duration::ZERO, |b| b.ahead(&cell.key, now)));
        Outcome::peeked(cells, ahead)
    }

    /// Forgets the cells' state: their quotas are whole again.
    pub fn clear(&self, cells: &[Cell]) {
        for cell in cells {
            if let Some(bucket) = self.bucket(cell) {
                bucket.tats.lock().remove(&cell.key);
            }
        }
    }

    /// Gives back one request to every cell (a 304 costs nothing).
    pub fn refund(&self, cells: &[Cell]) {
        for cell in cells {
            if let Some(bucket) = self.bucket(cell) {
                bucket.refund(&cell.key);
            }
        }
    }

    fn sweep(&self) {
        let buckets: Vec<Arc<Bucket>> =
            self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).values().cloned().collect();
        let now = Instant::now();
        for bucket in buckets {
            bucket.sweep(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(limit: &'static str, count: u32, seconds: u64) -> Cell {
        Cell::new(limit, Quota { count, period: Duration::from_secs(seconds) }, "ip:192.0.2.1".into())
    }

    #[test]
    fn a_refusal_by_one_quota_costs_nothing_in_the_others() {
        let store = MemoryStore::default();
        let cells = [cell("short", 1, 60), cell("long", 10, 3600)];
        assert_eq!(store.acquire(&cells).refused, None);
        let refused = store.acquire(&cells);
        assert_eq!(refused.refused, Some(0));
        assert_eq!(refused.standings[1].remaining, 9, "the long quota gave its cell back");
        assert_eq!(store.peek(&cells).standings[1].remaining, 9);
    }

    #[test]
    fn peek_takes_nothing_and_clear_and_refund_give_back() {
        let store = MemoryStore::default();
        let cells = [cell("login", 2, 60)];
        assert_eq!(store.peek(&cells).standings[0].remaining, 2);
        store.acquire(&cells);
        store.acquire(&cells);
        let full = store.peek(&cells);
        assert_eq!((full.refused, full.standings[0].remaining), (Some(0), 0));
        assert_eq!(full.standings[0].retry_after.map(|d| d.as_secs()), Some(29), "one refill is 30 s");
        store.refund(&cells);
        assert_eq!(store.peek(&cells).standings[0].remaining, 1);
        store.clear(&cells);
        assert_eq!(store.peek(&cells).standings[0].remaining, 2);
    }
}
