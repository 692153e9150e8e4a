-- A group's people, by email and by user, from one index.
--
-- Migration 0008 added `(group_id, user_id)` so that a `groups=` filter gathers a group's
-- people from an index instead of one table lookup each. The unique key `(group_id,
-- email_norm)` now carries `user_id` as an included column and serves that read (an
-- index-only scan of the group's range); reads of one person in a group go by
-- `(user_id, group_id)`. Every row written into group_memberships then updates four indexes,
-- not five: re-inserting the 3,000,000 group memberships of a million-row import took 16.3 s
-- instead of 22.8 s without the foreign key, and the import's own insert 26.1 s instead of
-- 40.7 s before its checks (docs/PERFORMANCE.md).
-- `ON CONFLICT (group_id, email_norm)` infers the new unique index as it did the constraint.
--
-- The table is locked first: building the index takes a SHARE lock and dropping the
-- constraint an ACCESS EXCLUSIVE one, and a node still serving the old release that read the
-- table and then writes it would deadlock with that upgrade, aborting the migration. Writes
-- and reads of group memberships wait for the build instead (seconds for millions of rows).
LOCK TABLE group_memberships IN ACCESS EXCLUSIVE MODE;
CREATE UNIQUE INDEX group_memberships_group_email
    ON group_memberships (group_id, email_norm) INCLUDE (user_id);
ALTER TABLE group_memberships DROP CONSTRAINT group_memberships_group_id_email_norm_key;
DROP INDEX group_memberships_group_user;
