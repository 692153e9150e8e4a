-- Roster's initial schema on PostgreSQL; the same tables as SQLite's 0001, in native types.
-- Text that lists are ordered by is COLLATE "C" (byte order), so both backends order alike.

CREATE TABLE users (
    id                     uuid        PRIMARY KEY,
    name                   text        NOT NULL DEFAULT '',
    name_lower             text        NOT NULL DEFAULT '',
    email                  text        NOT NULL,
    email_norm             text        COLLATE "C" NOT NULL UNIQUE,
    is_operator            boolean     NOT NULL DEFAULT false,
    service_account        boolean     NOT NULL DEFAULT false,
    deployment_key_account boolean     NOT NULL DEFAULT false,
    -- Null until the person first receives a key.
    date_joined            timestamptz,
    last_active_at         timestamptz,
    last_login_at          timestamptz,
    created_at             timestamptz NOT NULL
);

-- Only the SHA-256 digest of a key is kept; deleting the row revokes the key.
CREATE TABLE api_keys (
    key_hash   bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE organizations (
    id           uuid        PRIMARY KEY,
    name         text        COLLATE "C" NOT NULL,
    scope        text        UNIQUE,
    default_role bigint      NOT NULL DEFAULT 4 CHECK (default_role BETWEEN 1 AND 5),
    created_at   timestamptz NOT NULL
);
CREATE INDEX organizations_name ON organizations (name, id);

CREATE TABLE memberships (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A copy of users.email_norm, so that one index serves the documented order (email, id).
    email_norm text        COLLATE "C" NOT NULL,
    role       bigint      NOT NULL CHECK (role BETWEEN 1 AND 5),
    created_at timestamptz NOT NULL,
    UNIQUE (org_id, user_id)
);
-- Carries role and user_id, so a page of the documented order is an index-only scan.
CREATE INDEX memberships_order ON memberships (org_id, email_norm, id) INCLUDE (role, user_id);
CREATE INDEX memberships_user ON memberships (user_id);
CREATE INDEX memberships_role ON memberships (org_id, role);

CREATE TABLE groups (
    id         uuid        PRIMARY KEY,
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name       text        COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (org_id, name)
);

-- A membership is held by email (user_id null) until that person joins the team.
CREATE TABLE group_memberships (
    id         uuid        PRIMARY KEY,
    group_id   uuid        NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id    uuid        REFERENCES users (id) ON DELETE CASCADE,
    email      text        NOT NULL,
    email_norm text        COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (group_id, email_norm)
);
CREATE INDEX group_memberships_user ON group_memberships (user_id, group_id);
CREATE INDEX group_memberships_email ON group_memberships (email_norm);
