-- A group membership's group is checked once per statement, not once per row.
--
-- PostgreSQL checks a foreign key row by row: for each row written, a `SELECT ... FOR KEY
-- SHARE` on the group through SPI. An import of a million people writes three million group
-- memberships that name about a hundred groups, and a group replace of a million half a
-- million; the check of `group_id` was the larger part of those inserts' time (see
-- docs/PERFORMANCE.md). The same guarantees, set-based:
-- - every group a statement's new rows name exists, and is locked FOR KEY SHARE until commit,
--   as the per-row check locks it, so a concurrent delete of it waits, and a group deleted
--   before the lock fails the statement (foreign_key_violation, as before);
-- - a group membership's group never changes (no statement sets it; a row trigger refuses);
-- - deleting groups deletes their memberships (ON DELETE CASCADE), in one statement.
-- `user_id` keeps its foreign key: its rows are written one person at a time on the hot
-- paths (SCIM, invitations), where a statement trigger would cost more than it saves.
ALTER TABLE group_memberships DROP CONSTRAINT group_memberships_group_id_fkey;

CREATE FUNCTION group_memberships_group_exists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named  uuid[];
    locked bigint;
BEGIN
    -- One pass over the new rows (a hash, not the sort of count(DISTINCT)).
    SELECT array_agg(group_id) INTO named FROM (SELECT DISTINCT group_id FROM new_rows) d;
    IF named IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM groups g WHERE g.id = ANY (named) FOR KEY SHARE OF g
    ) found;
    IF locked <> cardinality(named) THEN
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
