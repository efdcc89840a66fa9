"""People and programs that act on tickets: users, their sessions, API keys, rate limits, and
the audit log of what they did.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from fte.migrations.sql import execute_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL,
    name           text NOT NULL,
    role           text NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));

-- Only a hash of the cookie's token is stored: a database dump signs no one in.
CREATE TABLE user_sessions (
    token_hash  bytea PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
-- A person who took the ticket over: the agent stays silent on it until they hand it back.
ALTER TABLE tickets ADD COLUMN assignee_id uuid REFERENCES users(id) ON DELETE SET NULL;
CREATE INDEX tickets_assignee_idx ON tickets (assignee_id) WHERE assignee_id IS NOT NULL;

CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);
CREATE INDEX user_sessions_expiry_idx ON user_sessions (expires_at);

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'agent')),
    prefix        text NOT NULL,
    key_hash      bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

-- A sliding window shared by every API process: one row per attempt, pruned as it goes.
CREATE TABLE rate_limit_hits (
    bucket  text NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX rate_limit_hits_idx ON rate_limit_hits (bucket, at);

CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    ticket_id  uuid REFERENCES tickets(id) ON DELETE SET NULL,
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_ticket_idx ON audit_log (ticket_id, at);
CREATE INDEX audit_log_at_idx ON audit_log (at)
"""

DOWNGRADE = """
ALTER TABLE tickets DROP COLUMN IF EXISTS assignee_id;
DROP TABLE IF EXISTS audit_log, rate_limit_hits, api_keys, user_sessions, users
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
