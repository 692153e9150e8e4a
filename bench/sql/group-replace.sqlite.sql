-- The group-replace baseline on SQLite: the same diff as Roster's PUT, hand-written, in one
-- transaction through sqlite3. {csv}, {group}, {org} (hex) and {now} are filled in by bench/run.
.bail on
PRAGMA foreign_keys = ON;
BEGIN IMMEDIATE;
CREATE TEMP TABLE payload (email TEXT NOT NULL, email_norm TEXT NOT NULL);
.import --csv {csv} payload
CREATE UNIQUE INDEX temp.payload_norm ON payload (email_norm);
DELETE FROM group_memberships
WHERE group_id = X'{group}' AND email_norm NOT IN (SELECT email_norm FROM payload);
INSERT INTO group_memberships (id, group_id, user_id, email, email_norm, created_at)
SELECT randomblob(16), X'{group}', m.user_id, p.email, p.email_norm, {now}
FROM payload p LEFT JOIN memberships m ON m.org_id = X'{org}' AND m.email_norm = p.email_norm
WHERE NOT EXISTS (SELECT 1 FROM group_memberships gm
                  WHERE gm.group_id = X'{group}' AND gm.email_norm = p.email_norm);
COMMIT;
