"""The bus's topic names: one leaf module, so the code that publishes to a topic and the code
that consumes it need not import each other for its name."""

from __future__ import annotations

from typing import Final

INBOUND: Final = "inbound"  # a filed inbound message, for the agent
DELIVER: Final = "deliver"  # a reply to send through a channel
LEARN: Final = "learn"  # a resolved ticket whose answer joins the knowledge base
KB_EMBED: Final = "kb_embed"  # an edited article to embed

ALL: Final = (INBOUND, DELIVER, LEARN, KB_EMBED)
# The topics the outbox relay publishes to Kafka; the others stay on the PostgreSQL queue.
RELAYED: Final = (INBOUND, DELIVER)
