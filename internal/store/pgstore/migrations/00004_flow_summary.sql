-- A flow's list summary (store.FlowListSummary of its document), written
-- with the document so ListFlows reads small rows. summary_version is the
-- flow version the summary was made at: a writer that does not know the
-- column (an older binary) bumps version without it, and lists then read
-- the document. Existing rows are filled when the store opens.

-- +goose Up
ALTER TABLE flows ADD COLUMN summary BYTEA;
ALTER TABLE flows ADD COLUMN summary_version BIGINT;

-- +goose Down
ALTER TABLE flows DROP COLUMN summary_version;
ALTER TABLE flows DROP COLUMN summary;
