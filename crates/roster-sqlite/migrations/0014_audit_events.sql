-- The change history (roster-sql/audit.rs): one row per change, written in the change's own
-- transaction. No foreign keys: a team's history outlives the team and the people in it, until
-- retention prunes it, so the actor is a copy of who they were when they acted.
-- target_*: what the change was made to (the team, or a group for its member lists);
-- object_*: the thing changed in it (a membership, a group, an invitation, ...), if any.
-- seq orders the history (and retention prunes by it, oldest first); ids are for clients,
-- random, and looked up by no one: no index of theirs costs every change a write.
CREATE TABLE audit_events (
    seq                   INTEGER PRIMARY KEY,
    id                    BLOB NOT NULL,
    org_id                BLOB NOT NULL,
    group_id              BLOB,
    action_type           TEXT NOT NULL,
    target_type           TEXT NOT NULL,
    target_id             TEXT NOT NULL,
    target_label          TEXT NOT NULL,
    object_type           TEXT,
    object_id             TEXT,
    object_label          TEXT,
    actor_id              BLOB,
    actor_name            TEXT,
    actor_email           TEXT,
    actor_service_account INTEGER,
    actor_deployment_key  INTEGER,
    actor_joined          INTEGER,
    face                  TEXT NOT NULL,
    request_id            TEXT,
    data                  TEXT NOT NULL,
    at                    INTEGER NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (org_id, seq);
CREATE INDEX audit_events_group ON audit_events (group_id, seq) WHERE group_id IS NOT NULL;
