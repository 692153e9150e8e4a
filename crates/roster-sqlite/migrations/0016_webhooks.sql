-- Webhook endpoints (roster-sql/webhooks.rs) and their delivery log. An endpoint reads its
-- team's change history in order: (after_seq, part) is where it stands (every event up to
-- after_seq sent, and the first `part` messages of the next). attempts, failed_since and
-- retry_at describe the failing tries of the next message; failing_since is set when one has
-- failed for the whole retry window, and nothing is sent until an admin resumes it.
-- lease_owner and lease_until: the node that delivers to it now, and until when.
-- secret signs; old_secret, after a rotation, signs beside it until old_secret_until.
CREATE TABLE webhooks (
    id               BLOB PRIMARY KEY NOT NULL,
    org_id           BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,
    active           INTEGER NOT NULL,
    description      TEXT NOT NULL,
    secret           TEXT NOT NULL,
    old_secret       TEXT,
    old_secret_until INTEGER,
    after_seq        INTEGER NOT NULL,
    part             INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    failed_since     INTEGER,
    retry_at         INTEGER NOT NULL,
    failing_since    INTEGER,
    lease_owner      BLOB,
    lease_until      INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (org_id, id);

-- One row per try; event_seq is null for a ping.
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    webhook_id  BLOB NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    message_id  BLOB NOT NULL,
    type        TEXT NOT NULL,
    event_seq   INTEGER,
    part        INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    status_code INTEGER,
    latency_ms  INTEGER NOT NULL,
    error       TEXT,
    delivered   INTEGER NOT NULL,
    manual      INTEGER NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
