//! Telling the other instances that credentials changed, through Redis
//! pub/sub, so a password change, a demotion, a deletion or a revocation
//! holds everywhere at once instead of within the cache's 10 seconds.
//!
//! Messages are best effort: one lost while Redis is unreachable only
//! leaves the cache's own bound. Each instance skips its own messages.

use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::cache::AuthCache;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A user's password, role or existence.
    User(i64),
    /// Sessions were revoked.
    Sessions(Vec<i64>),
}

impl Change {
    fn encode(&self) -> String {
        match self {
            Self::User(id) => format!("user:{id}"),
            Self::Sessions(ids) => {
                format!("sessions:{}", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
            }
        }
    }

    fn decode(raw: &str) -> Option<Self> {
        match raw.split_once(':')? {
            ("user", id) => id.parse().ok().map(Self::User),
            ("sessions", ids) => {
                ids.split(',').map(|id| id.parse().ok()).collect::<Option<Vec<_>>>().map(Self::Sessions)
            }
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Publisher {
    client: redis::Client,
    channel: String,
    instance: String,
    manager: Arc<tokio::sync::OnceCell<ConnectionManager>>,
}

impl Publisher {
    pub fn new(client: redis::Client, channel: String) -> Self {
        Self { client, channel, instance: uuid::Uuid::new_v4().simple().to_string(), manager: Default::default() }
    }

    /// Sends without waiting: the change has already been made and taken
    /// into account here.
    pub fn publish(&self, change: Change) {
        let message = format!("{}|{}", self.instance, change.encode());
        let (client, channel, cell) = (self.client.clone(), self.channel.clone(), self.manager.clone());
        actix_web::rt::spawn(async move {
            let manager = cell.get_or_try_init(|| crate::redis_client::connect(client)).await;
            let result = match manager {
                Ok(manager) => {
                    redis::cmd("PUBLISH").arg(&channel).arg(&message).query_async::<i64>(&mut manager.clone()).await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                log::warn!("could not tell other instances about a credential change (they notice within 10 s): {e}");
            }
        });
    }

    /// Listens for other instances' changes on a thread of its own, until
    /// the cache it feeds is dropped.
    pub fn listen(&self, cache: Weak<AuthCache>) {
        let (client, channel, instance) = (self.client.clone(), self.channel.clone(), self.instance.clone());
        let spawned = std::thread::Builder::new()
            .name("credential-changes".into())
            .spawn(move || listen(&client, &channel, &instance, &cache));
        if let Err(e) = spawned {
            log::error!("cannot listen for credential changes; other instances' changes take up to 10 s: {e}");
        }
    }
}

fn listen(client: &redis::Client, channel: &str, instance: &str, cache: &Weak<AuthCache>) {
    let poll = Duration::from_secs(1);
    while cache.strong_count() > 0 {
        let Ok(mut connection) = client.get_connection_with_timeout(poll) else {
            std::thread::sleep(poll);
            continue;
        };
        if connection.set_read_timeout(Some(poll)).is_err() {
            continue;
        }
        let mut pubsub = connection.as_pubsub();
        if pubsub.subscribe(channel).is_err() {
            std::thread::sleep(poll);
            continue;
        }
        loop {
            match pubsub.get_message() {
                Ok(message) => {
                    let Some(cache) = cache.upgrade() else { return };
                    let payload: String = message.get_payload().unwrap_or_default();
                    let change = payload
                        .split_once('|')
                        .filter(|(sender, _)| *sender != instance)
                        .and_then(|(_, change)| Change::decode(change));
                    if let Some(change) = change {
                        cache.apply(&change);
                    }
                }
                Err(e) if e.is_timeout() => {
                    if cache.strong_count() == 0 {
                        return;
                    }
                }
                // Connection lost: reconnect (changes sent meanwhile fall
                // back to the cache's 10 s).
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_and_garbage_is_ignored() {
        for change in [Change::User(7), Change::Sessions(vec![1, 22, 333])] {
            assert_eq!(Change::decode(&change.encode()), Some(change));
        }
        for garbage in ["", "user:", "user:x", "sessions:1,,2", "role:1"] {
            assert_eq!(Change::decode(garbage), None, "{garbage}");
        }
    }
}
