DROP TABLE settings;
DROP TABLE reading_statuses;
DROP TABLE book_tags;
DROP TABLE tags;
DROP TABLE books_search;
DROP TABLE books;
DROP TABLE users;
