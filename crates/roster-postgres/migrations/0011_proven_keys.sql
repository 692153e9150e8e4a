-- Proven and unproven keys, and invitations that live only as long as their inviter's right
-- to make them (docs/SECURITY.md).

-- An unproven key, issued by accepting an invitation token of a team that does not own the
-- email's domain, acts in that team only: the team is named here. NULL: a proven key (issued by
-- an operator, through an owning team's invitation, or a token Roster mailed itself).
ALTER TABLE api_keys ADD COLUMN org_id uuid REFERENCES organizations (id) ON DELETE CASCADE;
-- Few keys are unproven: the checks that look for a person's unproven keys start here.
CREATE INDEX api_keys_unproven ON api_keys (user_id) WHERE org_id IS NOT NULL;

-- The address the person's last proven key was issued for (or that a team owning its domain
-- gave them). Invitations by email are answered, signed in, only while it is the person's
-- address: a team that rewrites the email of its only member does not make the new address
-- theirs. Keys issued before this migration count as proven for the address of the day.
ALTER TABLE users ADD COLUMN proven_email text COLLATE "C";
UPDATE users SET proven_email = email_norm
    WHERE EXISTS (SELECT 1 FROM api_keys k WHERE k.user_id = users.id);

-- Roster mailed the token itself; the inviter never saw it.
ALTER TABLE invitations ADD COLUMN mailed boolean NOT NULL DEFAULT false;

-- A pending invitation is withdrawn as soon as its inviter could no longer make it: on every
-- path that demotes, suspends or removes a member (team API, SCIM, import, command line,
-- account deletion), so it is kept here, beside the rows, rather than in each. The condition
-- is roster_core::rules::may_invite: an active admin grants any role, an active manager any
-- but admin (2 admin, 5 manager). Only a member who could invite fires it.
CREATE FUNCTION roster_invitations_follow_inviter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM invitations WHERE org_id = OLD.org_id AND inviter_id = OLD.user_id;
    ELSE
        DELETE FROM invitations WHERE org_id = NEW.org_id AND inviter_id = NEW.user_id
            AND NOT (NEW.active AND (NEW.role = 2 OR (NEW.role = 5 AND role <> 2)));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER invitations_follow_inviter_role AFTER UPDATE OF role, active ON memberships
    FOR EACH ROW
    WHEN (OLD.role IN (2, 5) AND OLD.active
          AND (NEW.role IS DISTINCT FROM OLD.role OR NOT NEW.active))
    EXECUTE FUNCTION roster_invitations_follow_inviter();
CREATE TRIGGER invitations_follow_inviter_out AFTER DELETE ON memberships
    FOR EACH ROW WHEN (OLD.role IN (2, 5))
    EXECUTE FUNCTION roster_invitations_follow_inviter();
