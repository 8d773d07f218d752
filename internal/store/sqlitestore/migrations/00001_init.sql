-- The first schema. Times are INTEGER unix microseconds, UTC; documents are
-- opaque JSON bytes. STRICT makes SQLite enforce the declared types.

-- +goose Up
CREATE TABLE profiles (
    account_id     TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    arn            TEXT    NOT NULL,
    connector_type TEXT    NOT NULL,
    label          TEXT    NOT NULL DEFAULT '',
    doc            BLOB,
    credentials    BLOB,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, name)
) STRICT;
CREATE INDEX profiles_type ON profiles (account_id, connector_type, name);
CREATE INDEX profiles_label ON profiles (account_id, label, name);

CREATE TABLE flows (
    account_id TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    arn        TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    doc        BLOB,
    state      BLOB,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, name)
) STRICT;

-- Which profiles a flow uses, for FlowsUsingProfile.
CREATE TABLE flow_profiles (
    account_id   TEXT NOT NULL,
    flow_name    TEXT NOT NULL,
    profile_name TEXT NOT NULL,
    PRIMARY KEY (account_id, flow_name, profile_name),
    FOREIGN KEY (account_id, flow_name) REFERENCES flows (account_id, name) ON DELETE CASCADE
) STRICT;
CREATE INDEX flow_profiles_profile ON flow_profiles (account_id, profile_name);

CREATE TABLE executions (
    account_id   TEXT    NOT NULL,
    flow_name    TEXT    NOT NULL,
    execution_id TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    doc          BLOB,
    started_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, flow_name, execution_id),
    FOREIGN KEY (account_id, flow_name) REFERENCES flows (account_id, name) ON DELETE CASCADE
) STRICT;
CREATE INDEX executions_newest ON executions (account_id, flow_name, started_at DESC, execution_id DESC);

CREATE TABLE registrations (
    account_id TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    arn        TEXT    NOT NULL,
    doc        BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, label)
) STRICT;

-- Tags are keyed by resource ARN, which names the account.
CREATE TABLE tags (
    arn   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
) STRICT;

CREATE TABLE tokens (
    account_id   TEXT    NOT NULL,
    operation    TEXT    NOT NULL,
    token        TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    response     BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, operation, token)
) STRICT;
CREATE INDEX tokens_created ON tokens (created_at);

-- +goose Down
DROP TABLE tokens;
DROP TABLE tags;
DROP TABLE registrations;
DROP TABLE executions;
DROP TABLE flow_profiles;
DROP TABLE flows;
DROP TABLE profiles;
