"""Delivery: an outbound message carries when it was sent and the provider's last error.

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
-- delivery_status of an outbound message: queued -> sent -> delivered / read, or failed.
ALTER TABLE messages ADD COLUMN sent_at timestamptz;
ALTER TABLE messages ADD COLUMN delivery_error text;
"""

DOWNGRADE = """
ALTER TABLE messages DROP COLUMN IF EXISTS delivery_error;
ALTER TABLE messages DROP COLUMN IF EXISTS sent_at;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
