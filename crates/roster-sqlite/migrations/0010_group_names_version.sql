-- A second counter per team that moves only when a group's name can change for a reader
-- (a group made, renamed, moved or removed). Member lists read group ids with their rows and
-- take the names from memory kept by this counter (roster_core::group_names), which the
-- team's version would throw away at every membership change.
ALTER TABLE team_versions ADD COLUMN group_names_version INTEGER NOT NULL DEFAULT 1;

CREATE TRIGGER group_names_version_in AFTER INSERT ON groups BEGIN
    UPDATE team_versions SET group_names_version = group_names_version + 1
    WHERE org_id = NEW.org_id;
END;
CREATE TRIGGER group_names_version_up AFTER UPDATE OF id, org_id, name ON groups BEGIN
    UPDATE team_versions SET group_names_version = group_names_version + 1
    WHERE org_id IN (OLD.org_id, NEW.org_id);
END;
CREATE TRIGGER group_names_version_out AFTER DELETE ON groups BEGIN
    UPDATE team_versions SET group_names_version = group_names_version + 1
    WHERE org_id = OLD.org_id;
END;
