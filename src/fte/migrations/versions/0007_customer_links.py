"""One customer across channels: merged customers point at the one they joined, and an
identity a customer gave that another customer already owns waits as a suggestion for an
operator to confirm.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from fte.migrations.sql import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
-- Set on the customer merged away: its tickets, conversations and identities moved to this one.
ALTER TABLE customers ADD COLUMN merged_into uuid REFERENCES customers(id) ON DELETE SET NULL;

CREATE TABLE customer_link_suggestions (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the customer who gave the identity in a message, and the one who already owns it
    customer_id        uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    owner_id           uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    kind               text NOT NULL CHECK (kind IN ('email', 'phone')),
    value              text NOT NULL,
    message_id         uuid REFERENCES messages(id) ON DELETE SET NULL,
    status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'merged')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    resolved_at        timestamptz,
    UNIQUE (customer_id, owner_id, kind, value)
);
CREATE INDEX customer_link_suggestions_open_idx
    ON customer_link_suggestions (created_at DESC) WHERE status = 'open';
"""

DOWNGRADE = """
DROP TABLE IF EXISTS customer_link_suggestions;
ALTER TABLE customers DROP COLUMN IF EXISTS merged_into;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
