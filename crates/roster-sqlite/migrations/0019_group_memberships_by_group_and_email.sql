-- Nothing to do on SQLite: it has no included columns, so `(group_id, user_id)` (migration
-- 0008) stays beside the unique `(group_id, email_norm)` for the `groups=` filter's read.
-- PostgreSQL's migration of this number folds the two into one index.
SELECT 1;
