-- Search reads one column: title and author case-folded (by shelf, in Rust,
-- so both backends fold alike), one per line. A search term cannot hold a
-- line break, so a substring of this column is a substring of the title or
-- of the author. Filled here for ASCII; shelf refolds the rest at start.
ALTER TABLE books ADD COLUMN search_key TEXT NOT NULL DEFAULT '';
UPDATE books SET search_key = lower(title) || char(10) || lower(author);

-- The trigram index moves to the folded column; it matches bytes exactly,
-- since the folding is done.
DROP TRIGGER books_search_insert;
DROP TRIGGER books_search_delete;
DROP TRIGGER books_search_update;
DROP TABLE books_search;
CREATE VIRTUAL TABLE books_search USING fts5(
    search_key, content = 'books', content_rowid = 'id', tokenize = 'trigram case_sensitive 1'
);
INSERT INTO books_search (books_search) VALUES ('rebuild');
CREATE TRIGGER books_search_insert AFTER INSERT ON books BEGIN
    INSERT INTO books_search (rowid, search_key) VALUES (new.id, new.search_key);
END;
CREATE TRIGGER books_search_delete AFTER DELETE ON books BEGIN
    INSERT INTO books_search (books_search, rowid, search_key) VALUES ('delete', old.id, old.search_key);
END;
CREATE TRIGGER books_search_update AFTER UPDATE OF search_key ON books BEGIN
    INSERT INTO books_search (books_search, rowid, search_key) VALUES ('delete', old.id, old.search_key);
    INSERT INTO books_search (rowid, search_key) VALUES (new.id, new.search_key);
END;
