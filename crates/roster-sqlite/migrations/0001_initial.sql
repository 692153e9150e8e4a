-- Roster's initial schema on SQLite.
-- UUIDs are 16-byte BLOBs; timestamps are INTEGER microseconds since the Unix epoch (UTC).
-- Emails are stored as given and unique by their lower-cased form (`email_norm`).

CREATE TABLE users (
    id                     BLOB    PRIMARY KEY NOT NULL,
    name                   TEXT    NOT NULL DEFAULT '',
    -- Lower-cased name, for the case-insensitive `q` filter.
    name_lower             TEXT    NOT NULL DEFAULT '',
    email                  TEXT    NOT NULL,
    email_norm             TEXT    NOT NULL UNIQUE,
    is_operator            INTEGER NOT NULL DEFAULT 0,
    service_account        INTEGER NOT NULL DEFAULT 0,
    deployment_key_account INTEGER NOT NULL DEFAULT 0,
    -- Null until the person first receives a key.
    date_joined            INTEGER,
    last_active_at         INTEGER,
    last_login_at          INTEGER,
    created_at             INTEGER NOT NULL
) STRICT;

-- Only the SHA-256 digest of a key is kept; deleting the row revokes the key.
CREATE TABLE api_keys (
    key_hash   BLOB    PRIMARY KEY NOT NULL,
    user_id    BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE organizations (
    id           BLOB    PRIMARY KEY NOT NULL,
    name         TEXT    NOT NULL,
    scope        TEXT    UNIQUE,
    default_role INTEGER NOT NULL DEFAULT 4 CHECK (default_role BETWEEN 1 AND 5),
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX organizations_name ON organizations (name, id);

CREATE TABLE memberships (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A copy of users.email_norm, so that one index serves the documented order (email, id)
    -- and a deep page skips index entries instead of joining and sorting the whole team.
    email_norm TEXT    NOT NULL,
    role       INTEGER NOT NULL CHECK (role BETWEEN 1 AND 5),
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, user_id)
) STRICT;
-- Also carries role and user_id, so a page of the documented order is read from the index
-- alone: skipping to a deep page touches no table rows.
CREATE INDEX memberships_order ON memberships (org_id, email_norm, id, role, user_id);
CREATE INDEX memberships_user ON memberships (user_id);
CREATE INDEX memberships_role ON memberships (org_id, role);

CREATE TABLE groups (
    id         BLOB    PRIMARY KEY NOT NULL,
    org_id     BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, name)
) STRICT;

-- A membership is held by email (user_id null) until that person joins the team.
CREATE TABLE group_memberships (
    id         BLOB    PRIMARY KEY NOT NULL,
    group_id   BLOB    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id    BLOB    REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT    NOT NULL,
    email_norm TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (group_id, email_norm)
) STRICT;
CREATE INDEX group_memberships_user ON group_memberships (user_id, group_id);
-- Which groups an email is in (campaign members list them; held memberships attach by email).
CREATE INDEX group_memberships_email ON group_memberships (email_norm);
