-- SCIM provisioning: a membership's active state and what the identity provider keeps about
-- the person in this team; versions (weak ETags) on memberships and groups.

-- false suspends the person in this team: their key no longer works here, they keep their
-- groups.
ALTER TABLE memberships ADD COLUMN active boolean NOT NULL DEFAULT true;
-- The SCIM userName as sent, and its lower-cased form.
ALTER TABLE memberships ADD COLUMN user_name text;
ALTER TABLE memberships ADD COLUMN user_name_norm text COLLATE "C";
ALTER TABLE memberships ADD COLUMN external_id text COLLATE "C";
-- The other SCIM attributes Roster keeps (name parts, displayName, emails, enterprise
-- extension) as the JSON object text.
ALTER TABLE memberships ADD COLUMN scim text;
-- The lower-cased displayName kept there, when there is one (else the person's name counts).
ALTER TABLE memberships ADD COLUMN display_name_norm text;
ALTER TABLE memberships ADD COLUMN updated_at timestamptz;
ALTER TABLE memberships ADD COLUMN version bigint NOT NULL DEFAULT 1;
-- userName is unique in a team, case-insensitively; people added otherwise go by their email.
CREATE UNIQUE INDEX memberships_user_name
    ON memberships (org_id, coalesce(user_name_norm, email_norm));
CREATE INDEX memberships_external_id ON memberships (org_id, external_id)
    WHERE external_id IS NOT NULL;

ALTER TABLE groups ADD COLUMN external_id text COLLATE "C";
ALTER TABLE groups ADD COLUMN updated_at timestamptz;
ALTER TABLE groups ADD COLUMN version bigint NOT NULL DEFAULT 1;
CREATE INDEX groups_external_id ON groups (org_id, external_id) WHERE external_id IS NOT NULL;
