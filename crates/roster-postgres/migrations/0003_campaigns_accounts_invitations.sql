-- Campaigns and their members, service accounts and deployment keys, invitations.

CREATE TABLE campaigns (
    id         uuid        PRIMARY KEY,
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name       text        COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX campaigns_order ON campaigns (org_id, name, id);

-- Campaigns track people by email: a member need not (yet, or any more) be on the team.
CREATE TABLE campaign_members (
    id          uuid        PRIMARY KEY,
    campaign_id uuid        NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    org_id      uuid        NOT NULL,
    email       text        NOT NULL,
    email_norm  text        COLLATE "C" NOT NULL,
    -- The member's data exactly as sent (jsonb would reorder keys and drop spacing), with a
    -- jsonb copy for reporting queries.
    data        text        NOT NULL DEFAULT '{}',
    data_jsonb  jsonb       GENERATED ALWAYS AS (data::jsonb) STORED,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (campaign_id, email_norm)
);
CREATE INDEX campaign_members_org_email ON campaign_members (org_id, email_norm);

-- The team an account (service account or deployment key) was made for.
CREATE TABLE accounts (
    user_id    uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- 1: service account; 2: deployment key.
    kind       bigint      NOT NULL CHECK (kind IN (1, 2)),
    -- Deployment keys only: the contract shows their key on every read.
    token      text,
    created_at timestamptz NOT NULL
);
CREATE INDEX accounts_org ON accounts (org_id, kind);

-- One pending invitation per email and team; accepting or revoking deletes it.
CREATE TABLE invitations (
    id         uuid        PRIMARY KEY,
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email      text        NOT NULL,
    email_norm text        COLLATE "C" NOT NULL,
    role       bigint      NOT NULL CHECK (role BETWEEN 1 AND 5),
    inviter_id uuid        REFERENCES users (id) ON DELETE SET NULL,
    -- SHA-256 of the one-time accept token.
    token_hash bytea       NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    UNIQUE (org_id, email_norm)
);
