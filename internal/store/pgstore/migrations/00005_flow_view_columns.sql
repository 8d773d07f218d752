-- What a flow view shows beside the flow's row, kept in the row so that
-- DescribeFlow and ListFlows read one row per flow: the flow's tags (as
-- pairs.Parse reads them) and its newest execution (by started_at, then
-- execution_id). Triggers keep them, so every writer (an older binary, a
-- psql session) keeps them in step in its own transaction. Executions'
-- keys (account, flow, id) and flows' ARNs never change.
--
-- A trigger locks the flow row before it reads: under READ COMMITTED its
-- next statement then takes a snapshot that holds what a concurrent writer
-- of the same flow committed, so two writers cannot each leave out the
-- other's change. The functions keep the search_path they were created
-- with, so a session with another one writes the same tables.

-- +goose Up
ALTER TABLE flows ADD COLUMN tags TEXT;
ALTER TABLE flows ADD COLUMN newest_id TEXT;
ALTER TABLE flows ADD COLUMN newest_status TEXT;
ALTER TABLE flows ADD COLUMN newest_doc BYTEA;
ALTER TABLE flows ADD COLUMN newest_started_at TIMESTAMPTZ;
ALTER TABLE flows ADD COLUMN newest_updated_at TIMESTAMPTZ;
CREATE INDEX flows_arn ON flows (arn);

-- +goose StatementBegin
CREATE FUNCTION flow_tags(flow_arn TEXT) RETURNS TEXT LANGUAGE sql STABLE
    SET search_path FROM CURRENT AS $$
    SELECT string_agg(octet_length(t.key) || ' ' || t.key || octet_length(t.value) || ' ' || t.value, '')
    FROM tags t WHERE t.arn = flow_arn
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION flows_tags_changed() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
DECLARE
    flow_arn TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        flow_arn := OLD.arn;
    ELSE
        flow_arn := NEW.arn;
    END IF;
    PERFORM 1 FROM flows WHERE arn = flow_arn FOR NO KEY UPDATE;
    UPDATE flows SET tags = flow_tags(flow_arn) WHERE arn = flow_arn;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER flows_tags AFTER INSERT OR UPDATE OR DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION flows_tags_changed();

-- A new flow takes the tags its ARN has (a deleted flow of the same name
-- may have left some).
-- +goose StatementBegin
CREATE FUNCTION flows_tags_created() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    NEW.tags := flow_tags(NEW.arn);
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER flows_tags_created BEFORE INSERT ON flows
    FOR EACH ROW EXECUTE FUNCTION flows_tags_created();

-- The newest execution is read again through executions_newest when an
-- execution is added, when the newest changes or is deleted, or when an
-- execution's start time changes. A claim or a lease renewal of another
-- execution than the newest leaves the flow alone.
-- +goose StatementBegin
CREATE FUNCTION flows_newest_changed() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
DECLARE
    e executions;
    moved BOOLEAN := false;
BEGIN
    IF TG_OP = 'DELETE' THEN
        e := OLD;
    ELSE
        e := NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        moved := OLD.started_at <> NEW.started_at;
    END IF;
    PERFORM 1 FROM flows WHERE account_id = e.account_id AND name = e.flow_name FOR NO KEY UPDATE;
    UPDATE flows f SET (newest_id, newest_status, newest_doc, newest_started_at, newest_updated_at) = (
        SELECT x.execution_id, x.status, x.doc, x.started_at, x.updated_at FROM executions x
        WHERE x.account_id = f.account_id AND x.flow_name = f.name
        ORDER BY x.started_at DESC, x.execution_id DESC LIMIT 1)
    WHERE f.account_id = e.account_id AND f.name = e.flow_name
        AND (TG_OP = 'INSERT' OR moved OR f.newest_id = e.execution_id OR f.newest_id IS NULL);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER flows_newest_insert_delete AFTER INSERT OR DELETE ON executions
    FOR EACH ROW EXECUTE FUNCTION flows_newest_changed();
CREATE TRIGGER flows_newest_update AFTER UPDATE OF status, doc, started_at, updated_at ON executions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.doc IS DISTINCT FROM NEW.doc
        OR OLD.started_at <> NEW.started_at OR OLD.updated_at <> NEW.updated_at)
    EXECUTE FUNCTION flows_newest_changed();

UPDATE flows f SET
    tags = flow_tags(f.arn),
    (newest_id, newest_status, newest_doc, newest_started_at, newest_updated_at) = (
        SELECT x.execution_id, x.status, x.doc, x.started_at, x.updated_at FROM executions x
        WHERE x.account_id = f.account_id AND x.flow_name = f.name
        ORDER BY x.started_at DESC, x.execution_id DESC LIMIT 1);

-- +goose Down
DROP TRIGGER flows_newest_update ON executions;
DROP TRIGGER flows_newest_insert_delete ON executions;
DROP FUNCTION flows_newest_changed();
DROP TRIGGER flows_tags_created ON flows;
DROP FUNCTION flows_tags_created();
DROP TRIGGER flows_tags ON tags;
DROP FUNCTION flows_tags_changed();
DROP FUNCTION flow_tags(TEXT);
DROP INDEX flows_arn;
ALTER TABLE flows DROP COLUMN newest_updated_at;
ALTER TABLE flows DROP COLUMN newest_started_at;
ALTER TABLE flows DROP COLUMN newest_doc;
ALTER TABLE flows DROP COLUMN newest_status;
ALTER TABLE flows DROP COLUMN newest_id;
ALTER TABLE flows DROP COLUMN tags;
