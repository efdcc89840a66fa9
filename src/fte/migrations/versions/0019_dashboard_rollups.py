"""The dashboard at a real team's size: a roll-up per day (UTC) of what the dashboard shows, and
the indexes the inbox, its search and the live part of the dashboard need at 1,000,000 tickets
(found with EXPLAIN ANALYZE on `bench/console.py --tickets 1000000`).

`ticket_daily` holds one row per closed day: tickets opened (per channel), solved (by the AI),
ratings, agent runs (per decision, escalation reason), customers' sentiment, and first-response
and resolution times as histograms in fixed log buckets (mergeable across days, unlike a
percentile). The console fills it lazily (`console/rollups_repository.py`); today is always
computed live.

A change that lands on a day already rolled up (a ticket reopened, a rating changed, a sentiment
read after midnight, a row deleted) marks that day stale through the triggers below, whatever
code made it; the next roll-up recomputes only the stale days. Writes on today's rows (nearly all
of them) add nothing but the trigger's date comparison.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

from alembic import op

from fte.migrations.sql import execute_script

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE ticket_daily (
    day                 date PRIMARY KEY,
    opened              integer NOT NULL DEFAULT 0,
    opened_by_channel   jsonb NOT NULL DEFAULT '{}',
    resolved            integer NOT NULL DEFAULT 0,
    resolved_by_ai      integer NOT NULL DEFAULT 0,
    resolution_hist     jsonb NOT NULL DEFAULT '{}',
    first_response_hist jsonb NOT NULL DEFAULT '{}',
    ratings             integer NOT NULL DEFAULT 0,
    rating_sum          integer NOT NULL DEFAULT 0,
    ratings_good        integer NOT NULL DEFAULT 0,
    decisions           jsonb NOT NULL DEFAULT '{}',
    escalation_reasons  jsonb NOT NULL DEFAULT '{}',
    sentiment           jsonb NOT NULL DEFAULT '{}',
    computed_at         timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ticket_daily_stale (day date PRIMARY KEY);
CREATE INDEX tickets_first_response_idx ON tickets (first_response_at)
    WHERE first_response_at IS NOT NULL;
CREATE INDEX ticket_ratings_updated_idx ON ticket_ratings (updated_at);
CREATE INDEX messages_inbound_created_idx ON messages (created_at)
    WHERE direction = 'inbound' AND sentiment IS NOT NULL;
-- The inbox's sort keys of the unfinished tickets: it picks its page by an index-only scan.
CREATE INDEX tickets_inbox_idx ON tickets (created_at)
    INCLUDE (id, status, priority, first_response_at, assignee_id)
    WHERE status NOT IN ('resolved', 'closed')
"""

# One statement each (their bodies hold semicolons, which execute_script would split on).
FUNCTIONS = [
    """
    CREATE FUNCTION ticket_daily_mark(VARIADIC stamps timestamptz[]) RETURNS void
    LANGUAGE sql AS $$
        INSERT INTO ticket_daily_stale (day)
        SELECT DISTINCT (s AT TIME ZONE 'UTC')::date FROM unnest(stamps) s
        WHERE s < date_trunc('day', clock_timestamp() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
        ON CONFLICT DO NOTHING
    $$
    """,
    """
    CREATE FUNCTION ticket_daily_touch_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            PERFORM ticket_daily_mark(OLD.created_at, OLD.resolved_at, OLD.first_response_at);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM ticket_daily_mark(NEW.created_at, NEW.resolved_at, NEW.first_response_at);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION ticket_daily_touch_created() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            PERFORM ticket_daily_mark(OLD.created_at);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM ticket_daily_mark(NEW.created_at);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION ticket_daily_touch_rating() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            PERFORM ticket_daily_mark(OLD.updated_at);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM ticket_daily_mark(NEW.updated_at);
        END IF;
        RETURN NULL;
    END $$
    """,
]

TRIGGERS = """
CREATE TRIGGER tickets_daily AFTER INSERT OR DELETE
    OR UPDATE OF created_at, channel, status, resolved_at, solved_by, first_response_at
    ON tickets FOR EACH ROW EXECUTE FUNCTION ticket_daily_touch_ticket();
CREATE TRIGGER ticket_ratings_daily AFTER INSERT OR UPDATE OR DELETE
    ON ticket_ratings FOR EACH ROW EXECUTE FUNCTION ticket_daily_touch_rating();
CREATE TRIGGER agent_runs_daily AFTER INSERT OR DELETE
    OR UPDATE OF created_at, decision, reason
    ON agent_runs FOR EACH ROW EXECUTE FUNCTION ticket_daily_touch_created();
CREATE TRIGGER messages_daily AFTER INSERT OR DELETE
    OR UPDATE OF created_at, direction, sentiment
    ON messages FOR EACH ROW EXECUTE FUNCTION ticket_daily_touch_created()
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS messages_daily ON messages;
DROP TRIGGER IF EXISTS agent_runs_daily ON agent_runs;
DROP TRIGGER IF EXISTS ticket_ratings_daily ON ticket_ratings;
DROP TRIGGER IF EXISTS tickets_daily ON tickets;
DROP FUNCTION IF EXISTS ticket_daily_touch_rating();
DROP FUNCTION IF EXISTS ticket_daily_touch_created();
DROP FUNCTION IF EXISTS ticket_daily_touch_ticket();
DROP FUNCTION IF EXISTS ticket_daily_mark(timestamptz[]);
DROP INDEX IF EXISTS tickets_inbox_idx;
DROP INDEX IF EXISTS messages_inbound_created_idx;
DROP INDEX IF EXISTS ticket_ratings_updated_idx;
DROP INDEX IF EXISTS tickets_first_response_idx;
DROP TABLE IF EXISTS ticket_daily_stale;
DROP TABLE IF EXISTS ticket_daily
"""


def upgrade() -> None:
    execute_script(TABLES)
    for function in FUNCTIONS:
        op.execute(function)
    execute_script(TRIGGERS)


def downgrade() -> None:
    execute_script(DOWNGRADE)
