-- Email domains verified for a team (held group memberships). One team per domain.
CREATE TABLE email_domains (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- Lower-case IDNA (ASCII) form.
    domain      text        COLLATE "C" NOT NULL UNIQUE,
    verified    boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    verified_at timestamptz
);
CREATE INDEX email_domains_org ON email_domains (org_id, domain);
