-- Campaigns and their members, service accounts and deployment keys, invitations.

CREATE TABLE campaigns (
    id         BLOB    PRIMARY KEY NOT NULL,
    org_id     BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX campaigns_order ON campaigns (org_id, name, id);

-- Campaigns track people by email: a member need not (yet, or any more) be on the team.
CREATE TABLE campaign_members (
    id          BLOB    PRIMARY KEY NOT NULL,
    campaign_id BLOB    NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    -- A copy of campaigns.org_id: "which campaigns of this team hold this email" is one index.
    org_id      BLOB    NOT NULL,
    email       TEXT    NOT NULL,
    email_norm  TEXT    NOT NULL,
    -- The member's free-form reporting data, the JSON text exactly as the client sent it.
    data        TEXT    NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (campaign_id, email_norm)
) STRICT;
CREATE INDEX campaign_members_org_email ON campaign_members (org_id, email_norm);

-- The team an account (service account or deployment key) was made for. The account is a user
-- with a membership of that team; deleting the account deletes the user.
CREATE TABLE accounts (
    user_id    BLOB    PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id     BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- 1: service account; 2: deployment key.
    kind       INTEGER NOT NULL CHECK (kind IN (1, 2)),
    -- Deployment keys only: the contract shows their key on every read. They grant nothing but
    -- GET /api/me/. Service account keys are kept only as a hash (api_keys).
    token      TEXT,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX accounts_org ON accounts (org_id, kind);

-- One pending invitation per email and team; accepting or revoking deletes it.
CREATE TABLE invitations (
    id         BLOB    PRIMARY KEY NOT NULL,
    org_id     BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email      TEXT    NOT NULL,
    email_norm TEXT    NOT NULL,
    role       INTEGER NOT NULL CHECK (role BETWEEN 1 AND 5),
    inviter_id BLOB    REFERENCES users (id) ON DELETE SET NULL,
    -- SHA-256 of the one-time accept token.
    token_hash BLOB    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (org_id, email_norm)
) STRICT;
