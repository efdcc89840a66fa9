"""Delivery: an outbound message carries when it was sent and the provider's last error; the
workers record each channel's circuit breaker for /health.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from fte.migrations.sql import execute_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
-- delivery_status of an outbound message: queued -> sent -> delivered / read, or failed.
ALTER TABLE messages ADD COLUMN sent_at timestamptz;
ALTER TABLE messages ADD COLUMN delivery_error text;

-- The delivery breaker of each channel, as the worker that last changed it saw it.
CREATE TABLE channel_health (
    channel      text PRIMARY KEY,
    breaker      text NOT NULL CHECK (breaker IN ('closed', 'open', 'half_open')),
    failures     integer NOT NULL DEFAULT 0,
    last_error   text,
    worker       text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- How far an IMAP mailbox has been read: UIDs above last_uid are new, while uidvalidity holds.
CREATE TABLE mailbox_state (
    mailbox      text PRIMARY KEY,
    uidvalidity  bigint NOT NULL,
    last_uid     bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS mailbox_state;
DROP TABLE IF EXISTS channel_health;
ALTER TABLE messages DROP COLUMN IF EXISTS delivery_error;
ALTER TABLE messages DROP COLUMN IF EXISTS sent_at;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
