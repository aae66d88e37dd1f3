//! Output sanitizing: the one place text becomes HTML-safe.
//!
//! Runs once per written version of a book (see `BookColumns`), never on
//! reads, and never twice on the same text, so nothing is double-encoded.

use std::sync::LazyLock;

use ammonia::Builder;
use diesel::prelude::*;
use regex::Regex;

use crate::db::{self, DbConnection, schema::books};
use crate::error::ApiError;

static NO_TAGS: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut builder = Builder::empty();
    // Drop what these contain too, not only the tags themselves.
    builder.clean_content_tags(["script", "style"].into_iter().collect());
    builder
});

/// Start and end tags of the elements whose content HTML parses as raw
/// text, where entities are not decoded: `&amp;` inside `<xmp>` would come
/// out as `&amp;amp;`. Without their tags, the content is read like any
/// other text. (`script` and `style` lose their content instead.)
static RAW_TEXT_TAGS: LazyLock<Regex> = LazyLock::new(|| {
    #[expect(clippy::unwrap_used, reason = "a constant pattern, covered by tests")]
    Regex::new(r"(?i)</?(?:xmp|noscript|plaintext|noembed|noframes|iframe)(?:[\s/][^>]*)?>").unwrap()
});

/// What ammonia would change in text: markup and entities, and what the
/// HTML parser itself rewrites (line ends, NUL, a leading byte order mark).
const NEEDS_CLEANING: [char; 7] = ['<', '>', '&', '\u{a0}', '\r', '\0', '\u{feff}'];

/// Removes every tag and entity-encodes `&`, `<` and `>`; input entities
/// are decoded first, so `&amp;` stays `&amp;`, inside raw-text elements
/// too. Text with nothing to clean comes back as it is, unparsed.
pub fn text(raw: &str) -> String {
    if !raw.contains(NEEDS_CLEANING) {
        return raw.to_owned();
    }
    NO_TAGS.clean(&RAW_TEXT_TAGS.replace_all(raw, "")).to_string()
}

/// Bump when the sanitizing policy changes: the next start recomputes the
/// stored safe text of every book.
const POLICY_VERSION: &str = "2";
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
    use super::{NEEDS_CLEANING, NO_TAGS, text};

    #[test]
    fn strips_tags_and_their_dangerous_content() {
        assert_eq!(text("<script>alert(1)</script>Dune"), "Dune");
        assert_eq!(text("<b>Bold</b> <img src=x onerror=alert(1)>move"), "Bold move");
        assert_eq!(text("<style>*{}</style>ok"), "ok");
    }

    #[test]
    fn raw_text_elements_are_not_double_encoded() {
        for element in ["xmp", "noscript", "plaintext", "noembed", "noframes", "iframe", "XMP"] {
            let raw = format!("<{element}>Tom &amp; Jerry &lt;3</{element}>");
            assert_eq!(text(&raw), "Tom &amp; Jerry &lt;3", "{element}");
            let raw = format!("a <{element} class=x>&amp;<b>b</b>");
            assert_eq!(text(&raw), "a &amp;b", "{element}");
        }
        assert_eq!(text("<textarea>&amp;</textarea>"), "&amp;");
    }

    #[test]
    fn the_fast_path_agrees_with_ammonia() {
        for raw in
            ["plain", "Tolstoy, Leo", "\"quoted\" 'single'", "naïve café 東京", "tab\there", "a\nb", "=+-*/%$#@!"]
        {
            assert!(!raw.contains(NEEDS_CLEANING));
            assert_eq!(text(raw), NO_TAGS.clean(raw).to_string(), "{raw:?}");
        }
    }

    #[test]
    fn encodes_without_double_encoding() {
        assert_eq!(text("Tom & Jerry"), "Tom &amp; Jerry");
        assert_eq!(text("Tom &amp; Jerry"), "Tom &amp; Jerry");
        assert_eq!(text("a < b > c"), "a &lt; b &gt; c");
        assert_eq!(text(&text("Tom & <i>Jerry</i>")), "Tom &amp; Jerry");
    }
}
