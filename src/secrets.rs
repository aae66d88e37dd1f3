//! Random values and their hashes: generated passwords, signing secrets,
//! refresh tokens, session cookies and API keys.
//!
//! Credentials that the server must recognise later (refresh tokens, session
//! cookies, API key secrets) carry 256 bits of randomness, so a plain SHA-256
//! is enough to store them: there is nothing to brute-force, unlike a
//! password, and looking one up costs microseconds instead of argon2's
//! tens of milliseconds.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// `bytes` random bytes, hex-encoded (2 characters per byte).
pub fn random_token(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

/// `chars` random characters of `[A-Za-z0-9]` (5.95 bits each), safe in
/// cookies, headers and `_`-separated key formats.
pub fn random_alphanumeric(chars: usize) -> String {
    rand::rng().sample_iter(Alphanumeric).take(chars).map(char::from).collect()
}

/// 43 alphanumeric characters: just over 256 bits.
pub const CREDENTIAL_CHARS: usize = 43;

/// A new credential secret of 256 bits.
pub fn new_credential() -> String {
    random_alphanumeric(CREDENTIAL_CHARS)
}

/// The hex SHA-256 of `value`, as stored in place of a credential.
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets (or their hashes) without leaking, through timing,
/// how long a prefix matched.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_long_random_and_alphanumeric() {
        let a = new_credential();
        let b = new_credential();
        assert_eq!(a.len(), CREDENTIAL_CHARS);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        // 43 characters of a 62-letter alphabet carry at least 256 bits.
        assert!(CREDENTIAL_CHARS as f64 * 62f64.log2() >= 256.0);
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(constant_time_eq("same", "same"));
        assert!(!constant_time_eq("same", "sane"));
        assert!(!constant_time_eq("short", "shorter"));
    }
}
