-- SCIM provisioning: a membership's active state and what the identity provider keeps about
-- the person in this team; versions (weak ETags) on memberships and groups.

-- 0 suspends the person in this team: their key no longer works here, they keep their groups.
ALTER TABLE memberships ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
-- The SCIM userName as sent, when it is not the email, and its lower-cased form.
ALTER TABLE memberships ADD COLUMN user_name TEXT;
ALTER TABLE memberships ADD COLUMN user_name_norm TEXT;
ALTER TABLE memberships ADD COLUMN external_id TEXT;
-- The other SCIM attributes Roster keeps (name parts, displayName, emails, enterprise
-- extension) as a JSON object.
ALTER TABLE memberships ADD COLUMN scim TEXT;
-- The lower-cased displayName kept there, when there is one (else the person's name counts).
ALTER TABLE memberships ADD COLUMN display_name_norm TEXT;
ALTER TABLE memberships ADD COLUMN updated_at INTEGER;
ALTER TABLE memberships ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
-- userName is unique in a team, case-insensitively; people added otherwise go by their email.
CREATE UNIQUE INDEX memberships_user_name
    ON memberships (org_id, coalesce(user_name_norm, email_norm));
CREATE INDEX memberships_external_id ON memberships (org_id, external_id)
    WHERE external_id IS NOT NULL;

ALTER TABLE groups ADD COLUMN external_id TEXT;
ALTER TABLE groups ADD COLUMN updated_at INTEGER;
ALTER TABLE groups ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE INDEX groups_external_id ON groups (org_id, external_id) WHERE external_id IS NOT NULL;
