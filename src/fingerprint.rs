//! Content fingerprints: the weak ETag that names a response body. One
//! function, so a tag computed ahead of time (a cached page's) is the same
//! tag the ETag middleware would compute from the body.

use std::hash::{DefaultHasher, Hasher};

/// `W/"…"`: weak, because it names the content before compression, so it
/// holds for every content-coding of the same body.
pub fn weak_etag(body: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    hasher.write(body);
    format!("W/\"{:016x}\"", hasher.finish())
}
