-- Webhook endpoints (roster-sql/webhooks.rs) and their delivery log. An endpoint reads its
-- team's change history in order: (after_seq, part) is where it stands (every event up to
-- after_seq sent, and the first `part` messages of the next). attempts, failed_since and
-- retry_at describe the failing tries of the next message; failing_since is set when one has
-- failed for the whole retry window, and nothing is sent until an admin resumes it.
-- lease_owner and lease_until: the node that delivers to it now, and until when.
-- secret signs; old_secret, after a rotation, signs beside it until old_secret_until.
CREATE TABLE webhooks (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url              text NOT NULL,
    events           text NOT NULL,
    active           boolean NOT NULL,
    description      text NOT NULL,
    secret           text NOT NULL,
    old_secret       text,
    old_secret_until timestamptz,
    after_seq        bigint NOT NULL,
    part             bigint NOT NULL DEFAULT 0,
    attempts         bigint NOT NULL DEFAULT 0,
    failed_since     timestamptz,
    retry_at         timestamptz NOT NULL,
    failing_since    timestamptz,
    lease_owner      uuid,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (org_id, id);

-- One row per try; event_seq is null for a ping.
CREATE TABLE webhook_deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id  uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    message_id  uuid NOT NULL,
    type        text NOT NULL,
    event_seq   bigint,
    part        bigint NOT NULL,
    attempt     bigint NOT NULL,
    status_code bigint,
    latency_ms  bigint NOT NULL,
    error       text,
    delivered   boolean NOT NULL,
    manual      boolean NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
