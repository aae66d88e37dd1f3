DROP TRIGGER books_search_insert;
DROP TRIGGER books_search_delete;
DROP TRIGGER books_search_update;
DROP TABLE books_search;
ALTER TABLE books DROP COLUMN search_key;
CREATE VIRTUAL TABLE books_search USING fts5(
    title, author, content = 'books', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO books_search (books_search) VALUES ('rebuild');
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
