-- Times are Unix seconds (BIGINT) so one schema serves SQLite and PostgreSQL.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    -- Bumped on password change; tokens carrying an older value are dead.
    token_version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- The raw columns keep what was written; the safe_ columns hold the ammonia
-- output, computed once per version of the row instead of on every read.
CREATE TABLE books (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    author TEXT NOT NULL,
    rating DOUBLE CHECK (rating IS NULL OR (rating >= 0 AND rating <= 5)),
    isbn TEXT,
    published_year INTEGER,
    specifications_flat TEXT,
    safe_title TEXT NOT NULL,
    safe_author TEXT NOT NULL,
    safe_isbn TEXT,
    safe_specifications_flat TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Sorted paging walks these instead of sorting the table.
CREATE INDEX books_title_order ON books (lower(title), id);
CREATE INDEX books_author_order ON books (lower(author), id);
CREATE INDEX books_rating_order ON books (rating IS NOT NULL, rating, id);

-- Substring search: a trigram index answers `q` of 3+ characters without
-- scanning the catalog.
CREATE VIRTUAL TABLE books_search USING fts5(
    title, author, content = 'books', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER books_search_insert AFTER INSERT ON books BEGIN
    INSERT INTO books_search (rowid, title, author) VALUES (new.id, new.title, new.author);
END;
CREATE TRIGGER books_search_delete AFTER DELETE ON books BEGIN
    INSERT INTO books_search (books_search, rowid, title, author)
    VALUES ('delete', old.id, old.title, old.author);
END;
CREATE TRIGGER books_search_update AFTER UPDATE OF title, author ON books BEGIN
    INSERT INTO books_search (books_search, rowid, title, author)
    VALUES ('delete', old.id, old.title, old.author);
    INSERT INTO books_search (rowid, title, author) VALUES (new.id, new.title, new.author);
END;

CREATE TABLE tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE book_tags (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    book_id BIGINT NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    tag_id BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, book_id, tag_id)
);
CREATE INDEX book_tags_by_user_tag ON book_tags (user_id, tag_id);
CREATE INDEX book_tags_by_book ON book_tags (book_id);
CREATE INDEX book_tags_by_tag ON book_tags (tag_id);

CREATE TABLE reading_statuses (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    book_id BIGINT NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('want_to_read', 'reading', 'read', 'abandoned')),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, book_id)
);
CREATE INDEX reading_statuses_by_user_status ON reading_statuses (user_id, status);
CREATE INDEX reading_statuses_by_book ON reading_statuses (book_id);

CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
