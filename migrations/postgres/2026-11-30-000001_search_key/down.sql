DROP INDEX books_search_trgm;
ALTER TABLE books DROP COLUMN search_key;
CREATE INDEX books_title_trgm ON books USING gin (lower(title) gin_trgm_ops);
CREATE INDEX books_author_trgm ON books USING gin (lower(author) gin_trgm_ops);
