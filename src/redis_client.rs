//! The Redis client's one way to connect: fail fast rather than retry,
//! because every caller (the shared rate-limit store, the credential-change
//! publisher) has a fallback for a Redis that does not answer.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long a Redis connection or command may take before Redis counts
/// as down: a shared store must never make a request slow.
const TIMEOUT: Duration = Duration::from_millis(250);

/// A connection that fails fast rather than retrying.
pub async fn connect(client: redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT))
        .set_number_of_retries(0);
    ConnectionManager::new_with_config(client, config).await
}
