"""Customer search at scale: prefix search on name, email and external id, and keyset pages of
profiles sorted by value or churn risk (each index ends with the customer id, the tie-breaker
the cursor carries).

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from fte.migrations.sql import execute_script

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UPGRADE = """
-- `q` is a prefix of the lower-cased name or email, or of the external id: byte-wise ranges
-- (text_pattern_ops), whatever the database's collation.
CREATE INDEX customers_name_prefix_idx ON customers (lower(name) text_pattern_ops);
CREATE INDEX customers_email_prefix_idx ON customers (lower(email) text_pattern_ops);
CREATE INDEX customers_external_id_prefix_idx ON customers (external_id text_pattern_ops);

CREATE INDEX customer_profiles_value_page_idx
    ON customer_profiles (lifetime_value, customer_id);
CREATE INDEX customer_profiles_risk_page_idx
    ON customer_profiles ((coalesce(churn_risk, -1)), customer_id);
CREATE INDEX customer_profiles_segment_page_idx
    ON customer_profiles (segment, lifetime_value, customer_id);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS customer_profiles_segment_page_idx;
DROP INDEX IF EXISTS customer_profiles_risk_page_idx;
DROP INDEX IF EXISTS customer_profiles_value_page_idx;
DROP INDEX IF EXISTS customers_external_id_prefix_idx;
DROP INDEX IF EXISTS customers_email_prefix_idx;
DROP INDEX IF EXISTS customers_name_prefix_idx;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
