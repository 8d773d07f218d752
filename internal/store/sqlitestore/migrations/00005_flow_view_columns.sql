-- What a flow view shows beside the flow's row, kept in the row so that
-- DescribeFlow and ListFlows read one row per flow: the flow's tags (as
-- pairs.Parse reads them) and its newest execution (by started_at, then
-- execution_id). Triggers keep them, so every writer (an older binary, the
-- sqlite3 shell) keeps them in step in its own transaction. Executions'
-- keys (account, flow, id) and flows' ARNs never change.

-- +goose Up
ALTER TABLE flows ADD COLUMN tags TEXT;
ALTER TABLE flows ADD COLUMN newest_id TEXT;
ALTER TABLE flows ADD COLUMN newest_status TEXT;
ALTER TABLE flows ADD COLUMN newest_doc BLOB;
ALTER TABLE flows ADD COLUMN newest_started_at INTEGER;
ALTER TABLE flows ADD COLUMN newest_updated_at INTEGER;
CREATE INDEX flows_arn ON flows (arn);

-- +goose StatementBegin
CREATE TRIGGER flows_tags_insert AFTER INSERT ON tags BEGIN
    UPDATE flows SET tags = (SELECT group_concat(length(CAST(t.key AS BLOB)) || ' ' || t.key || length(CAST(t.value AS BLOB)) || ' ' || t.value, '')
        FROM tags t WHERE t.arn = flows.arn) WHERE arn = NEW.arn;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER flows_tags_update AFTER UPDATE ON tags BEGIN
    UPDATE flows SET tags = (SELECT group_concat(length(CAST(t.key AS BLOB)) || ' ' || t.key || length(CAST(t.value AS BLOB)) || ' ' || t.value, '')
        FROM tags t WHERE t.arn = flows.arn) WHERE arn = NEW.arn;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER flows_tags_delete AFTER DELETE ON tags BEGIN
    UPDATE flows SET tags = (SELECT group_concat(length(CAST(t.key AS BLOB)) || ' ' || t.key || length(CAST(t.value AS BLOB)) || ' ' || t.value, '')
        FROM tags t WHERE t.arn = flows.arn) WHERE arn = OLD.arn;
END;
-- +goose StatementEnd
-- A new flow takes the tags its ARN has (a deleted flow of the same name
-- may have left some).
-- +goose StatementBegin
CREATE TRIGGER flows_tags_created AFTER INSERT ON flows BEGIN
    UPDATE flows SET tags = (SELECT group_concat(length(CAST(t.key AS BLOB)) || ' ' || t.key || length(CAST(t.value AS BLOB)) || ' ' || t.value, '')
        FROM tags t WHERE t.arn = flows.arn) WHERE rowid = NEW.rowid;
END;
-- +goose StatementEnd

-- The newest execution is read again through executions_newest when an
-- execution is added, when the newest changes or is deleted, or when an
-- execution's start time changes. A claim or a lease renewal of another
-- execution than the newest leaves the flow alone.
-- +goose StatementBegin
CREATE TRIGGER flows_newest_insert AFTER INSERT ON executions BEGIN
    UPDATE flows SET (newest_id, newest_status, newest_doc, newest_started_at, newest_updated_at) = (
        SELECT x.execution_id, x.status, x.doc, x.started_at, x.updated_at FROM executions x
        WHERE x.account_id = flows.account_id AND x.flow_name = flows.name
        ORDER BY x.started_at DESC, x.execution_id DESC LIMIT 1)
    WHERE account_id = NEW.account_id AND name = NEW.flow_name;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER flows_newest_update AFTER UPDATE OF status, doc, started_at, updated_at ON executions
WHEN OLD.status IS NOT NEW.status OR OLD.doc IS NOT NEW.doc OR OLD.started_at <> NEW.started_at OR OLD.updated_at <> NEW.updated_at BEGIN
    UPDATE flows SET (newest_id, newest_status, newest_doc, newest_started_at, newest_updated_at) = (
        SELECT x.execution_id, x.status, x.doc, x.started_at, x.updated_at FROM executions x
        WHERE x.account_id = flows.account_id AND x.flow_name = flows.name
        ORDER BY x.started_at DESC, x.execution_id DESC LIMIT 1)
    WHERE account_id = NEW.account_id AND name = NEW.flow_name
        AND (newest_id = NEW.execution_id OR OLD.started_at <> NEW.started_at);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER flows_newest_delete AFTER DELETE ON executions BEGIN
    UPDATE flows SET (newest_id, newest_status, newest_doc, newest_started_at, newest_updated_at) = (
        SELECT x.execution_id, x.status, x.doc, x.started_at, x.updated_at FROM executions x
        WHERE x.account_id = flows.account_id AND x.flow_name = flows.name
        ORDER BY x.started_at DESC, x.execution_id DESC LIMIT 1)
    WHERE account_id = OLD.account_id AND name = OLD.flow_name AND newest_id = OLD.execution_id;
END;
-- +goose StatementEnd

UPDATE flows SET
    tags = (SELECT group_concat(length(CAST(t.key AS BLOB)) || ' ' || t.key || length(CAST(t.value AS BLOB)) || ' ' || t.value, '')
        FROM tags t WHERE t.arn = flows.arn),
    (newest_id, newest_status, newest_doc, newest_started_at, newest_updated_at) = (
        SELECT x.execution_id, x.status, x.doc, x.started_at, x.updated_at FROM executions x
        WHERE x.account_id = flows.account_id AND x.flow_name = flows.name
        ORDER BY x.started_at DESC, x.execution_id DESC LIMIT 1);

-- +goose Down
DROP TRIGGER flows_newest_delete;
DROP TRIGGER flows_newest_update;
DROP TRIGGER flows_newest_insert;
DROP TRIGGER flows_tags_created;
DROP TRIGGER flows_tags_delete;
DROP TRIGGER flows_tags_update;
DROP TRIGGER flows_tags_insert;
DROP INDEX flows_arn;
ALTER TABLE flows DROP COLUMN newest_updated_at;
ALTER TABLE flows DROP COLUMN newest_started_at;
ALTER TABLE flows DROP COLUMN newest_doc;
ALTER TABLE flows DROP COLUMN newest_status;
ALTER TABLE flows DROP COLUMN newest_id;
ALTER TABLE flows DROP COLUMN tags;
