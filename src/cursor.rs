//! Opaque, tamper-evident cursors: a position the server handed out,
//! returned by the client unread. The payload is JSON, base64url, followed
//! by its HMAC-SHA256 under a key derived from the signing secret, so every
//! instance sharing that secret accepts the others' cursors and nothing a
//! client edits or forges is ever parsed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longer than any cursor shelf makes (a 200-character query is the bulk);
/// refused before any decoding or MAC work.
pub const MAX_LENGTH: usize = 2048;

/// Why a cursor was refused. The client learns only that it is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorError {
    Malformed,
    BadSignature,
}

pub struct CursorKey(HmacSha256);

impl CursorKey {
    /// The key is HMAC(secret, purpose): the signing secret itself never
    /// signs anything but tokens, and a cursor can never pass as a token.
    pub fn derive(secret: &[u8]) -> Self {
        let mut derive = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable_key());
        derive.update(b"shelf cursor key v1");
        let key = derive.finalize().into_bytes();
        Self(HmacSha256::new_from_slice(&key).unwrap_or_else(|_| unreachable_key()))
    }

    pub fn seal(&self, payload: &impl Serialize) -> String {
        // Serializing a plain data type to JSON cannot fail.
        let json = serde_json::to_vec(payload).unwrap_or_default();
        let mut mac = self.0.clone();
        mac.update(&json);
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&json), URL_SAFE_NO_PAD.encode(tag))
    }

    pub fn open<T: DeserializeOwned>(&self, cursor: &str) -> Result<T, CursorError> {
        if cursor.len() > MAX_LENGTH {
            return Err(CursorError::Malformed);
        }
        let (payload, tag) = cursor.split_once('.').ok_or(CursorError::Malformed)?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| CursorError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| CursorError::Malformed)?;
        let mut mac = self.0.clone();
        mac.update(&json);
        mac.verify_slice(&tag).map_err(|_| CursorError::BadSignature)?;
        // Signed by us, so it parses; a payload from an older shape of the
        // cursor does not, and is refused like a forged one.
        serde_json::from_slice(&json).map_err(|_| CursorError::Malformed)
    }
}

/// HMAC accepts keys of any length, so construction cannot fail.
fn unreachable_key() -> HmacSha256 {
    unreachable!("HMAC-SHA256 takes keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Position {
        after: i64,
    }

    #[test]
    fn a_sealed_cursor_opens_with_the_same_key_only() {
        let key = CursorKey::derive(b"0123456789abcdef0123456789abcdef");
        let cursor = key.seal(&Position { after: 42 });
        assert_eq!(key.open::<Position>(&cursor), Ok(Position { after: 42 }));
        let other = CursorKey::derive(b"another secret of enough length!");
        assert_eq!(other.open::<Position>(&cursor), Err(CursorError::BadSignature));
    }

    #[test]
    fn an_edited_payload_or_tag_is_refused() {
        let key = CursorKey::derive(b"0123456789abcdef0123456789abcdef");
        let cursor = key.seal(&Position { after: 42 });
        let (payload, tag) = cursor.split_once('.').unwrap_or_default();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(br#"{"after":1}"#));
        assert_eq!(key.open::<Position>(&forged), Err(CursorError::BadSignature));
        let mut bad_tag = tag.to_owned();
        bad_tag.replace_range(0..1, if tag.starts_with('A') { "B" } else { "A" });
        assert_eq!(key.open::<Position>(&format!("{payload}.{bad_tag}")), Err(CursorError::BadSignature));
        assert_eq!(key.open::<Position>(payload), Err(CursorError::Malformed));
        assert_eq!(key.open::<Position>("%%%.###"), Err(CursorError::Malformed));
        assert_eq!(key.open::<Position>(&"a".repeat(MAX_LENGTH + 1)), Err(CursorError::Malformed));
    }
}
