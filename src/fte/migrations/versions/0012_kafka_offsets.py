"""Kafka relay: an offset the broker acknowledged to the latest batch, per partition.

A broker that lost its log (an in-memory one restarted, a cluster that lost an unreplicated
partition) shows it by offsets below what it once acknowledged: the relay compares, and then
publishes every unprocessed row again at once, instead of after FTE_KAFKA_REPUBLISH_AFTER_SECONDS.
Kept in the database, not in one relay's memory, so whichever worker holds the relay's turn
sees what the others were acknowledged.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from fte.migrations.sql import execute_script

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE kafka_offsets (
    topic text NOT NULL,
    partition integer NOT NULL,
    acked bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS kafka_offsets;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
