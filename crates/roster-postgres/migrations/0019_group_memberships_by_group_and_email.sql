-- A group's people, by email and by user, from one index.
--
-- Migration 0008 added `(group_id, user_id)` so that a `groups=` filter gathers a group's
-- people from an index instead of one table lookup each. The unique key `(group_id,
-- email_norm)` now carries `user_id` as an included column and serves that read (an
-- index-only scan of the group's range); reads of one person in a group go by
-- `(user_id, group_id)`. Every row written into group_memberships then updates four indexes,
-- not five: inserting the 3,000,000 group memberships of a million-row import took 19.3 s
-- instead of 26.0 s, before the checks (docs/PERFORMANCE.md).
-- `ON CONFLICT (group_id, email_norm)` infers the new unique index as it did the constraint.
CREATE UNIQUE INDEX group_memberships_group_email
    ON group_memberships (group_id, email_norm) INCLUDE (user_id);
ALTER TABLE group_memberships DROP CONSTRAINT group_memberships_group_id_email_norm_key;
DROP INDEX group_memberships_group_user;
