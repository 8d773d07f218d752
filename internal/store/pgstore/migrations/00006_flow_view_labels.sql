-- A flow's profile labels (the labels of the labelled profiles it uses, as
-- pairs.Parse reads them) kept in its row beside its tags (00005), so that
-- a view reads no other table. Triggers keep them when a flow's profiles
-- change (flow_profiles) and when a profile is created, relabelled or
-- deleted; like 00005's, they lock the flows (in name order) before they
-- read. Profiles' names never change.

-- +goose Up
ALTER TABLE flows ADD COLUMN labels TEXT;

-- +goose StatementBegin
CREATE FUNCTION flow_labels(account TEXT, flow TEXT) RETURNS TEXT LANGUAGE sql STABLE
    SET search_path FROM CURRENT AS $$
    SELECT string_agg(octet_length(p.name) || ' ' || p.name || octet_length(p.label) || ' ' || p.label, '')
    FROM flow_profiles fp JOIN profiles p ON p.account_id = fp.account_id AND p.name = fp.profile_name
    WHERE fp.account_id = account AND fp.flow_name = flow AND p.label <> ''
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION flows_labels_flow_changed() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
DECLARE
    fp flow_profiles;
BEGIN
    IF TG_OP = 'DELETE' THEN
        fp := OLD;
    ELSE
        fp := NEW;
    END IF;
    PERFORM 1 FROM flows WHERE account_id = fp.account_id AND name = fp.flow_name FOR NO KEY UPDATE;
    UPDATE flows SET labels = flow_labels(fp.account_id, fp.flow_name) WHERE account_id = fp.account_id AND name = fp.flow_name;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER flows_labels_flow AFTER INSERT OR DELETE ON flow_profiles
    FOR EACH ROW EXECUTE FUNCTION flows_labels_flow_changed();

-- +goose StatementBegin
CREATE FUNCTION flows_labels_profile_changed() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
DECLARE
    p profiles;
BEGIN
    IF TG_OP = 'DELETE' THEN
        p := OLD;
    ELSE
        p := NEW;
    END IF;
    PERFORM 1 FROM flows f
        WHERE f.account_id = p.account_id
            AND f.name IN (SELECT flow_name FROM flow_profiles WHERE account_id = p.account_id AND profile_name = p.name)
        ORDER BY f.name FOR NO KEY UPDATE;
    UPDATE flows f SET labels = flow_labels(f.account_id, f.name)
        WHERE f.account_id = p.account_id
            AND f.name IN (SELECT flow_name FROM flow_profiles WHERE account_id = p.account_id AND profile_name = p.name);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER flows_labels_profile AFTER INSERT OR DELETE ON profiles
    FOR EACH ROW EXECUTE FUNCTION flows_labels_profile_changed();
CREATE TRIGGER flows_labels_profile_relabelled AFTER UPDATE OF label ON profiles
    FOR EACH ROW WHEN (OLD.label IS DISTINCT FROM NEW.label) EXECUTE FUNCTION flows_labels_profile_changed();

UPDATE flows SET labels = flow_labels(account_id, name);

-- +goose Down
DROP TRIGGER flows_labels_profile_relabelled ON profiles;
DROP TRIGGER flows_labels_profile ON profiles;
DROP FUNCTION flows_labels_profile_changed();
DROP TRIGGER flows_labels_flow ON flow_profiles;
DROP FUNCTION flows_labels_flow_changed();
DROP FUNCTION flow_labels(TEXT, TEXT);
ALTER TABLE flows DROP COLUMN labels;
