"""The agent, grown up: examples from past tickets, article escalation topics, sentiment,
LLM usage on agent runs, trained sentiment models.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from fte.migrations.sql import execute_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
-- An article a team marks (or whose title names) an escalation topic: questions that match it
-- go to a human with this reason, and the article becomes the draft.
ALTER TABLE kb_articles ADD COLUMN escalation_reason text;

-- Questions known to be answered by an article: imported history, and resolved tickets.
CREATE TABLE kb_examples (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    article_id  uuid NOT NULL REFERENCES kb_articles(id) ON DELETE CASCADE,
    source      text NOT NULL CHECK (source IN ('history', 'ticket')),
    source_key  text NOT NULL UNIQUE,
    text        text NOT NULL,
    embedding   vector(384) NOT NULL,
    tsv         tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_examples_article_idx ON kb_examples (article_id);
CREATE INDEX kb_examples_embedding_idx ON kb_examples USING hnsw (embedding vector_cosine_ops);
CREATE INDEX kb_examples_tsv_idx ON kb_examples USING gin (tsv);

ALTER TABLE messages ADD COLUMN sentiment text
    CHECK (sentiment IN ('negative', 'neutral', 'positive'));
ALTER TABLE messages ADD COLUMN sentiment_score real;
-- The ticket's latest customer sentiment is `tickets.sentiment`; this is where it is heading.
ALTER TABLE tickets ADD COLUMN sentiment_trend text
    CHECK (sentiment_trend IN ('improving', 'worsening', 'steady'));

ALTER TABLE agent_runs ADD COLUMN sentiment text;
ALTER TABLE agent_runs ADD COLUMN summary text;
ALTER TABLE agent_runs ADD COLUMN prompt_tokens integer;
ALTER TABLE agent_runs ADD COLUMN completion_tokens integer;
ALTER TABLE agent_runs ADD COLUMN cost_usd numeric(12, 6);
ALTER TABLE agent_runs ADD COLUMN fallback_reason text;

-- `fte sentiment train` stores the fitted classifier here; workers load the newest.
CREATE TABLE sentiment_models (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL,
    params      jsonb NOT NULL,
    metrics     jsonb NOT NULL DEFAULT '{}'::jsonb,
    trained_on  integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Repeat contact: the same customer's earlier answered questions.
CREATE INDEX agent_runs_answered_idx ON agent_runs (ticket_id) WHERE decision = 'answer'
"""

DOWNGRADE = """
DROP INDEX IF EXISTS agent_runs_answered_idx;
DROP TABLE IF EXISTS sentiment_models;
ALTER TABLE agent_runs DROP COLUMN IF EXISTS fallback_reason, DROP COLUMN IF EXISTS cost_usd,
    DROP COLUMN IF EXISTS completion_tokens, DROP COLUMN IF EXISTS prompt_tokens,
    DROP COLUMN IF EXISTS summary, DROP COLUMN IF EXISTS sentiment;
ALTER TABLE tickets DROP COLUMN IF EXISTS sentiment_trend;
ALTER TABLE messages DROP COLUMN IF EXISTS sentiment_score, DROP COLUMN IF EXISTS sentiment;
DROP TABLE IF EXISTS kb_examples;
ALTER TABLE kb_articles DROP COLUMN IF EXISTS escalation_reason
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
