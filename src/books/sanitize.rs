//! Output sanitizing: the one place text becomes HTML-safe.
//!
//! Runs once per written version of a book (see `BookColumns`), never on
//! reads, and never twice on the same text, so nothing is double-encoded.

use std::sync::LazyLock;

use ammonia::Builder;
use diesel::prelude::*;

use crate::db::{self, DbConnection, schema::books};
use crate::error::ApiError;

static NO_TAGS: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut builder = Builder::empty();
    // Drop what these contain too, not only the tags themselves.
    builder.clean_content_tags(["script", "style"].into_iter().collect());
    builder
});

/// Removes every tag and entity-encodes `&`, `<` and `>`; input entities
/// are decoded first, so `&amp;` stays `&amp;`.
pub fn text(raw: &str) -> String {
    NO_TAGS.clean(raw).to_string()
}

/// Bump when the sanitizing policy changes: the next start recomputes the
/// stored safe text of every book.
const POLICY_VERSION: &str = "1";
const POLICY_KEY: &str = "sanitizer_policy";

/// id, title, author, isbn, specifications_flat as stored.
type RawText = (i64, String, String, Option<String>, Option<String>);

pub fn refresh_if_policy_changed(conn: &mut DbConnection) -> Result<(), ApiError> {
    if db::get_setting(conn, POLICY_KEY)?.as_deref() == Some(POLICY_VERSION) {
        return Ok(());
    }
    let mut refreshed = 0;
    let mut after = 0_i64;
    loop {
        let batch: Vec<RawText> = books::table
            .filter(books::id.gt(after))
            .order(books::id.asc())
            .limit(500)
            .select((books::id, books::title, books::author, books::isbn, books::specifications_flat))
            .load(conn)?;
        let Some(last) = batch.last() else { break };
        after = last.0;
        db::write_transaction(conn, |conn| {
            for (id, title, author, isbn, specifications) in &batch {
                diesel::update(books::table.find(id))
                    .set((
                        books::safe_title.eq(text(title)),
                        books::safe_author.eq(text(author)),
                        books::safe_isbn.eq(isbn.as_deref().map(text)),
                        books::safe_specifications_flat.eq(specifications.as_deref().map(text)),
                    ))
                    .execute(conn)?;
            }
            Ok::<_, ApiError>(())
        })?;
        refreshed += batch.len();
    }
    db::put_setting(conn, POLICY_KEY, POLICY_VERSION)?;
    if refreshed > 0 {
        log::info!("re-sanitized {refreshed} book(s) for sanitizer policy {POLICY_VERSION}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn strips_tags_and_their_dangerous_content() {
        assert_eq!(text("<script>alert(1)</script>Dune"), "Dune");
        assert_eq!(text("<b>Bold</b> <img src=x onerror=alert(1)>move"), "Bold move");
        assert_eq!(text("<style>*{}</style>ok"), "ok");
    }

    #[test]
    fn encodes_without_double_encoding() {
        assert_eq!(text("Tom & Jerry"), "Tom &amp; Jerry");
        assert_eq!(text("Tom &amp; Jerry"), "Tom &amp; Jerry");
        assert_eq!(text("a < b > c"), "a &lt; b &gt; c");
        assert_eq!(text(&text("Tom & <i>Jerry</i>")), "Tom &amp; Jerry");
    }
}
