-- Executions carry a version for compare-and-set updates and the claim of
-- the process running them: its owner id and when its lease lapses (NULL
-- while queued).

-- +goose Up
ALTER TABLE executions ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE executions ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE executions ADD COLUMN lease_until TIMESTAMPTZ;
CREATE INDEX executions_unfinished ON executions (status) WHERE status IN ('InProgress', 'CancelStarted');

-- +goose Down
DROP INDEX executions_unfinished;
ALTER TABLE executions DROP COLUMN lease_until;
ALTER TABLE executions DROP COLUMN owner;
ALTER TABLE executions DROP COLUMN version;
