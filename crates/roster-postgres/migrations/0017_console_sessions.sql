-- Console sessions (roster-sql/sessions.rs): a browser's sign-in to /console/. session_hash is
-- the SHA-256 of the cookie's secret (the secret is never stored); key_hash is the API key the
-- session was opened with, whose revocation ends the session with it.
CREATE TABLE console_sessions (
    session_hash bytea       PRIMARY KEY,
    key_hash     bytea       NOT NULL REFERENCES api_keys (key_hash) ON DELETE CASCADE,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    opened_at    timestamptz NOT NULL,
    seen_at      timestamptz NOT NULL
);
CREATE INDEX console_sessions_key ON console_sessions (key_hash);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_seen ON console_sessions (seen_at);
