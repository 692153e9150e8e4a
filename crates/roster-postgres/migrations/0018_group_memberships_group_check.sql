-- A group membership's group is checked once per statement, not once per row.
--
-- PostgreSQL checks a foreign key row by row: for each row written, a `SELECT ... FOR KEY
-- SHARE` on the group through SPI. A group replace of a million emails writes half a million
-- rows into one group; the per-row check took 3.5-3.8 s of a 15-17 s insert of 500,000 held
-- emails, and this trigger 0.1 s (docs/PERFORMANCE.md). The same guarantees, set-based:
-- - every group a statement's new rows name exists, and is locked FOR KEY SHARE until commit,
--   as the per-row check locks it, so a concurrent delete of it waits, and a group deleted
--   before the lock fails the statement (foreign_key_violation, as before);
-- - a group membership's group never changes (no statement sets it; a row trigger refuses);
-- - deleting groups deletes their memberships (ON DELETE CASCADE), in one statement;
-- - groups cannot be emptied by TRUNCATE, nor a group's id changed (the key refused both).
-- `user_id` keeps its foreign key: its rows are written one person at a time on the hot
-- paths (SCIM, invitations), where a statement trigger would cost more than it saves.
ALTER TABLE group_memberships DROP CONSTRAINT group_memberships_group_id_fkey;

CREATE FUNCTION group_memberships_group_exists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named  bigint;
    locked bigint;
BEGIN
    -- Two plain statements: collecting the ids into an array first cost a one-row insert
    -- 34-53 microseconds instead of 27-35 (the per-row key: 12-20), and 500,000 rows 4.5 s
    -- instead of 3.9 (the key: 7.2).
    PERFORM 1 FROM groups g WHERE g.id IN (SELECT group_id FROM new_rows) FOR KEY SHARE OF g;
    GET DIAGNOSTICS locked = ROW_COUNT;
    SELECT count(*) INTO named FROM (SELECT DISTINCT group_id FROM new_rows) d;
    IF locked <> named THEN
        RAISE foreign_key_violation USING
            MESSAGE = 'insert on table "group_memberships" violates foreign key constraint '
                      '"group_memberships_group_id_fkey"',
            DETAIL = 'A group the rows name is not present in table "groups".',
            CONSTRAINT = 'group_memberships_group_id_fkey';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER group_memberships_group_exists AFTER INSERT ON group_memberships
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION group_memberships_group_exists();

CREATE FUNCTION group_memberships_group_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE foreign_key_violation USING
        MESSAGE = 'a group membership''s group cannot change',
        CONSTRAINT = 'group_memberships_group_id_fkey';
END $$;
CREATE TRIGGER group_memberships_group_fixed BEFORE UPDATE OF group_id ON group_memberships
    FOR EACH ROW WHEN (NEW.group_id IS DISTINCT FROM OLD.group_id)
    EXECUTE FUNCTION group_memberships_group_fixed();

CREATE FUNCTION groups_delete_memberships() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM group_memberships WHERE group_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;
CREATE TRIGGER groups_delete_memberships AFTER DELETE ON groups
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION groups_delete_memberships();

-- What the foreign key also refused: emptying `groups` by TRUNCATE (which fires no delete
-- trigger; `TRUNCATE organizations CASCADE` reaches it too) and changing a group's id.
CREATE FUNCTION groups_keep_memberships_whole() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE feature_not_supported USING
            MESSAGE = 'cannot truncate "groups": group memberships name its rows (delete them instead)';
    END IF;
    RAISE foreign_key_violation USING
        MESSAGE = 'a group''s id cannot change: group memberships name it',
        CONSTRAINT = 'group_memberships_group_id_fkey';
END $$;
CREATE TRIGGER groups_no_truncate BEFORE TRUNCATE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION groups_keep_memberships_whole();
CREATE TRIGGER groups_id_fixed BEFORE UPDATE OF id ON groups
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id)
    EXECUTE FUNCTION groups_keep_memberships_whole();
