//! Rendered pages, kept so that a repeated page costs no database round
//! trip, by a key their feature derives from what was asked. A write through
//! this instance empties the cache at once; writes by another instance (or
//! the CLI) show within `FRESH`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;

use crate::fingerprint::weak_etag;

/// How long a page may be served without asking the database again.
pub const FRESH: Duration = Duration::from_secs(1);
/// Bound memory against clients asking for many distinct searches: by
/// count, and by bytes (a page of 100 books with long specifications can
/// be a few hundred KiB).
const MAX_PAGES: usize = 2048;
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

struct Page {
    body: Bytes,
    etag: Arc<str>,
    stored: Instant,
}

#[derive(Default)]
pub struct PageCache {
    pages: Mutex<Pages>,
    generation: AtomicU64,
}

#[derive(Default)]
struct Pages {
    by_key: HashMap<String, Page>,
    /// The bodies' bytes, together.
    bytes: usize,
}

impl Pages {
    fn drop_stale(&mut self) {
        self.by_key.retain(|_, page| page.stored.elapsed() < FRESH);
        self.bytes = self.by_key.values().map(|page| page.body.len()).sum();
    }
}

impl PageCache {
    /// Read before querying; pass to `put` so a page read before a write
    /// that finished meanwhile is not stored.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A fresh page and its ETag.
    pub fn get(&self, key: &str) -> Option<(Bytes, Arc<str>)> {
        let pages = self.pages.lock().ok()?;
        let page = pages.by_key.get(key).filter(|page| page.stored.elapsed() < FRESH)?;
        Some((page.body.clone(), page.etag.clone()))
    }

    /// Keeps a page, unless a write finished since `generation` was read;
    /// returns its ETag either way (computed once here, not per request).
    pub fn put(&self, key: String, generation: u64, body: Bytes) -> Arc<str> {
        let etag: Arc<str> = Arc::from(weak_etag(&body));
        let Ok(mut pages) = self.pages.lock() else { return etag };
        if generation != self.generation() {
            return etag;
        }
        let full = |pages: &Pages| pages.by_key.len() >= MAX_PAGES || pages.bytes + body.len() > MAX_BYTES;
        if full(&pages) {
            pages.drop_stale();
            if full(&pages) {
                return etag;
            }
        }
        pages.bytes += body.len();
        let page = Page { body, etag: etag.clone(), stored: Instant::now() };
        if let Some(replaced) = pages.by_key.insert(key, page) {
            pages.bytes -= replaced.body.len();
        }
        etag
    }

    /// After any write to the catalog.
    pub fn invalidate(&self) {
        // Bump under the lock, so no `put` that checked the old generation
        // can land after the clear.
        let pages = self.pages.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut pages) = pages {
            *pages = Pages::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(q: &str) -> String {
        format!("search q={q}")
    }

    #[test]
    fn serves_what_was_stored_until_invalidated() {
        let cache = PageCache::default();
        let generation = cache.generation();
        cache.put(key("a"), generation, Bytes::from_static(b"page"));
        assert_eq!(cache.get(&key("a")).map(|(body, _)| body).as_deref(), Some(&b"page"[..]));
        assert_eq!(cache.get(&key("b")), None);
        cache.invalidate();
        assert_eq!(cache.get(&key("a")), None);
    }

    #[test]
    fn the_cache_holds_at_most_its_bytes() {
        let cache = PageCache::default();
        let page = Bytes::from(vec![b' '; MAX_BYTES / 4]);
        for n in 0..8 {
            cache.put(key(&n.to_string()), cache.generation(), page.clone());
        }
        let held = (0..8).filter(|n| cache.get(&key(&n.to_string())).is_some()).count();
        assert_eq!(held, 4);
    }

    #[test]
    fn a_page_read_before_a_write_is_not_stored() {
        let cache = PageCache::default();
        let before_write = cache.generation();
        cache.invalidate();
        cache.put(key("a"), before_write, Bytes::from_static(b"stale"));
        assert_eq!(cache.get(&key("a")), None);
    }
}
