-- A team's data version: it grows with every change to what the team's member lists show
-- (memberships, their people, groups and group memberships), so that a page computed for one
-- version can be served again until the next change. Kept by statement-level triggers (one
-- bump per statement, whatever its row count), so no write path can forget it. It lives in a
-- table of its own: bumping the organization row would upgrade the share locks that group
-- changes hold on it, and two such transactions would deadlock.
CREATE TABLE team_versions (
    org_id  uuid   PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    version bigint NOT NULL DEFAULT 0
);
INSERT INTO team_versions (org_id) SELECT id FROM organizations;

CREATE FUNCTION team_versions_new_team() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO team_versions (org_id) SELECT id FROM new_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER team_versions_new_team AFTER INSERT ON organizations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION team_versions_new_team();

-- Bumps the teams named by org_id in the transition table(s).
CREATE FUNCTION team_versions_bump_by_org() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A statement trigger fires for statements that changed no row: those change nothing.
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM old_rows) THEN RETURN NULL; END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        UPDATE team_versions SET version = version + 1
        WHERE org_id IN (SELECT DISTINCT org_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE team_versions SET version = version + 1
        WHERE org_id IN (SELECT DISTINCT org_id FROM old_rows);
    ELSE
        UPDATE team_versions SET version = version + 1
        WHERE org_id IN (SELECT org_id FROM new_rows UNION SELECT org_id FROM old_rows);
    END IF;
    RETURN NULL;
END $$;

-- The same for rows that name a group.
CREATE FUNCTION team_versions_bump_by_group() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM old_rows) THEN RETURN NULL; END IF;
    ELSIF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        UPDATE team_versions SET version = version + 1 WHERE org_id IN
            (SELECT g.org_id FROM groups g WHERE g.id IN (SELECT DISTINCT group_id FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        -- A group deleted with its memberships is gone: its own trigger bumps the team.
        UPDATE team_versions SET version = version + 1 WHERE org_id IN
            (SELECT g.org_id FROM groups g WHERE g.id IN (SELECT DISTINCT group_id FROM old_rows));
    ELSE
        UPDATE team_versions SET version = version + 1 WHERE org_id IN
            (SELECT g.org_id FROM groups g WHERE g.id IN
                (SELECT group_id FROM new_rows UNION SELECT group_id FROM old_rows));
    END IF;
    RETURN NULL;
END $$;

-- A person's name, email or activity shows in every team they are in.
CREATE FUNCTION team_versions_bump_by_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN RETURN NULL; END IF;
    UPDATE team_versions SET version = version + 1 WHERE org_id IN
        (SELECT m.org_id FROM memberships m WHERE m.user_id IN (SELECT id FROM new_rows));
    RETURN NULL;
END $$;

CREATE FUNCTION team_versions_bump_team() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE team_versions SET version = version + 1 WHERE org_id IN (SELECT id FROM new_rows);
    RETURN NULL;
END $$;

-- Transition tables allow one event per trigger: three triggers per table.
CREATE TRIGGER team_versions_team AFTER UPDATE ON organizations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_team();

CREATE TRIGGER team_versions_membership_in AFTER INSERT ON memberships
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_by_org();
CREATE TRIGGER team_versions_membership_up AFTER UPDATE ON memberships
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_by_org();
CREATE TRIGGER team_versions_membership_out AFTER DELETE ON memberships
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_by_org();

CREATE TRIGGER team_versions_group_in AFTER INSERT ON groups
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_by_org();
CREATE TRIGGER team_versions_group_up AFTER UPDATE ON groups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_by_org();
CREATE TRIGGER team_versions_group_out AFTER DELETE ON groups
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_by_org();

CREATE TRIGGER team_versions_group_member_in AFTER INSERT ON group_memberships
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_by_group();
CREATE TRIGGER team_versions_group_member_up AFTER UPDATE ON group_memberships
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_by_group();
CREATE TRIGGER team_versions_group_member_out AFTER DELETE ON group_memberships
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_by_group();

CREATE TRIGGER team_versions_person AFTER UPDATE ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION team_versions_bump_by_user();
