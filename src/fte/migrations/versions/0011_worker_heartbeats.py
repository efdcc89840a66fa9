"""Worker heartbeats, hand-over notes, and provider message ids unique only for inbound ones.

`worker_heartbeats`: a row per running worker process, beaten every
FTE_WORKER_HEARTBEAT_SECONDS, so `/health` and the doctor can tell how many are alive.

`tickets.handover_note`: why a ticket was handed to a person when its message or reply became a
dead letter (the console shows it on the ticket).

`messages.external_id` was unique per channel in both directions. An inbound id is ours to
de-duplicate redelivered webhooks; an outbound one is whatever the provider answered, and a
provider that answered an id twice made the worker that recorded it crash (UniqueViolation).
Now only inbound ids are unique; outbound ones keep a plain index for status callbacks.

Additive for the previous release: it only ever writes fewer conflicts against this schema.
Downgrading fails if two outbound messages share a provider id.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from fte.migrations.sql import execute_script

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE worker_heartbeats (
    id            uuid PRIMARY KEY,
    host          text NOT NULL,
    pid           integer NOT NULL,
    bus           text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    last_beat_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX worker_heartbeats_last_beat_idx ON worker_heartbeats (last_beat_at);

ALTER TABLE tickets ADD COLUMN handover_note text;

CREATE UNIQUE INDEX messages_inbound_external_idx ON messages (channel, external_id)
    WHERE external_id IS NOT NULL AND direction = 'inbound';
CREATE INDEX messages_outbound_external_idx ON messages (channel, external_id)
    WHERE external_id IS NOT NULL AND direction = 'outbound';
DROP INDEX messages_channel_external_idx;
"""

DOWNGRADE = """
CREATE UNIQUE INDEX messages_channel_external_idx ON messages (channel, external_id)
    WHERE external_id IS NOT NULL;
DROP INDEX messages_outbound_external_idx;
DROP INDEX messages_inbound_external_idx;
ALTER TABLE tickets DROP COLUMN IF EXISTS handover_note;
DROP TABLE worker_heartbeats;
"""


def upgrade() -> None:
    execute_script(UPGRADE)


def downgrade() -> None:
    execute_script(DOWNGRADE)
