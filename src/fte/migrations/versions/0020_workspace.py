"""The agent workspace: rejected drafts (shown to whoever edits the article the draft came
from), canned replies (macros), and who has a ticket open (presence). Internal notes are 0017's.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""

from fte.migrations.sql import execute_script

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

UPGRADE = """
-- One rejection per agent run; `article_id` is the article the draft was drawn from (its top
-- source), so the article's editor sees why its drafts were turned down.
CREATE TABLE draft_rejections (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       uuid NOT NULL UNIQUE REFERENCES agent_runs(id) ON DELETE CASCADE,
    ticket_id    uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    article_id   uuid REFERENCES kb_articles(id) ON DELETE SET NULL,
    user_id      uuid REFERENCES users(id) ON DELETE SET NULL,
    reason       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- The inbox's approval queue: drafts no person has sent yet (a small index, probed per ticket).
CREATE INDEX agent_runs_awaiting_idx ON agent_runs (ticket_id)
    WHERE decision = 'draft' AND draft IS NOT NULL AND reply_message_id IS NULL;
CREATE INDEX draft_rejections_article_idx ON draft_rejections (article_id, created_at)
    WHERE article_id IS NOT NULL;

-- Canned replies, managed by admins; {{customer_name}}, {{ticket_number}} and {{agent_name}}
-- are filled in when one is inserted into the reply box.
CREATE TABLE macros (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Who has a ticket open, refreshed by the page's heartbeat; rows older than a few heartbeats
-- mean nothing (read with a TTL), so any API process can answer.
CREATE UNLOGGED TABLE ticket_presence (
    ticket_id   uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    replying    boolean NOT NULL DEFAULT false,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, user_id)
)
"""

DOWNGRADE = """
DROP TABLE IF EXISTS ticket_presence;
DROP TABLE IF EXISTS macros;
DROP TABLE IF EXISTS draft_rejections;
DROP INDEX IF EXISTS agent_runs_awaiting_idx
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
