"""Ticket search at a real team's size: each ticket carries the words of its subject and of
every message on it (`tickets.search_words`, a tsvector under a GIN index), so the inbox's and
the MCP tools' search look words up instead of reading every candidate ticket's messages. At
1,000,000 tickets the inbox searched ~60,000 unfinished tickets' messages per query (2.3-3.4 s
p95); a lookup in the index, intersected with the unfinished tickets' index, is what it reads now.

The words are kept by the triggers below, whatever code writes: a message added appends its
words to its ticket's; a message rewritten, moved or deleted (a customer erased) and a subject
changed rebuild the ticket's words from what is left, so erased words cannot be found. The
'simple' configuration (lower-cased words, no stemming, no stop words) is language-neutral;
search matches word prefixes (`ticket_search_query`).

A tsvector holds at most 1 MB, and a message that cannot be filed is lost, so the words are
bounded: a message adds the words of its first 100,000 characters, a run of more than 64
characters without a space is cut to 64 (no lexeme is longer), a ticket stops taking new words
at 8,000 of them (8,000 x 68 bytes + one message's < 1 MB) and a rebuild reads 400,000
characters at most. A flood of random words is filed; only its later words are not found.

The tickets already there are filled in batches of 5,000, each its own transaction, and the
index is built CONCURRENTLY: intake goes on during the upgrade. A migration stopped halfway
runs again from the start (every statement can be repeated).

Additive only (expand): the previous release keeps working against this schema.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

from alembic import op
from sqlalchemy import text

from fte.migrations.sql import execute_script

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# One statement each (their bodies hold semicolons, which execute_script would split on).
FUNCTIONS = [
    """
    CREATE OR REPLACE FUNCTION ticket_search_text(words text, chars integer) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT strip(to_tsvector('simple'::regconfig,
                                 regexp_replace(left(words, chars), '(\\S{64})\\S+', '\\1', 'g')))
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION ticket_search_words(subject text, body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT ticket_search_text(concat_ws(' ', subject, body), 100000)
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION ticket_search_rebuild(ticket uuid, subject text) RETURNS tsvector
    LANGUAGE sql STABLE AS $$
        SELECT ticket_search_words(subject, NULL) || COALESCE((
            SELECT ticket_search_text(string_agg(concat_ws(' ', m.subject, m.body), ' '), 400000)
            FROM messages m WHERE m.ticket_id = ticket), '')
    $$
    """,
    # Every word of `words` as a prefix, all required: 'bill' finds "billing". Built from the
    # parser's own lexemes, so nothing the person typed is read as tsquery syntax.
    """
    CREATE OR REPLACE FUNCTION ticket_search_query(words text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT regexp_replace(plainto_tsquery('simple'::regconfig, words)::text,
                              '''( |$)', ''':*\\1', 'g')::tsquery
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION tickets_search_touch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            NEW.search_words := ticket_search_words(NEW.subject, NULL) || NEW.search_words;
        ELSIF NEW.subject IS DISTINCT FROM OLD.subject THEN
            NEW.search_words := ticket_search_rebuild(NEW.id, NEW.subject);
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION messages_search_touch() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        words tsvector;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            -- No second write of the ticket when its words already hold the message's (intake
            -- adds them in the statement that files the message).
            words := ticket_search_words(NEW.subject, NEW.body);
            UPDATE tickets SET search_words = search_words || words
            WHERE id = NEW.ticket_id AND length(search_words) < 8000
              AND search_words || words <> search_words;
        ELSE
            UPDATE tickets t SET search_words = ticket_search_rebuild(t.id, t.subject)
            WHERE t.id = OLD.ticket_id
               OR (TG_OP = 'UPDATE' AND t.id = NEW.ticket_id);
        END IF;
        RETURN NULL;
    END $$
    """,
]

# The column and the triggers first, in the migration's transaction (adding a column with a
# constant default rewrites nothing): from then on every write keeps the words.
SCHEMA = """
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS search_words tsvector NOT NULL DEFAULT '';
DROP TRIGGER IF EXISTS tickets_search ON tickets;
CREATE TRIGGER tickets_search BEFORE INSERT OR UPDATE OF subject
    ON tickets FOR EACH ROW EXECUTE FUNCTION tickets_search_touch();
DROP TRIGGER IF EXISTS messages_search ON messages;
CREATE TRIGGER messages_search AFTER INSERT OR DELETE OR UPDATE OF subject, body, ticket_id
    ON messages FOR EACH ROW EXECUTE FUNCTION messages_search_touch()
"""

# Then the tickets there already, a batch per transaction: no ticket stays locked for longer
# than its batch (intake updates a ticket on every follow-up). `||` keeps words a trigger added
# to a ticket while its batch waited for the row.
BATCH = """
WITH batch AS (SELECT id FROM tickets WHERE number > :after ORDER BY number LIMIT 5000)
UPDATE tickets t SET search_words = t.search_words || ticket_search_rebuild(t.id, t.subject)
FROM batch WHERE t.id = batch.id
RETURNING t.number
"""

# Every ticket's words (a search with a status, the MCP tools), and the unfinished tickets'
# alone: the inbox's default search reads 60,000 tickets' postings, not 1,000,000's (a common
# word's bitmap at 1,000,000 tickets: 92 ms from the first).
INDEXES = {
    "tickets_search_idx": "ON tickets USING gin (search_words)",
    "tickets_search_unfinished_idx": (
        "ON tickets USING gin (search_words) WHERE status NOT IN ('resolved', 'closed')"
    ),
}

DROP_INVALID_INDEX = """
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               WHERE c.relname = '{name}' AND NOT i.indisvalid) THEN
        DROP INDEX {name};
    END IF;
END $$
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS messages_search ON messages;
DROP TRIGGER IF EXISTS tickets_search ON tickets;
DROP INDEX IF EXISTS tickets_search_unfinished_idx;
DROP INDEX IF EXISTS tickets_search_idx;
ALTER TABLE tickets DROP COLUMN IF EXISTS search_words;
DROP FUNCTION IF EXISTS messages_search_touch();
DROP FUNCTION IF EXISTS tickets_search_touch();
DROP FUNCTION IF EXISTS ticket_search_query(text);
DROP FUNCTION IF EXISTS ticket_search_rebuild(uuid, text);
DROP FUNCTION IF EXISTS ticket_search_words(text, text);
DROP FUNCTION IF EXISTS ticket_search_text(text, integer)
"""


def upgrade() -> None:
    for function in FUNCTIONS:
        op.execute(function)
    execute_script(SCHEMA)
    with op.get_context().autocommit_block():
        after = 0
        while numbers := op.get_bind().execute(text(BATCH), {"after": after}).scalars().all():
            after = max(numbers)
        # CONCURRENTLY: new tickets keep being filed while the indexes are built. A build
        # that failed before left an INVALID index, which IF NOT EXISTS would keep: dropped.
        for name, definition in INDEXES.items():
            op.execute(DROP_INVALID_INDEX.replace("{name}", name))
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")


def downgrade() -> None:
    execute_script(DOWNGRADE)
