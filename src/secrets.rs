//! Random values for generated passwords and signing secrets.

use rand::Rng;

/// `bytes` random bytes, hex-encoded (2 characters per byte).
pub fn random_token(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}
