-- The group-replace baseline on PostgreSQL: the same diff as Roster's PUT, hand-written, in one
-- transaction through psql. {csv}, {group}, {org} are filled in by bench/run.
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE payload (email text NOT NULL, email_norm text COLLATE "C" PRIMARY KEY)
    ON COMMIT DROP;
\copy payload FROM '{csv}' CSV
ANALYZE payload;
DELETE FROM group_memberships gm
WHERE gm.group_id = '{group}' AND NOT EXISTS (SELECT 1 FROM payload p WHERE p.email_norm = gm.email_norm);
INSERT INTO group_memberships (id, group_id, user_id, email, email_norm, created_at)
SELECT gen_random_uuid(), '{group}', m.user_id, p.email, p.email_norm, now()
FROM payload p
LEFT JOIN memberships m ON m.org_id = '{org}' AND m.email_norm = p.email_norm
LEFT JOIN group_memberships gm ON gm.group_id = '{group}' AND gm.email_norm = p.email_norm
WHERE gm.id IS NULL;
COMMIT;
