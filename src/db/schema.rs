//! The tables, identical for SQLite and PostgreSQL (see `migrations/`).

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        token_version -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    books (id) {
        id -> BigInt,
        title -> Text,
        author -> Text,
        rating -> Nullable<Double>,
        isbn -> Nullable<Text>,
        published_year -> Nullable<Integer>,
        specifications_flat -> Nullable<Text>,
        safe_title -> Text,
        safe_author -> Text,
        safe_isbn -> Nullable<Text>,
        safe_specifications_flat -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        search_key -> Text,
    }
}

diesel::table! {
    tags (id) {
        id -> BigInt,
        name -> Text,
    }
}

diesel::table! {
    book_tags (user_id, book_id, tag_id) {
        user_id -> BigInt,
        book_id -> BigInt,
        tag_id -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    reading_statuses (user_id, book_id) {
        user_id -> BigInt,
        book_id -> BigInt,
        status -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        user_id -> BigInt,
        kind -> Text,
        secret_hash -> Nullable<Text>,
        token_version -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> BigInt,
        session_id -> BigInt,
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        spent_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        public_id -> Text,
        secret_hash -> Text,
        scopes -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    security_events (id) {
        id -> BigInt,
        occurred_at -> BigInt,
        event_type -> Text,
        user_id -> Nullable<BigInt>,
        client_ip -> Nullable<Text>,
        request_id -> Nullable<Text>,
        details -> Text,
    }
}

diesel::joinable!(book_tags -> books (book_id));
diesel::joinable!(book_tags -> tags (tag_id));
diesel::joinable!(book_tags -> users (user_id));
diesel::joinable!(reading_statuses -> books (book_id));
diesel::joinable!(reading_statuses -> users (user_id));

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(api_keys -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    books,
    tags,
    book_tags,
    reading_statuses,
    settings,
    sessions,
    refresh_tokens,
    api_keys,
    security_events
);
