"""Gmail: per mailbox, the last history id filed and when the push watch expires.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from fte.migrations.sql import execute_script

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE gmail_mailboxes (
    -- The mailbox's address, as Gmail names it in push notifications.
    mailbox text PRIMARY KEY,
    -- Gmail's history id up to which mail has been filed: advanced in the transaction that
    -- files the messages, so nothing is read twice and nothing is skipped.
    history_id bigint,
    watch_expires_at timestamptz,
    watch_renewed_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS gmail_mailboxes;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
