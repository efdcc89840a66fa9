"""The customer in the product: priority rules an admin reads and changes without a redeploy,
a person's priority choice that rules leave alone, and the indexes of the console's customer
search (name and email prefix, case-insensitive).

Additive only (expand): the previous release keeps working against this schema (it never
reads the rules and ignores `priority_set_by`).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from fte.migrations.sql import execute_script

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

UPGRADE = """
-- Rules that raise a ticket's priority from what we know of its customer and message, read
-- in order; the highest priority among the rules that match wins. `conditions` is the JSON
-- of fte.tickets.priority_rules.Conditions.
CREATE TABLE priority_rules (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    position    integer NOT NULL,
    priority    text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    reason      text NOT NULL,
    conditions  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO priority_rules (position, priority, reason, conditions) VALUES
    (1, 'urgent', 'high churn risk and negative sentiment',
     '{"churn_risk_min": 0.7, "sentiment": ["negative"]}'),
    (2, 'high', 'top 5% by value', '{"value_percentile_min": 0.95}');

-- Who last chose the priority by hand (an audit actor, 'user:<id>'): rules never change it
-- after a person did.
ALTER TABLE tickets ADD COLUMN priority_set_by text;
-- The console's customer search uses 0016's prefix indexes on the name and the email.
"""

DOWNGRADE = """
ALTER TABLE tickets DROP COLUMN IF EXISTS priority_set_by;
DROP TABLE IF EXISTS priority_rules;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
