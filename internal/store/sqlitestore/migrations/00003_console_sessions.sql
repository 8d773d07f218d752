-- The web console's sessions and refused sign-ins, here so that every
-- replica sees a sign-in, a sign-out and a run of failures at once. A
-- session is keyed by a hash of its cookie's token, never the token. Times
-- are unix microseconds.

-- +goose Up
CREATE TABLE console_sessions (
    token_hash    BLOB    NOT NULL PRIMARY KEY,
    account_id    TEXT    NOT NULL,
    access_key_id TEXT    NOT NULL,
    key_proof     BLOB    NOT NULL,
    csrf          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

CREATE TABLE sign_in_failures (
    subject   TEXT    NOT NULL,
    failed_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sign_in_failures_subject ON sign_in_failures (subject, failed_at);
CREATE INDEX sign_in_failures_at ON sign_in_failures (failed_at);

-- +goose Down
DROP TABLE sign_in_failures;
DROP TABLE console_sessions;
