"""Channel state: a channel whose provider refused our credentials is disabled, durably, until
a delivery goes through again or an operator enables it (`fte channel enable NAME`); its
replies wait in the queue meanwhile instead of becoming dead letters one by one.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from fte.migrations.sql import execute_script

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE channel_state (
    channel      text PRIMARY KEY,
    -- NULL: enabled. Set when the provider refused our credentials.
    disabled_at  timestamptz,
    reason       text,
    -- The last delivery let through to see whether the credentials work again.
    probed_at    timestamptz,
    changed_by   text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS channel_state;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
