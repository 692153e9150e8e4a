-- The addresses of a member's SCIM `emails` (this team's copy, normalised) other than their
-- account address (memberships.email_norm, found through users), so that a SCIM filter on
-- `emails.value` finds a member by any of their addresses through an index. Written with the
-- membership's SCIM attributes (roster-sql/member_emails.rs) and gone with the membership.
CREATE TABLE membership_emails (
    email_norm    text   COLLATE "C" NOT NULL,
    membership_id bigint NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    PRIMARY KEY (email_norm, membership_id)
);
CREATE INDEX membership_emails_membership ON membership_emails (membership_id);
-- The addresses already stored.
INSERT INTO membership_emails (email_norm, membership_id)
SELECT DISTINCT lower(trim(e ->> 'value')), m.id
FROM memberships m,
     jsonb_array_elements(CASE WHEN jsonb_typeof(m.scim::jsonb -> 'emails') = 'array'
                               THEN m.scim::jsonb -> 'emails' ELSE '[]'::jsonb END) e
WHERE m.scim IS NOT NULL AND jsonb_typeof(e -> 'value') = 'string'
  AND lower(trim(e ->> 'value')) <> m.email_norm;
