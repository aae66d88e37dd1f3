-- Search reads one column: title and author case-folded (by shelf, in Rust,
-- so both backends fold alike), one per line. A search term cannot hold a
-- line break, so a substring of this column is a substring of the title or
-- of the author. Filled here for ASCII; shelf refolds the rest at start.
ALTER TABLE books ADD COLUMN search_key TEXT NOT NULL DEFAULT '';
UPDATE books SET search_key = lower(title) || chr(10) || lower(author);

-- One trigram index on the folded column instead of one per column.
DROP INDEX books_title_trgm;
DROP INDEX books_author_trgm;
CREATE INDEX books_search_trgm ON books USING gin (search_key gin_trgm_ops);
