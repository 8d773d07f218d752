-- A flow's profile labels (the labels of the labelled profiles it uses, as
-- pairs.Parse reads them) kept in its row beside its tags (00005), so that
-- a view reads no other table. Triggers keep them when a flow's profiles
-- change (flow_profiles) and when a profile is created, relabelled or
-- deleted. Profiles' names never change.

-- +goose Up
ALTER TABLE flows ADD COLUMN labels TEXT;

-- +goose StatementBegin
CREATE TRIGGER flows_labels_profile_added AFTER INSERT ON flow_profiles BEGIN
    UPDATE flows SET labels = (SELECT group_concat(length(CAST(p.name AS BLOB)) || ' ' || p.name || length(CAST(p.label AS BLOB)) || ' ' || p.label, '')
        FROM flow_profiles fp CROSS JOIN profiles p ON p.account_id = fp.account_id AND p.name = fp.profile_name
        WHERE fp.account_id = flows.account_id AND fp.flow_name = flows.name AND p.label <> '')
    WHERE account_id = NEW.account_id AND name = NEW.flow_name;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER flows_labels_profile_removed AFTER DELETE ON flow_profiles BEGIN
    UPDATE flows SET labels = (SELECT group_concat(length(CAST(p.name AS BLOB)) || ' ' || p.name || length(CAST(p.label AS BLOB)) || ' ' || p.label, '')
        FROM flow_profiles fp CROSS JOIN profiles p ON p.account_id = fp.account_id AND p.name = fp.profile_name
        WHERE fp.account_id = flows.account_id AND fp.flow_name = flows.name AND p.label <> '')
    WHERE account_id = OLD.account_id AND name = OLD.flow_name;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER flows_labels_profile_created AFTER INSERT ON profiles BEGIN
    UPDATE flows SET labels = (SELECT group_concat(length(CAST(p.name AS BLOB)) || ' ' || p.name || length(CAST(p.label AS BLOB)) || ' ' || p.label, '')
        FROM flow_profiles fp CROSS JOIN profiles p ON p.account_id = fp.account_id AND p.name = fp.profile_name
        WHERE fp.account_id = flows.account_id AND fp.flow_name = flows.name AND p.label <> '')
    WHERE account_id = NEW.account_id
        AND name IN (SELECT flow_name FROM flow_profiles WHERE account_id = NEW.account_id AND profile_name = NEW.name);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER flows_labels_profile_relabelled AFTER UPDATE OF label ON profiles WHEN OLD.label IS NOT NEW.label BEGIN
    UPDATE flows SET labels = (SELECT group_concat(length(CAST(p.name AS BLOB)) || ' ' || p.name || length(CAST(p.label AS BLOB)) || ' ' || p.label, '')
        FROM flow_profiles fp CROSS JOIN profiles p ON p.account_id = fp.account_id AND p.name = fp.profile_name
        WHERE fp.account_id = flows.account_id AND fp.flow_name = flows.name AND p.label <> '')
    WHERE account_id = NEW.account_id
        AND name IN (SELECT flow_name FROM flow_profiles WHERE account_id = NEW.account_id AND profile_name = NEW.name);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER flows_labels_profile_deleted AFTER DELETE ON profiles BEGIN
    UPDATE flows SET labels = (SELECT group_concat(length(CAST(p.name AS BLOB)) || ' ' || p.name || length(CAST(p.label AS BLOB)) || ' ' || p.label, '')
        FROM flow_profiles fp CROSS JOIN profiles p ON p.account_id = fp.account_id AND p.name = fp.profile_name
        WHERE fp.account_id = flows.account_id AND fp.flow_name = flows.name AND p.label <> '')
    WHERE account_id = OLD.account_id
        AND name IN (SELECT flow_name FROM flow_profiles WHERE account_id = OLD.account_id AND profile_name = OLD.name);
END;
-- +goose StatementEnd

UPDATE flows SET labels = (SELECT group_concat(length(CAST(p.name AS BLOB)) || ' ' || p.name || length(CAST(p.label AS BLOB)) || ' ' || p.label, '')
    FROM flow_profiles fp CROSS JOIN profiles p ON p.account_id = fp.account_id AND p.name = fp.profile_name
    WHERE fp.account_id = flows.account_id AND fp.flow_name = flows.name AND p.label <> '');

-- +goose Down
DROP TRIGGER flows_labels_profile_deleted;
DROP TRIGGER flows_labels_profile_relabelled;
DROP TRIGGER flows_labels_profile_created;
DROP TRIGGER flows_labels_profile_removed;
DROP TRIGGER flows_labels_profile_added;
ALTER TABLE flows DROP COLUMN labels;
