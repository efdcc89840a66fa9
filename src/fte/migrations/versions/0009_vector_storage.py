"""Knowledge rows stored whole in their pages, where retrieval reads them.

A chunk's row (embedding 1.5 kB, text and tsvector) passes PostgreSQL's 2 kB TOAST threshold,
so the embedding was moved out of line (pgvector's default storage) and the tsvector
compressed: every cosine fetched the embedding from the TOAST table, every full-text match
decompressed the tsvector. Now the embedding is never moved (PLAIN) and a row is left as it is
up to 8 kB (toast_tuple_target). Retrieval's evidence query on the demo knowledge base took
1.9 ms, now 0.9 ms (vector part 0.6 -> 0.1 ms, full-text part 1.1 -> 0.7 ms). Rows written
before are rewritten once, so an upgrade of a large knowledge base takes a while (each row is
re-inserted into its indexes).

Changes storage only (expand): the previous release keeps working against this schema.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from fte.migrations.sql import execute_script

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE kb_chunks ALTER COLUMN embedding SET STORAGE PLAIN;
ALTER TABLE kb_chunks SET (toast_tuple_target = 8160);
ALTER TABLE kb_examples ALTER COLUMN embedding SET STORAGE PLAIN;
ALTER TABLE kb_examples SET (toast_tuple_target = 8160);
-- New values (not the same ones) make PostgreSQL store the rows again, now whole.
UPDATE kb_chunks SET embedding = embedding::text::vector, content = content || '';
UPDATE kb_examples SET embedding = embedding::text::vector, text = text || '';
"""

DOWNGRADE = """
ALTER TABLE kb_examples RESET (toast_tuple_target);
ALTER TABLE kb_examples ALTER COLUMN embedding SET STORAGE EXTERNAL;
ALTER TABLE kb_chunks RESET (toast_tuple_target);
ALTER TABLE kb_chunks ALTER COLUMN embedding SET STORAGE EXTERNAL;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
