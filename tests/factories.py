"""Rows a test needs to exist: customers, tickets (a customer's message on one), replies and
agent runs, written through our repositories into the test's real database.

Use these where a test needs a row, not the path that makes it: a test of intake files
through `fte.intake.service.file_inbound`, a test of a channel through its webhook.

    filed = await factories.ticket(pool, "How do I reset my password?")
    await factories.run(pool, filed, decision="escalate", reason="human_requested")
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg

from fte.agent import repository as runs
from fte.customers import profile_repository as profiles
from fte.customers import repository as customers
from fte.db import transaction
from fte.intake import repository as intake
from fte.intake.service import IntakeResult
from fte.messaging import Identity, InboundMessage, Priority
from tests.fixtures.replies import queue_replies

DEFAULT_EMAIL = "sam@example.com"
DEFAULT_QUESTION = "How do I reset my password?"


async def customer(
    pool: asyncpg.Pool,
    name: str = "Sam Doe",
    *,
    email: str | None = DEFAULT_EMAIL,
    phone: str | None = None,
) -> uuid.UUID:
    """A customer known by `email` and/or `phone` (proven identities), with no ticket yet."""
    async with transaction(pool) as conn:
        customer_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO customers (name) VALUES ($1) RETURNING id", name
        )
        for identity in (Identity("email", email or ""), Identity("phone", phone or "")):
            if identity.value:
                assert await customers.add_identity(conn, customer_id, identity), identity
    return customer_id


async def ticket(
    pool: asyncpg.Pool,
    body: str = DEFAULT_QUESTION,
    *,
    channel: str = "web_form",
    email: str = DEFAULT_EMAIL,
    phone: str | None = None,
    name: str | None = "Sam Doe",
    subject: str | None = None,
    thread: str | None = None,
    priority: Priority = "medium",
    external_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    silent: bool = False,
) -> IntakeResult:
    """A customer's message, filed as intake files it: the customer (found or created by
    `phone`, else `email`), the conversation (`thread` joins an open one), the open ticket in
    it or a new one, the message, and its job for the agent worker (none when `silent`)."""
    message = InboundMessage(
        channel=channel,
        identity=Identity("phone", phone) if phone else Identity("email", email),
        body=body,
        external_id=external_id,
        customer_name=name,
        subject=subject,
        thread_key=thread,
        priority=priority,
        metadata=metadata or {},
        silent=silent,
    )
    async with transaction(pool) as conn:
        row = await intake.file_message(conn, message)
    assert row is not None
    return IntakeResult.from_record(row, duplicate=False)


async def reply(pool: asyncpg.Pool, filed: IntakeResult, *bodies: str) -> list[uuid.UUID]:
    """The agent's reply to the ticket, one message per body, queued for delivery on the
    ticket's channel; their message ids."""
    async with pool.acquire() as conn:
        channel = await conn.fetchval("SELECT channel FROM tickets WHERE id = $1", filed.ticket_id)
    return await queue_replies(
        pool, channel, filed.conversation_id, filed.ticket_id, *(bodies or ("Here is how.",))
    )


async def run(
    pool: asyncpg.Pool,
    filed: IntakeResult,
    *,
    decision: Literal["answer", "escalate", "draft"] = "answer",
    reason: str | None = None,
    confidence: float = 0.9,
    draft: str | None = None,
    worker: str = "factory",
) -> uuid.UUID:
    """The agent's run on the filed message, recorded as a worker records its decision (its
    job completed, the ticket moved), without sending anything; the run's id."""
    run_id = uuid.uuid4()
    status = {"answer": "pending", "escalate": "escalated", "draft": "escalated"}[decision]
    async with transaction(pool) as conn:
        job_id = await conn.fetchval(
            "SELECT id FROM outbox WHERE topic = 'inbound' AND payload->>'message_id' = $1",
            str(filed.message_id),
        )
        ticket_channel = await conn.fetchval(
            "SELECT channel FROM tickets WHERE id = $1", filed.ticket_id
        )
        recorded = await runs.record_decision(
            conn,
            job_id=job_id or 0,
            run={
                "id": run_id,
                "message_id": filed.message_id,
                "ticket_id": filed.ticket_id,
                "decision": decision,
                "reason": reason,
                "confidence": confidence,
                "sources": [],
                "draft": draft,
                "summary": None,
                "sentiment": None,
                "latency_ms": 1.0,
                "model": "factory",
                "worker": worker,
                "prompt_tokens": None,
                "completion_tokens": None,
                "cost_usd": None,
                "fallback_reason": None,
                "query_embedding": None,
                "reply_message_id": None,
            },
            conversation_id=filed.conversation_id,
            channel=ticket_channel,
            replies=(),
            delivery=("deliver", str(filed.conversation_id)),
            ticket=runs.TicketMove(
                status=status,
                escalation_reason=reason if decision != "answer" else None,
                responded=decision == "answer",
                sentiment_score=None,
                sentiment_trend=None,
            ),
        )
    assert recorded, f"message {filed.message_id} had a run already"
    return run_id


async def profile(
    pool: asyncpg.Pool,
    customer_id: uuid.UUID,
    *,
    orders: int = 12,
    lifetime_value: float = 1800.0,
    value_percentile: float = 0.5,
    churn_risk: float = 0.1,
    churn_factors: list[dict[str, Any]] | None = None,
    segment: str | None = "loyal",
    days_since_last_order: int = 20,
    plan: str | None = None,
) -> None:
    """The customer's scored profile as the model writes it (customer_profiles), and their
    plan; what the scoring model would have predicted is made up to fit the arguments."""
    now = datetime.now(UTC)
    values = {
        "orders": orders,
        "lifetime_value": lifetime_value,
        "avg_order_value": round(lifetime_value / orders, 2) if orders else 0,
        "currency": "USD",
        "first_order_at": now - timedelta(days=700),
        "last_order_at": now - timedelta(days=days_since_last_order),
        "p_alive": round(1 - churn_risk, 3),
        "expected_purchases_90d": 1.5,
        "expected_value_90d": 220.0,
        "churn_risk": churn_risk,
        "churn_factors": churn_factors or [],
        "segment": segment,
        "value_percentile": value_percentile,
        "model_id": None,
        "scored_at": now,
    }
    async with transaction(pool) as conn:
        await profiles.save_profile(conn, customer_id, values)
        if plan is not None:
            await profiles.set_plan(conn, customer_id, plan)
