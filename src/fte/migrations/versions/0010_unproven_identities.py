"""Identities only the channel proves: a claim waits for an operator even when nobody owns it.

An address or number written in a message (or typed into the web form) is a claim, never
proof. Such a claim is now always a suggestion, so a suggestion may have no owner yet. A
web-form submission is known by its own `web_form` identity (one per submission), since the
form's email field is typed by whoever fills it in.

Additive only (expand): the previous release keeps working against this schema (it never
writes an owner-less suggestion or a `web_form` identity, and its inner join hides the former).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from fte.migrations.sql import execute_script

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE customer_link_suggestions ALTER COLUMN owner_id DROP NOT NULL;
-- NULLs are distinct in the table's UNIQUE: one open claim per customer and identity.
CREATE UNIQUE INDEX customer_link_suggestions_unowned_key
    ON customer_link_suggestions (customer_id, kind, value) WHERE owner_id IS NULL;
ALTER TABLE customer_identities DROP CONSTRAINT customer_identities_kind_check;
ALTER TABLE customer_identities ADD CONSTRAINT customer_identities_kind_check
    CHECK (kind IN ('email', 'phone', 'chatwoot_contact', 'web_form'));
"""

DOWNGRADE = """
ALTER TABLE customer_identities DROP CONSTRAINT customer_identities_kind_check;
ALTER TABLE customer_identities ADD CONSTRAINT customer_identities_kind_check
    CHECK (kind IN ('email', 'phone', 'chatwoot_contact')) NOT VALID;
DELETE FROM customer_link_suggestions WHERE owner_id IS NULL;
DROP INDEX IF EXISTS customer_link_suggestions_unowned_key;
ALTER TABLE customer_link_suggestions ALTER COLUMN owner_id SET NOT NULL;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
