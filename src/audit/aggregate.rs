//! Repeated rejections of one client for one reason, folded into at most
//! one stored event a minute that carries their count, so a flood of bad
//! credentials cannot flood the audit trail (or the log).
//!
//! The first rejection of a (type, client, reason) is recorded at once
//! with `count: 1`. Later ones inside the window are only counted; the
//! first one after the window is recorded with the count of everything
//! since the last record, and opens a new window. A window that ends with
//! rejections counted but none recorded yet is closed by [`Aggregator::due`],
//! which the event writer calls every few seconds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Event, EventContext, NewEvent};

pub const WINDOW: Duration = Duration::from_secs(60);
/// Past this many open windows, closed ones are swept at once.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    event: Event,
    client_ip: Option<IpAddr>,
    reason: String,
}

struct Window {
    opened: Instant,
    /// Rejections counted since the last recorded one.
    unrecorded: u64,
    /// The latest of them, as it would have been recorded.
    latest: Option<NewEvent>,
}

#[derive(Default)]
pub struct Aggregator {
    windows: HashMap<Key, Window>,
}

impl Aggregator {
    /// The event to record now for this rejection, if any: `details` gets a
    /// `count` of the rejections it stands for.
    pub fn rejected(
        &mut self,
        context: &EventContext,
        event: Event,
        user_id: Option<i64>,
        details: Value,
        reason: &str,
        now: Instant,
    ) -> Option<NewEvent> {
        if self.windows.len() >= SWEEP_AT {
            self.windows.retain(|_, w| now.duration_since(w.opened) < WINDOW || w.unrecorded > 0);
        }
        let key = Key { event, client_ip: context.client_ip, reason: reason.to_owned() };
        let new = NewEvent::new(context, event, user_id, details);
        match self.windows.get_mut(&key) {
            Some(window) if now.duration_since(window.opened) < WINDOW => {
                window.unrecorded += 1;
                window.latest = Some(new);
                None
            }
            Some(window) => {
                let count = window.unrecorded + 1;
                *window = Window { opened: now, unrecorded: 0, latest: None };
                Some(with_count(new, count))
            }
            None => {
                self.windows.insert(key, Window { opened: now, unrecorded: 0, latest: None });
                Some(with_count(new, 1))
            }
        }
    }

    /// Events for windows that have closed with rejections still
    /// unrecorded: the latest of them, with their count. Each such window
    /// starts again, so the next rejection waits a window too; idle windows
    /// are forgotten.
    pub fn due(&mut self, now: Instant) -> Vec<NewEvent> {
        let mut due = Vec::new();
        self.windows.retain(|_, window| {
            if now.duration_since(window.opened) < WINDOW {
                return true;
            }
            match window.latest.take() {
                Some(latest) => {
                    due.push(with_count(latest, window.unrecorded));
                    *window = Window { opened: now, unrecorded: 0, latest: None };
                    true
                }
                None => false,
            }
        });
        due
    }
}

fn with_count(mut event: NewEvent, count: u64) -> NewEvent {
    if let Value::Object(details) = &mut event.details {
        details.insert("count".into(), count.into());
    }
    event
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn from(ip: &str) -> EventContext {
        EventContext { client_ip: ip.parse().ok(), request_id: None }
    }

    fn count(event: &NewEvent) -> u64 {
        event.details["count"].as_u64().unwrap()
    }

    #[test]
    fn a_flood_is_one_record_a_minute_with_its_count() {
        let mut aggregator = Aggregator::default();
        let start = Instant::now();
        let reject = |a: &mut Aggregator, at: Duration| {
            a.rejected(&from("192.0.2.1"), Event::ApiKeyRejected, None, json!({}), "unknown", start + at)
        };
        let first = reject(&mut aggregator, Duration::ZERO).unwrap();
        assert_eq!(count(&first), 1);
        for s in 1..30 {
            assert!(reject(&mut aggregator, Duration::from_secs(s)).is_none());
        }
        assert!(aggregator.due(start + Duration::from_secs(59)).is_empty());
        let summary = aggregator.due(start + Duration::from_secs(61));
        assert_eq!(summary.iter().map(count).collect::<Vec<_>>(), [29]);
        // The window started again with the summary.
        assert!(reject(&mut aggregator, Duration::from_secs(62)).is_none());
        assert_eq!(count(&reject(&mut aggregator, Duration::from_secs(122)).unwrap()), 2);
    }

    #[test]
    fn clients_reasons_and_types_have_windows_of_their_own() {
        let mut aggregator = Aggregator::default();
        let now = Instant::now();
        let mut reject = |ip: &str, event: Event, reason: &str| {
            aggregator.rejected(&from(ip), event, None, json!({}), reason, now).is_some()
        };
        assert!(reject("192.0.2.1", Event::ApiKeyRejected, "unknown"));
        assert!(reject("192.0.2.2", Event::ApiKeyRejected, "unknown"));
        assert!(reject("192.0.2.1", Event::ApiKeyRejected, "expired"));
        assert!(reject("192.0.2.1", Event::CsrfRejected, "unknown"));
        assert!(!reject("192.0.2.1", Event::ApiKeyRejected, "unknown"));
    }

    #[test]
    fn idle_windows_are_forgotten() {
        let mut aggregator = Aggregator::default();
        let now = Instant::now();
        aggregator.rejected(&from("192.0.2.1"), Event::ApiKeyRejected, None, json!({}), "unknown", now);
        assert!(aggregator.due(now + WINDOW).is_empty());
        assert!(aggregator.windows.is_empty());
    }
}
