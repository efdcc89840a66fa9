"""Pipelines return one outcome per job and the drivers acknowledge them: when a job is tried
again, when it is given up, and that a conversation waits behind its failed message, are
decided in one place for the PostgreSQL queue and Kafka alike."""

from __future__ import annotations

import asyncpg

from fte.bus import dead_letters
from fte.bus.postgres_queue import Job
from fte.channels.registry import build_registry
from fte.kit import backoff
from fte.worker.delivery_pipeline import DeliveryPipeline
from fte.worker.outcomes import (
    DONE,
    WAITING,
    DeadLetter,
    Outcome,
    RetryAt,
    RetryPolicy,
    in_order_per_conversation,
)
from fte.worker.queue_worker import QueueDriver
from tests.channels.whatsapp_twilio.test_whatsapp import queued_reply, twilio_settings
from tests.conftest import make_settings
from tests.fixtures.fake_twilio import FakeTwilio


def job(attempts: int, key: str = "conversation-1", id: int = 1) -> Job:
    return Job(id=id, topic="inbound", key=key, payload={}, attempts=attempts)


def test_a_failed_attempt_waits_its_backoff_and_the_last_one_is_a_dead_letter() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_cap_seconds=10.0)
    for attempt in (1, 2):
        outcome = policy.after_failure(job(attempt), "provider said no")
        assert isinstance(outcome, RetryAt)
        assert outcome.attempt and outcome.error == "provider said no"
        assert 0.0 <= outcome.after_seconds <= backoff.ceiling(attempt, 2.0, 10.0)
    assert policy.after_failure(job(3), "provider said no") == DeadLetter("provider said no")
    # However many attempts a generous policy allows, no wait passes its cap.
    late = RetryPolicy(max_attempts=100, backoff_cap_seconds=10.0).after_failure(job(90), "e")
    assert isinstance(late, RetryAt) and late.after_seconds <= 10.0


def test_a_failure_no_retry_can_help_is_a_dead_letter_at_its_first_attempt() -> None:
    assert RetryPolicy(max_attempts=5).after_failure(job(1), "refused", final=True) == (
        DeadLetter("refused")
    )


def test_messages_and_replies_each_get_the_attempts_their_settings_give() -> None:
    settings = make_settings(
        FTE_WORKER_MAX_ATTEMPTS="2",
        FTE_DELIVERY_MAX_ATTEMPTS="4",
        FTE_WORKER_BACKOFF_CAP_SECONDS="7",
    )
    assert RetryPolicy.for_jobs(settings) == RetryPolicy(2, 7.0)
    assert RetryPolicy.for_deliveries(settings) == RetryPolicy(4, 300.0)


async def test_behind_a_failed_message_its_conversation_waits_and_the_others_go_on() -> None:
    jobs = [job(1, "a", 1), job(1, "a", 2), job(1, "b", 3)]
    handled: list[int] = []

    async def handle(item: Job) -> Outcome:
        handled.append(item.id)
        return RetryAt(1.0, "boom") if item.id == 1 else DONE

    outcomes = await in_order_per_conversation(jobs, lambda item: item, handle, 4)
    # The second message of `a` never ran, so the wait is not counted as its attempt.
    assert outcomes == [RetryAt(1.0, "boom"), RetryAt(0.0, WAITING, attempt=False), DONE]
    assert sorted(handled) == [1, 3]


async def test_a_reply_no_retry_can_help_comes_back_as_a_dead_letter_which_the_queue_buries(
    pool: asyncpg.Pool,
) -> None:
    async with FakeTwilio("AC" + "a" * 32, "twilio-auth-token") as fake:
        fake.fail(400)  # Twilio refuses the number
        (message_id,) = await queued_reply(pool, "hello")
        settings = twilio_settings(fake)
        adapters = build_registry(settings)
        driver = QueueDriver(pool, settings, "d1", adapters)
        jobs = await driver.claim("deliver")
        (outcome,) = await DeliveryPipeline(pool, settings, adapters, "d1").deliver(jobs)
    assert isinstance(outcome, DeadLetter) and "Twilio 400" in outcome.error
    async with pool.acquire() as conn:
        # The pipeline decides; only the driver acknowledges.
        assert await dead_letters.list_open(conn) == []
    await driver.acknowledge(jobs[0], outcome)
    async with pool.acquire() as conn:
        (dead,) = await dead_letters.list_open(conn)
        status = await conn.fetchval(
            "SELECT delivery_status FROM messages WHERE id = $1", message_id
        )
        processed = await conn.fetchval(
            "SELECT processed_at IS NOT NULL FROM outbox WHERE id = $1", jobs[0].id
        )
    assert "Twilio 400" in dead["error"] and status == "failed" and processed
