-- The addresses of a member's SCIM `emails` (this team's copy, normalised) other than their
-- account address (memberships.email_norm, found through users), so that a SCIM filter on
-- `emails.value` finds a member by any of their addresses through an index. Written with the
-- membership's SCIM attributes (roster-sql/member_emails.rs) and gone with the membership.
CREATE TABLE membership_emails (
    email_norm    TEXT    NOT NULL,
    membership_id INTEGER NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    PRIMARY KEY (email_norm, membership_id)
) WITHOUT ROWID;
CREATE INDEX membership_emails_membership ON membership_emails (membership_id);
-- The addresses already stored (SQLite's lower() folds ASCII only; the attributes Roster
-- wrote are valid JSON whose `emails` is an array).
INSERT OR IGNORE INTO membership_emails (email_norm, membership_id)
SELECT lower(trim(json_extract(e.value, '$.value'))), m.id
FROM memberships m, json_each(m.scim, '$.emails') e
WHERE m.scim IS NOT NULL AND json_valid(m.scim)
  AND json_type(e.value, '$.value') = 'text'
  AND lower(trim(json_extract(e.value, '$.value'))) <> m.email_norm;
