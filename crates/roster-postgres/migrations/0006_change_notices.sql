-- Every node keeps what it read of keys, roles and team versions in memory while nothing has
-- changed (roster_core::changes). A change made by any node tells the others through one
-- notice on the channel roster_changes, sent when its transaction commits (PostgreSQL folds
-- the identical notices of one transaction into one).
CREATE FUNCTION roster_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('roster_changes', '');
    RETURN NULL;
END $$;

-- The tables those memories come from: keys and their holders, teams and roles, and the
-- team versions (which every change to a member list bumps).
CREATE TRIGGER roster_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_change();
CREATE TRIGGER roster_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_change();
CREATE TRIGGER roster_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_change();
CREATE TRIGGER roster_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON memberships
    FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_change();
CREATE TRIGGER roster_notify_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON team_versions
    FOR EACH STATEMENT EXECUTE FUNCTION roster_notify_change();
