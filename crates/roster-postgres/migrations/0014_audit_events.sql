-- The change history (roster-sql/audit.rs): one row per change, written in the change's own
-- transaction. No foreign keys: a team's history outlives the team and the people in it, until
-- retention prunes it, so the actor is a copy of who they were when they acted.
-- target_*: what the change was made to (the team, or a group for its member lists);
-- object_*: the thing changed in it (a membership, a group, an invitation, ...), if any.
-- seq orders the history (and retention prunes by it, oldest first); ids are for clients,
-- random, and looked up by no one: no index of theirs costs every change a write.
CREATE TABLE audit_events (
    seq                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                    uuid NOT NULL,
    org_id                uuid NOT NULL,
    group_id              uuid,
    action_type           text NOT NULL,
    target_type           text NOT NULL,
    target_id             text NOT NULL,
    target_label          text NOT NULL,
    object_type           text,
    object_id             text,
    object_label          text,
    actor_id              uuid,
    actor_name            text,
    actor_email           text,
    actor_service_account boolean,
    actor_deployment_key  boolean,
    actor_joined          timestamptz,
    face                  text NOT NULL,
    request_id            text,
    data                  text NOT NULL,
    at                    timestamptz NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (org_id, seq);
CREATE INDEX audit_events_group ON audit_events (group_id, seq) WHERE group_id IS NOT NULL;
