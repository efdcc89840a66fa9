"""Console knowledge base and knowledge gaps: an article's embedding state, the question
embedding of each agent run, and indexes for the console's pages at 100,000 tickets.

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from fte.migrations.sql import execute_script

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = """
-- An article edited in the console is re-embedded by a worker (`kb_embed` job): pending until
-- its chunks are stored. Imported articles are embedded as they are written: done.
ALTER TABLE kb_articles ADD COLUMN embedding_status text NOT NULL DEFAULT 'done'
    CHECK (embedding_status IN ('pending', 'done', 'failed'));
ALTER TABLE kb_articles ADD COLUMN embedding_error text;
CREATE INDEX kb_articles_title_idx ON kb_articles (lower(title));

-- The customer's question as the agent embedded it: knowledge gaps group escalations by it.
ALTER TABLE agent_runs ADD COLUMN query_embedding vector(384);
CREATE INDEX agent_runs_gap_idx ON agent_runs (created_at DESC)
    WHERE decision = 'escalate' AND reason = 'low_confidence';

-- Dashboard periods and the channels report read by creation time.
CREATE INDEX tickets_created_idx ON tickets (created_at);
CREATE INDEX messages_created_idx ON messages (created_at);
-- The inbox's default view (tickets not finished) and the dashboard's "a person wrote" test.
CREATE INDEX tickets_unfinished_idx ON tickets (created_at)
    WHERE status NOT IN ('resolved', 'closed');
CREATE INDEX messages_human_idx ON messages (created_at) WHERE author = 'human';
"""

DOWNGRADE = """
DROP INDEX IF EXISTS messages_human_idx;
DROP INDEX IF EXISTS tickets_unfinished_idx;
DROP INDEX IF EXISTS messages_created_idx;
DROP INDEX IF EXISTS tickets_created_idx;
DROP INDEX IF EXISTS agent_runs_gap_idx;
ALTER TABLE agent_runs DROP COLUMN IF EXISTS query_embedding;
DROP INDEX IF EXISTS kb_articles_title_idx;
ALTER TABLE kb_articles DROP COLUMN IF EXISTS embedding_error;
ALTER TABLE kb_articles DROP COLUMN IF EXISTS embedding_status;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
