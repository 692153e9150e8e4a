-- The campaign-replace baseline on PostgreSQL: the same diff as Roster's PUT, in one
-- transaction through psql.
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE payload (email text NOT NULL, email_norm text COLLATE "C" PRIMARY KEY,
                           data text NOT NULL) ON COMMIT DROP;
\copy payload FROM '{csv}' CSV
ANALYZE payload;
DELETE FROM campaign_members cm
WHERE cm.campaign_id = '{campaign}' AND NOT EXISTS (SELECT 1 FROM payload p WHERE p.email_norm = cm.email_norm);
INSERT INTO campaign_members AS cm (id, campaign_id, org_id, email, email_norm, data, created_at, updated_at)
SELECT gen_random_uuid(), '{campaign}', '{org}', email, email_norm, data, now(), now()
FROM payload
ON CONFLICT (campaign_id, email_norm) DO UPDATE
    SET data = excluded.data, updated_at = excluded.updated_at
    WHERE cm.data IS DISTINCT FROM excluded.data;
COMMIT;
