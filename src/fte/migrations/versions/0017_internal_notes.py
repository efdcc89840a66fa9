"""Internal notes on a ticket: written by staff (the console, an MCP client with an admin key),
never sent to the customer, and kept apart from the messages so no delivery path can pick one
up by mistake.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from fte.migrations.sql import execute_script

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE ticket_notes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id   uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    -- Who wrote it: a person's name, or a program as the audit log names it ('apikey:<id>',
    -- 'mcp:stdio'); the audit log has the actor either way.
    author      text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_notes_ticket_idx ON ticket_notes (ticket_id, created_at);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS ticket_notes;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
