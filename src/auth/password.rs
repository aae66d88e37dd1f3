//! argon2id password hashing, on a small pool of its own low-priority
//! threads so that sign-ins never take the threads or the cores that serve
//! reads, with a bounded wait: a check that would queue longer than a
//! fraction of a second is refused at once with 503 `sign_in_busy` and
//! `Retry-After`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};

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

/// The longest a password check may wait for a hashing thread. Beyond it a
/// client is better told to come back than kept waiting (and holding a
/// connection) while the queue grows.
const MAX_WAIT: Duration = Duration::from_millis(250);

/// The hashing threads' nice value (0 is normal, 19 the lowest priority).
/// A read that wakes while a hash is running then gets the core at once
/// instead of after the hash's time slice; hashing gets what reads leave.
const HASHING_NICE: i32 = 10;

/// What one hash is assumed to take until the first one has been timed.
const FIRST_ESTIMATE: Duration = Duration::from_millis(100);

/// Password hashing and checking: each call runs on the hashing pool.
/// Cloning shares the pool.
#[derive(Clone)]
pub struct Passwords {
    pool: Arc<Pool>,
}

struct Pool {
    size: usize,
    /// Started at the first check, so commands and test apps that never
    /// check a password start no threads.
    threads: OnceLock<Result<rayon::ThreadPool, String>>,
    /// Checks admitted and not yet finished, running or waiting.
    admitted: AtomicUsize,
    /// How long one hash takes on this machine as loaded now (a moving
    /// average, in microseconds), for the expected wait.
    hash_micros: AtomicU64,
}

/// A place in the pool, given back when the check finishes (or panics), or
/// when it is dropped unused.
pub struct Admission(Arc<Pool>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Passwords {
    pub fn with_threads(size: usize) -> Self {
        let pool = Pool {
            size: size.max(1),
            threads: OnceLock::new(),
            admitted: AtomicUsize::new(0),
            hash_micros: AtomicU64::new(FIRST_ESTIMATE.as_micros() as u64),
        };
        Self { pool: Arc::new(pool) }
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move || hash_now(password.as_bytes())).await?
    }

    /// A place for one password check, or 503 `sign_in_busy` at once when
    /// it would wait past the bound. Taken before anything else a check
    /// costs (the failure counts, the account lookup), so a refused sign-in
    /// costs nothing else.
    pub fn admit(&self) -> Result<Admission, ApiError> {
        self.pool.admit()
    }

    /// Checks `password` against `stored`, or against the dummy hash when
    /// there is no stored hash (unknown user), so both take the same time,
    /// in the place `admission` holds.
    pub async fn verify(
        &self,
        admission: Admission,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        self.run_admitted(admission, move || match stored {
            Some(hash) => verify_now(password.as_bytes(), &hash),
            None => {
                if let Some(dummy) = DUMMY_HASH.as_deref() {
                    verify_now(password.as_bytes(), dummy);
                }
                false
            }
        })
        .await
    }

    /// Runs `work` (one hash) on the pool, or refuses at once when it would
    /// wait longer than [`MAX_WAIT`].
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        self.run_admitted(self.pool.admit()?, work).await
    }

    async fn run_admitted<T: Send + 'static>(
        &self,
        admission: Admission,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let threads = self.pool.threads()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pool = self.pool.clone();
        threads.spawn_fifo(move || {
            let started = Instant::now();
            let result = work();
            pool.timed(started.elapsed());
            drop(admission);
            // The caller may have gone (the client hung up); nothing to do.
            let _ = reply.send(result);
        });
        answer.await.map_err(|_| ApiError::internal("password hashing panicked"))
    }
}

impl Pool {
    fn threads(&self) -> Result<&rayon::ThreadPool, ApiError> {
        let threads = self.threads.get_or_init(|| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(self.size)
                .thread_name(|n| format!("shelf-argon2-{n}"))
                .start_handler(|_| {
                    // On Linux the nice value is per thread: this one only.
                    if let Err(e) = rustix::process::setpriority_process(None, HASHING_NICE) {
                        log::warn!("could not lower the priority of a password hashing thread: {e}");
                    }
                })
                // Without a handler rayon aborts the process on a panic; the
                // waiting request gets its 500 from the dropped reply.
                .panic_handler(|_| log::error!("password hashing panicked"))
                .build()
                .map_err(|e| e.to_string())?;
            // Made now, not at the first unknown username, which would
            // otherwise take two hashes' time and stand out.
            pool.spawn(|| {
                LazyLock::force(&DUMMY_HASH);
            });
            Ok(pool)
        });
        threads.as_ref().map_err(|e| ApiError::internal(format!("cannot start the password hashing threads: {e}")))
    }

    /// Admits a check if the checks ahead of it finish within
    /// [`MAX_WAIT`]; else 503 `sign_in_busy` with the time until the queue
    /// has drained as `Retry-After`.
    fn admit(self: &Arc<Self>) -> Result<Admission, ApiError> {
        let ahead = self.admitted.fetch_add(1, Ordering::SeqCst);
        let admission = Admission(self.clone());
        if ahead < self.size {
            return Ok(admission);
        }
        let hash = Duration::from_micros(self.hash_micros.load(Ordering::Relaxed));
        // Rounds of hashing before a thread comes free for this check.
        let rounds = (ahead + 1 - self.size).div_ceil(self.size) as u32;
        if hash * rounds <= MAX_WAIT {
            return Ok(admission);
        }
        let drained = hash * (ahead.div_ceil(self.size) as u32);
        Err(ApiError::SignInBusy { retry_after_seconds: crate::limits::gcra::ceil_seconds(drained).max(1) })
    }

    /// Folds one hash's time into the average (weight 1/8: a few hashes
    /// follow a change in load, one slow hash does not swing it).
    fn timed(&self, took: Duration) {
        let took = took.as_micros() as u64;
        let _ = self
            .hash_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |average| Some(average - average / 8 + took / 8));
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
    fn checks_that_would_wait_past_the_bound_are_refused_until_places_free_up() {
        let passwords = Passwords::with_threads(2);
        let pool = &passwords.pool;
        pool.hash_micros.store(100_000, Ordering::Relaxed);
        // Two run at once, two more wait one 100 ms round, two more two
        // rounds (200 ms); a third round would pass the 250 ms bound.
        let admitted: Vec<_> = (0..6).map(|_| pool.admit().unwrap()).collect();
        match pool.admit() {
            Err(ApiError::SignInBusy { retry_after_seconds }) => assert_eq!(retry_after_seconds, 1),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("admitted past the bound"),
        }
        assert_eq!(pool.admitted.load(Ordering::SeqCst), 6, "a refusal holds no place");
        drop(admitted);
        assert!(pool.admit().is_ok());
    }

    #[test]
    fn the_expected_hash_time_follows_the_measured_one() {
        let passwords = Passwords::with_threads(1);
        for _ in 0..64 {
            passwords.pool.timed(Duration::from_millis(20));
        }
        let average = passwords.pool.hash_micros.load(Ordering::Relaxed);
        assert!((19_000..=21_000).contains(&average), "{average}");
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
