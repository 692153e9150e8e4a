-- Idempotency-Key: the first answer to a write, kept for a day per caller and key, so that a
-- retried request gets it back instead of making its change twice (roster-sql/idempotency.rs).
-- Kept per API key (key_hash: the SHA-256 that api_keys holds), so that no other key of the
-- same person, which may act in fewer teams, ever gets its answers; user_id bounds the bytes
-- one person's kept answers take.
-- state: 0 running, 1 carried out and its answer kept, 2 carried out and its answer not kept
-- (it held a credential, or was too large). fingerprint: SHA-256 of method, path and body.
CREATE TABLE idempotency_keys (
    key_hash    bytea NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key         text COLLATE "C" NOT NULL,
    fingerprint bytea NOT NULL,
    state       smallint NOT NULL,
    status      integer,
    headers     text,
    body        bytea,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (key_hash, key)
);
CREATE INDEX idempotency_keys_user ON idempotency_keys (user_id);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
