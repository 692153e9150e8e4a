-- Email domains verified for a team: their addresses may be put in the team's groups before
-- their owners join (held group memberships). A domain belongs to at most one team.
CREATE TABLE email_domains (
    id          BLOB    PRIMARY KEY NOT NULL,
    org_id      BLOB    NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- Lower-case IDNA (ASCII) form.
    domain      TEXT    NOT NULL UNIQUE,
    verified    INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    verified_at INTEGER
) STRICT;
CREATE INDEX email_domains_org ON email_domains (org_id, domain);
