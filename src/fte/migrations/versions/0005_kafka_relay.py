"""Kafka relay: when an outbox row was acknowledged by the broker.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from fte.migrations.sql import execute_script

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = """
-- Set by the relay once Kafka acknowledged the row (acks=all). The PostgreSQL queue ignores it.
ALTER TABLE outbox ADD COLUMN published_at timestamptz;
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE processed_at IS NULL;
"""

DOWNGRADE = """
DROP INDEX IF EXISTS outbox_unpublished_idx;
ALTER TABLE outbox DROP COLUMN IF EXISTS published_at;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
