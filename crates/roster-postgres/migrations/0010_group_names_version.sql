-- A second counter per team that moves only when a group's name can change for a reader
-- (a group made, renamed, moved or removed). Member lists read group ids with their rows and
-- take the names from memory kept by this counter (roster_core::group_names), which the
-- team's version would throw away at every membership change. Bumped once per statement, as
-- the team's version is.
ALTER TABLE team_versions ADD COLUMN group_names_version bigint NOT NULL DEFAULT 1;

CREATE FUNCTION group_names_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE team_versions SET group_names_version = group_names_version + 1
        WHERE org_id IN (SELECT org_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE team_versions SET group_names_version = group_names_version + 1
        WHERE org_id IN (SELECT org_id FROM old_rows);
    ELSE
        -- Only the (id, team, name) triples that differ: a group's member changes bump its
        -- row's version, which leaves the names as they were.
        UPDATE team_versions SET group_names_version = group_names_version + 1
        WHERE org_id IN (
            SELECT org_id FROM (
                (SELECT id, org_id, name FROM old_rows EXCEPT SELECT id, org_id, name FROM new_rows)
                UNION ALL
                (SELECT id, org_id, name FROM new_rows EXCEPT SELECT id, org_id, name FROM old_rows)
            ) changed);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER group_names_version_in AFTER INSERT ON groups
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION group_names_version_bump();
CREATE TRIGGER group_names_version_up AFTER UPDATE ON groups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION group_names_version_bump();
CREATE TRIGGER group_names_version_out AFTER DELETE ON groups
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION group_names_version_bump();
