-- Changes that can alter what a key's holder or a caller's role is say so in their notice
-- (payload 'access'); the others (payload '') only add, and leave what nodes remember of keys
-- and roles good (roster_core::changes). Both kinds still reach every node at commit.
CREATE FUNCTION roster_notify_access() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('roster_changes', 'access');
    RETURN NULL;
END $$;

CREATE TRIGGER roster_notify_access AFTER UPDATE OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_access();
-- The columns a key's holder is read with (not the activity times).
CREATE TRIGGER roster_notify_access
    AFTER UPDATE OF name, email, is_operator, service_account, deployment_key_account,
        date_joined OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_access();
CREATE TRIGGER roster_notify_access AFTER UPDATE OR DELETE OR TRUNCATE ON memberships
    FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_access();
CREATE TRIGGER roster_notify_access AFTER DELETE OR TRUNCATE ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_access();
