-- A team's data version: it grows with every change to what the team's member lists show
-- (memberships, their people, groups and group memberships), so that a page computed for one
-- version can be served again until the next change. Kept by triggers, so no write path can
-- forget it.
CREATE TABLE team_versions (
    org_id  BLOB    PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    version INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
INSERT INTO team_versions (org_id) SELECT id FROM organizations;

CREATE TRIGGER team_versions_new_team AFTER INSERT ON organizations BEGIN
    INSERT INTO team_versions (org_id) VALUES (NEW.id);
END;
CREATE TRIGGER team_versions_team AFTER UPDATE ON organizations BEGIN
    UPDATE team_versions SET version = version + 1 WHERE org_id = NEW.id;
END;

CREATE TRIGGER team_versions_membership_in AFTER INSERT ON memberships BEGIN
    UPDATE team_versions SET version = version + 1 WHERE org_id = NEW.org_id;
END;
CREATE TRIGGER team_versions_membership_up AFTER UPDATE ON memberships BEGIN
    UPDATE team_versions SET version = version + 1 WHERE org_id IN (OLD.org_id, NEW.org_id);
END;
CREATE TRIGGER team_versions_membership_out AFTER DELETE ON memberships BEGIN
    UPDATE team_versions SET version = version + 1 WHERE org_id = OLD.org_id;
END;

CREATE TRIGGER team_versions_group_in AFTER INSERT ON groups BEGIN
    UPDATE team_versions SET version = version + 1 WHERE org_id = NEW.org_id;
END;
CREATE TRIGGER team_versions_group_up AFTER UPDATE ON groups BEGIN
    UPDATE team_versions SET version = version + 1 WHERE org_id IN (OLD.org_id, NEW.org_id);
END;
CREATE TRIGGER team_versions_group_out AFTER DELETE ON groups BEGIN
    UPDATE team_versions SET version = version + 1 WHERE org_id = OLD.org_id;
END;

CREATE TRIGGER team_versions_group_member_in AFTER INSERT ON group_memberships BEGIN
    UPDATE team_versions SET version = version + 1
    WHERE org_id = (SELECT org_id FROM groups WHERE id = NEW.group_id);
END;
CREATE TRIGGER team_versions_group_member_up AFTER UPDATE ON group_memberships BEGIN
    UPDATE team_versions SET version = version + 1
    WHERE org_id = (SELECT org_id FROM groups WHERE id = NEW.group_id);
END;
CREATE TRIGGER team_versions_group_member_out AFTER DELETE ON group_memberships BEGIN
    UPDATE team_versions SET version = version + 1
    WHERE org_id = (SELECT org_id FROM groups WHERE id = OLD.group_id);
END;

-- A person's name, email or activity shows in every team they are in.
CREATE TRIGGER team_versions_person AFTER UPDATE ON users BEGIN
    UPDATE team_versions SET version = version + 1
    WHERE org_id IN (SELECT org_id FROM memberships WHERE user_id = NEW.id);
END;
