"""Customer intelligence: the orders a customer placed (imported, pushed or synced from the
company's sales database), the profile scored from them (value, predictions, churn risk,
segment), the model those scores came from, the sales sync's runs and cursor, scoped API keys,
and the reason a ticket got its priority.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from fte.migrations.sql import execute_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UPGRADE = """
-- The id the company's own systems know the customer by (CRM, shop, billing).
ALTER TABLE customers ADD COLUMN external_id text;
ALTER TABLE customers ADD COLUMN plan text;
-- Set by `fte customer forget`: personal data erased, anonymous counts kept.
ALTER TABLE customers ADD COLUMN erased_at timestamptz;
CREATE UNIQUE INDEX customers_external_id_key ON customers (external_id)
    WHERE external_id IS NOT NULL;

CREATE TABLE orders (
    -- The order id of the system it came from: importing or syncing it again is a no-op
    -- (or an update, when its amount or status changed).
    order_id     text PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    amount       numeric(14, 2) NOT NULL,
    currency     text NOT NULL,
    ordered_at   timestamptz NOT NULL,
    plan         text,
    status       text,
    -- 'import', 'event' or 'sync'.
    source       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_idx ON orders (customer_id, ordered_at);

-- One row per customer with orders: read on every lookup, rewritten by each rescoring.
CREATE TABLE customer_profiles (
    customer_id              uuid PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    orders                   integer NOT NULL,
    lifetime_value           numeric(14, 2) NOT NULL,
    avg_order_value          numeric(14, 2) NOT NULL,
    currency                 text,
    first_order_at           timestamptz,
    last_order_at            timestamptz,
    -- Predictions of the model in `clv_models` (BG/NBD and Gamma-Gamma).
    p_alive                  real,
    expected_purchases_90d   real,
    expected_value_90d       numeric(14, 2),
    churn_risk               real,
    -- [{"factor": "...", "weight": 0.4, "detail": "..."}], strongest first.
    churn_factors            jsonb NOT NULL DEFAULT '[]'::jsonb,
    segment                  text,
    -- Share of customers with a lower lifetime value (0..1): "top 5%" is >= 0.95.
    value_percentile         real,
    model_id                 bigint,
    scored_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_profiles_value_idx ON customer_profiles (lifetime_value DESC);
CREATE INDEX customer_profiles_risk_idx ON customer_profiles (churn_risk DESC);
CREATE INDEX customer_profiles_segment_idx ON customer_profiles (segment, lifetime_value DESC);

CREATE TABLE clv_models (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fitted_at     timestamptz NOT NULL DEFAULT now(),
    -- {"r":..,"alpha":..,"a":..,"b":..,"p":..,"q":..,"v":..}
    params        jsonb NOT NULL,
    customers     integer NOT NULL,
    seconds       real NOT NULL,
    -- Why a fit was refused or fell back (too few repeat buyers...): shown by the doctor.
    note          text
);

CREATE TABLE sales_sync_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    status       text NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'succeeded', 'failed')),
    trigger      text NOT NULL,
    rows         integer NOT NULL DEFAULT 0,
    -- The largest change marker seen: the next run asks only for rows past it.
    cursor       text,
    error        text
);
CREATE INDEX sales_sync_runs_started_idx ON sales_sync_runs (started_at DESC);

-- What a key may do: 'customers:read', 'tickets:read', 'admin'. NULL: everything its role
-- allowed before scopes existed (keys made by earlier releases keep working).
ALTER TABLE api_keys ADD COLUMN scopes text[];
-- Requests a minute for this key; NULL: the default (`FTE_API_KEY_RATE_LIMIT`).
ALTER TABLE api_keys ADD COLUMN rate_limit integer;

-- "high: top 5% by value": which priority rule set the priority, shown on the ticket.
ALTER TABLE tickets ADD COLUMN priority_reason text;
"""

DOWNGRADE = """
ALTER TABLE tickets DROP COLUMN IF EXISTS priority_reason;
ALTER TABLE api_keys DROP COLUMN IF EXISTS rate_limit;
ALTER TABLE api_keys DROP COLUMN IF EXISTS scopes;
DROP TABLE IF EXISTS sales_sync_runs;
DROP TABLE IF EXISTS clv_models;
DROP TABLE IF EXISTS customer_profiles;
DROP TABLE IF EXISTS orders;
DROP INDEX IF EXISTS customers_external_id_key;
ALTER TABLE customers DROP COLUMN IF EXISTS erased_at;
ALTER TABLE customers DROP COLUMN IF EXISTS plan;
ALTER TABLE customers DROP COLUMN IF EXISTS external_id;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
