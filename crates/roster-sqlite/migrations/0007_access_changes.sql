-- A count of the changes that can alter what a key's holder or a caller's role is
-- (roster_core::changes): the watchers of this file compare it between commits to tell those
-- changes apart from the ones that only add (new people, members, keys), which leave what a
-- node remembers of keys and roles good.
CREATE TABLE access_changes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT INTO access_changes (id, version) VALUES (1, 0);

CREATE TRIGGER access_changes_key_up AFTER UPDATE ON api_keys BEGIN
    UPDATE access_changes SET version = version + 1;
END;
CREATE TRIGGER access_changes_key_out AFTER DELETE ON api_keys BEGIN
    UPDATE access_changes SET version = version + 1;
END;
-- The columns a key's holder is read with (not the activity times).
CREATE TRIGGER access_changes_person_up
    AFTER UPDATE OF name, email, is_operator, service_account, deployment_key_account,
        date_joined ON users BEGIN
    UPDATE access_changes SET version = version + 1;
END;
CREATE TRIGGER access_changes_person_out AFTER DELETE ON users BEGIN
    UPDATE access_changes SET version = version + 1;
END;
CREATE TRIGGER access_changes_member_up AFTER UPDATE ON memberships BEGIN
    UPDATE access_changes SET version = version + 1;
END;
CREATE TRIGGER access_changes_member_out AFTER DELETE ON memberships BEGIN
    UPDATE access_changes SET version = version + 1;
END;
CREATE TRIGGER access_changes_team_out AFTER DELETE ON organizations BEGIN
    UPDATE access_changes SET version = version + 1;
END;
