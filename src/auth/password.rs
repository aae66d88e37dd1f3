//! argon2id password hashing, kept off the async threads and bounded in
//! concurrency (each hash holds ~19 MiB).

use std::sync::{Arc, LazyLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// A hash of a random string, verified against when the username is
/// unknown so that "no such user" costs the same time as "wrong password".
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let random: [u8; 32] = rand::random();
    hash_now(&random).ok()
});

/// `Argon2::default()` is argon2id, m = 19456 KiB, t = 2, p = 1: OWASP's
/// minimum. Verification reads the parameters stored in each hash.
fn hash_now(password: &[u8]) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("password hashing failed: {e}")))
}

fn verify_now(password: &[u8], stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| Argon2::default().verify_password(password, &parsed).is_ok())
        .unwrap_or(false)
}

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

impl Default for Passwords {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self { permits: Arc::new(Semaphore::new(cores * 2)) }
    }
}

impl Passwords {
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _permit = self.permits.acquire().await.map_err(|_| ApiError::Unavailable)?;
        actix_web::web::block(move || hash_now(password.as_bytes()))
            .await
            .map_err(|_| ApiError::internal("password hashing task panicked"))?
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// there is no stored hash (unknown user), so both take the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let _permit = self.permits.acquire().await.map_err(|_| ApiError::Unavailable)?;
        actix_web::web::block(move || match stored {
            Some(hash) => verify_now(password.as_bytes(), &hash),
            None => {
                if let Some(dummy) = DUMMY_HASH.as_deref() {
                    verify_now(password.as_bytes(), dummy);
                }
                false
            }
        })
        .await
        .map_err(|_| ApiError::internal("password verification task panicked"))
    }
}

/// Whether `stored` was made with weaker settings than today's (another
/// algorithm, or less memory, time or parallelism): such a hash is
/// replaced at the next successful sign-in, when the password is at hand.
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    let Ok(params) = argon2::Params::try_from(&parsed) else { return true };
    let current = argon2::Params::default();
    parsed.algorithm.as_str() != "argon2id"
        || params.m_cost() < current.m_cost()
        || params.t_cost() < current.t_cost()
        || params.p_cost() < current.p_cost()
}

/// Hashes on the calling thread; for the command line, where no executor runs.
pub fn hash_blocking(password: &str) -> Result<String, ApiError> {
    hash_now(password.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weaker_hashes_need_a_rehash_and_current_ones_do_not() {
        let current = hash_blocking("correct horse battery").unwrap();
        assert!(!needs_rehash(&current));
        let weak_params = argon2::Params::new(8 * 1024, 1, 1, None).unwrap();
        let weak = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, weak_params)
            .hash_password(b"correct horse battery")
            .unwrap()
            .to_string();
        assert!(needs_rehash(&weak));
        assert!(verify_now(b"correct horse battery", &weak), "still verifies until replaced");
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hash = hash_blocking("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_now(b"correct horse battery", &hash));
        assert!(!verify_now(b"wrong horse battery", &hash));
        assert!(!verify_now(b"anything", "not a hash"));
    }
}
