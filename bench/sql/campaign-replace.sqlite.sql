-- The campaign-replace baseline on SQLite: the same diff as Roster's PUT (members not sent
-- leave, present members take the new data, new ones come in), in one transaction.
.bail on
PRAGMA foreign_keys = ON;
BEGIN IMMEDIATE;
CREATE TEMP TABLE payload (email TEXT NOT NULL, email_norm TEXT NOT NULL, data TEXT NOT NULL);
.import --csv {csv} payload
CREATE UNIQUE INDEX temp.payload_norm ON payload (email_norm);
DELETE FROM campaign_members
WHERE campaign_id = X'{campaign}' AND email_norm NOT IN (SELECT email_norm FROM payload);
INSERT INTO campaign_members (id, campaign_id, org_id, email, email_norm, data, created_at, updated_at)
SELECT randomblob(16), X'{campaign}', X'{org}', email, email_norm, data, {now}, {now}
FROM payload WHERE true
ON CONFLICT (campaign_id, email_norm) DO UPDATE
    SET data = excluded.data, updated_at = excluded.updated_at
    WHERE campaign_members.data IS NOT excluded.data;
COMMIT;
