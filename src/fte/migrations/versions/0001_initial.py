"""Initial schema: customers, conversations, tickets, messages, knowledge base, agent runs, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from fte.migrations.sql import execute_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = """
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE customers (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text,
    email       text,
    phone       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One customer across channels: any known identity finds them.
CREATE TABLE customer_identities (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('email', 'phone', 'chatwoot_contact')),
    value       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, value)
);
CREATE INDEX customer_identities_customer_idx ON customer_identities (customer_id);

CREATE TABLE conversations (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id         uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    channel             text NOT NULL,
    external_thread_id  text,
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    started_at          timestamptz NOT NULL DEFAULT now(),
    last_message_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_customer_idx ON conversations (customer_id, last_message_at DESC);
CREATE UNIQUE INDEX conversations_open_thread_idx
    ON conversations (channel, external_thread_id)
    WHERE external_thread_id IS NOT NULL AND status = 'open';

CREATE TABLE tickets (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    number              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    customer_id         uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    conversation_id     uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    channel             text NOT NULL,
    subject             text,
    category            text,
    priority            text NOT NULL DEFAULT 'medium'
                        CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    status              text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'pending', 'escalated', 'resolved', 'closed')),
    sentiment           text CHECK (sentiment IN ('negative', 'neutral', 'positive')),
    escalation_reason   text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    first_response_at   timestamptz,
    resolved_at         timestamptz
);
CREATE INDEX tickets_status_idx ON tickets (status, created_at DESC);
CREATE INDEX tickets_customer_idx ON tickets (customer_id, created_at DESC);
CREATE INDEX tickets_conversation_idx ON tickets (conversation_id, created_at DESC);

CREATE TABLE messages (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    ticket_id        uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    channel          text NOT NULL,
    direction        text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    author           text NOT NULL CHECK (author IN ('customer', 'agent', 'human', 'system')),
    external_id      text,
    subject          text,
    body             text NOT NULL,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    delivery_status  text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
-- A redelivered webhook or a double-clicked form carries the same provider id: a no-op.
CREATE UNIQUE INDEX messages_channel_external_idx ON messages (channel, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX messages_ticket_idx ON messages (ticket_id, created_at);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at);

CREATE TABLE kb_articles (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    source_key    text NOT NULL UNIQUE,
    title         text NOT NULL,
    body          text NOT NULL,
    content_hash  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE kb_chunks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    article_id  uuid NOT NULL REFERENCES kb_articles(id) ON DELETE CASCADE,
    ordinal     integer NOT NULL,
    content     text NOT NULL,
    embedding   vector(384) NOT NULL,
    tsv         tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    UNIQUE (article_id, ordinal)
);
CREATE INDEX kb_chunks_embedding_idx ON kb_chunks USING hnsw (embedding vector_cosine_ops);
CREATE INDEX kb_chunks_tsv_idx ON kb_chunks USING gin (tsv);

-- Exactly one run per inbound message: the guard against answering twice.
CREATE TABLE agent_runs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id        uuid NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
    ticket_id         uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    decision          text NOT NULL CHECK (decision IN ('answer', 'escalate', 'draft')),
    reason            text,
    confidence        real,
    sources           jsonb NOT NULL DEFAULT '[]'::jsonb,
    draft             text,
    reply_message_id  uuid REFERENCES messages(id) ON DELETE SET NULL,
    latency_ms        real NOT NULL,
    model             text NOT NULL,
    worker            text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_runs_ticket_idx ON agent_runs (ticket_id, created_at);
CREATE INDEX agent_runs_decision_idx ON agent_runs (created_at DESC, decision);

CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic         text NOT NULL,
    key           text NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    available_at  timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    claimed_by    text,
    lease_until   timestamptz,
    processed_at  timestamptz,
    last_error    text
);
-- The queue's working set: only rows not yet processed, in order, per key.
CREATE INDEX outbox_pending_idx ON outbox (topic, id) WHERE processed_at IS NULL;
CREATE INDEX outbox_pending_key_idx ON outbox (key, id) WHERE processed_at IS NULL;

CREATE TABLE dead_letters (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id    bigint REFERENCES outbox(id) ON DELETE SET NULL,
    topic        text NOT NULL,
    key          text NOT NULL,
    payload      jsonb NOT NULL,
    error        text NOT NULL,
    attempts     integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    replayed_at  timestamptz
);
CREATE INDEX dead_letters_open_idx ON dead_letters (created_at DESC) WHERE replayed_at IS NULL;
"""

DOWNGRADE = """
DROP TABLE IF EXISTS dead_letters, outbox, agent_runs, kb_chunks, kb_articles, messages,
    tickets, conversations, customer_identities, customers CASCADE;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
