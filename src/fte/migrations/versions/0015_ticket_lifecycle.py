"""A ticket's lifecycle that means something: who solved it (the AI alone, or a person), and the
customer's satisfaction rating once it is solved.

An answered ticket waits for the customer (`pending`); with no reply within
`FTE_AUTO_RESOLVE_HOURS` it is `resolved`, by the AI when no person wrote on it.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from fte.migrations.sql import execute_script

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UPGRADE = """
-- Set with `resolved_at`: 'ai' when no person wrote on the ticket, else 'person'.
ALTER TABLE tickets ADD COLUMN solved_by text CHECK (solved_by IN ('ai', 'person'));
CREATE INDEX tickets_resolved_idx ON tickets (resolved_at) WHERE resolved_at IS NOT NULL;

-- One rating per ticket, from the customer's page once it is solved; rating again replaces it.
CREATE TABLE ticket_ratings (
    ticket_id   uuid PRIMARY KEY REFERENCES tickets(id) ON DELETE CASCADE,
    score       smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_ratings_created_idx ON ticket_ratings (created_at);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS ticket_ratings;
DROP INDEX IF EXISTS tickets_resolved_idx;
ALTER TABLE tickets DROP COLUMN IF EXISTS solved_by;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
