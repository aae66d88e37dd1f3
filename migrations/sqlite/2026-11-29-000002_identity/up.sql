-- A login: the family of refresh tokens descended from one POST /api/token,
-- or one cookie session. Revoking the row ends every credential it issued.
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('token', 'cookie')),
    -- SHA-256 of the session cookie; NULL for token sessions, whose secrets
    -- are their refresh tokens.
    secret_hash TEXT UNIQUE,
    -- The user's token_version at login: a password change ends the session.
    token_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Refresh tokens are stored only as SHA-256 hashes. A spent token is kept so
-- that presenting it again is recognised as reuse.
CREATE TABLE refresh_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at BIGINT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- The key's public id finds the row; only a SHA-256 of its secret is kept.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    public_id TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    -- Space-separated, e.g. 'books:read library:read'.
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_keys_by_user ON api_keys (user_id);

-- No foreign key on user_id: events outlive the users they mention.
CREATE TABLE security_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    user_id BIGINT,
    client_ip TEXT,
    request_id TEXT,
    details TEXT NOT NULL
);
CREATE INDEX security_events_by_time ON security_events (occurred_at);
CREATE INDEX security_events_by_type ON security_events (event_type, id);
CREATE INDEX security_events_by_user ON security_events (user_id, id);
