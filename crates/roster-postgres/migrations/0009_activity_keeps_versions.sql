-- Activity (last_active_at), which authentication refreshes once a minute, no longer moves the
-- version of the person's teams: a bump per active person per minute threw away every kept
-- page of those teams at once, and the next requests all read cold. Kept pages are served for
-- about a minute at most instead (roster-server's page cache), as fresh as the figure itself.
-- A trigger with transition tables cannot name columns, so the rows are compared.
CREATE FUNCTION team_versions_bump_by_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE team_versions SET version = version + 1 WHERE org_id IN
        (SELECT m.org_id FROM memberships m WHERE m.user_id IN
            (SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
             WHERE (n.name, n.name_lower, n.email, n.email_norm, n.is_operator,
                    n.service_account, n.deployment_key_account, n.date_joined,
                    n.last_login_at, n.created_at)
                IS DISTINCT FROM
                   (o.name, o.name_lower, o.email, o.email_norm, o.is_operator,
                    o.service_account, o.deployment_key_account, o.date_joined,
                    o.last_login_at, o.created_at)));
    RETURN NULL;
END $$;
DROP TRIGGER team_versions_person ON users;
CREATE TRIGGER team_versions_person AFTER UPDATE ON users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_by_person();
