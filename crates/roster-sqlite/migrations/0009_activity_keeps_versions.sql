-- Activity (last_active_at), which authentication refreshes once a minute, no longer moves the
-- version of the person's teams: a bump per active person per minute threw away every kept
-- page of those teams at once, and the next requests all read cold. Kept pages are served for
-- about a minute at most instead (roster-server's page cache), as fresh as the figure itself.
DROP TRIGGER team_versions_person;
CREATE TRIGGER team_versions_person AFTER UPDATE OF id, name, name_lower, email, email_norm,
        is_operator, service_account, deployment_key_account, date_joined, last_login_at,
        created_at ON users BEGIN
    UPDATE team_versions SET version = version + 1
    WHERE org_id IN (SELECT org_id FROM memberships WHERE user_id = NEW.id);
END;
