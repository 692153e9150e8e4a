-- Nothing to do on SQLite: its foreign keys are checked inside the engine, a B-tree probe a
-- row with no lock to take (one writer at a time), so `group_memberships.group_id` keeps its
-- declared foreign key here. PostgreSQL's migration of this number checks it per statement.
SELECT 1;
