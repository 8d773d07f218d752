-- The first schema. Documents are opaque JSON bytes (BYTEA: the store never
-- looks inside, and BYTEA keeps them byte for byte).

-- +goose Up
CREATE TABLE profiles (
    account_id     TEXT        NOT NULL,
    name           TEXT        NOT NULL,
    arn            TEXT        NOT NULL,
    connector_type TEXT        NOT NULL,
    label          TEXT        NOT NULL DEFAULT '',
    doc            BYTEA,
    credentials    BYTEA,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, name)
);
CREATE INDEX profiles_type ON profiles (account_id, connector_type, name);
CREATE INDEX profiles_label ON profiles (account_id, label, name);

CREATE TABLE flows (
    account_id TEXT        NOT NULL,
    name       TEXT        NOT NULL,
    arn        TEXT        NOT NULL,
    status     TEXT        NOT NULL,
    doc        BYTEA,
    state      BYTEA,
    version    BIGINT      NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, name)
);

-- Which profiles a flow uses, for FlowsUsingProfile.
CREATE TABLE flow_profiles (
    account_id   TEXT NOT NULL,
    flow_name    TEXT NOT NULL,
    profile_name TEXT NOT NULL,
    PRIMARY KEY (account_id, flow_name, profile_name),
    FOREIGN KEY (account_id, flow_name) REFERENCES flows (account_id, name) ON DELETE CASCADE
);
CREATE INDEX flow_profiles_profile ON flow_profiles (account_id, profile_name);

CREATE TABLE executions (
    account_id   TEXT        NOT NULL,
    flow_name    TEXT        NOT NULL,
    execution_id TEXT        NOT NULL,
    status       TEXT        NOT NULL,
    doc          BYTEA,
    started_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, flow_name, execution_id),
    FOREIGN KEY (account_id, flow_name) REFERENCES flows (account_id, name) ON DELETE CASCADE
);
CREATE INDEX executions_newest ON executions (account_id, flow_name, started_at DESC, execution_id DESC);

CREATE TABLE registrations (
    account_id TEXT        NOT NULL,
    label      TEXT        NOT NULL,
    arn        TEXT        NOT NULL,
    doc        BYTEA,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, label)
);

-- Tags are keyed by resource ARN, which names the account.
CREATE TABLE tags (
    arn   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);

CREATE TABLE tokens (
    account_id   TEXT        NOT NULL,
    operation    TEXT        NOT NULL,
    token        TEXT        NOT NULL,
    request_hash TEXT        NOT NULL,
    response     BYTEA,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, operation, token)
);
CREATE INDEX tokens_created ON tokens (created_at);

-- +goose Down
DROP TABLE tokens;
DROP TABLE tags;
DROP TABLE registrations;
DROP TABLE executions;
DROP TABLE flow_profiles;
DROP TABLE flows;
DROP TABLE profiles;
