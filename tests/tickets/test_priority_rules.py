"""Priority rules: a ticket's priority follows its customer (value, churn risk) and the
message (sentiment), only ever upwards, never over a person's choice; the SLA follows."""

from __future__ import annotations

import re

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from fte.agent.sentiment_cache import SentimentSource
from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.intake.service import file_inbound
from fte.messaging import Identity, InboundMessage
from fte.tickets.priority_rules import (
    Conditions,
    Facts,
    PriorityRule,
    evaluate,
    raises,
    sentence,
)
from fte.worker.queue_worker import QueueWorker
from tests import factories
from tests.conftest import make_settings
from tests.fixtures.console import csrf_of

TOP = PriorityRule(priority="high", reason="top 5% by value", when={"value_percentile_min": 0.95})
ANGRY = PriorityRule(
    priority="urgent",
    reason="high churn risk and negative sentiment",
    when={"churn_risk_min": 0.7, "sentiment": ["negative"]},
)
ANGRY_TEXT = (
    "This is the third time your app deleted my files. I am furious, this is unacceptable "
    "and terrible service."
)


def message(
    email: str, body: str = "Where is my invoice?", thread: str | None = None
) -> InboundMessage:
    return InboundMessage(
        channel="web_form",
        identity=Identity("email", email),
        body=body,
        customer_name="Vera",
        thread_key=thread,
    )


# ---- the rules alone ---------------------------------------------------------------------


def test_the_highest_matching_rule_wins_and_names_its_reason() -> None:
    rules = [TOP, ANGRY]
    assert evaluate(rules, Facts(value_percentile=0.97)) is not None
    assert evaluate(rules, Facts(value_percentile=0.97)).reason == "high: top 5% by value"  # type: ignore[union-attr]
    both = evaluate(rules, Facts(value_percentile=0.97, churn_risk=0.8, sentiment="negative"))
    assert both is not None and both.priority == "urgent"
    assert both.reason == "urgent: high churn risk and negative sentiment"
    # Unknown facts match nothing: no profile yet, or no sentiment read yet.
    assert evaluate(rules, Facts(churn_risk=0.9)) is None
    assert evaluate(rules, Facts()) is None
    assert evaluate(rules, Facts(value_percentile=0.94)) is None


def test_rules_only_raise() -> None:
    outcome = evaluate([TOP], Facts(value_percentile=0.99))
    assert raises(outcome, "medium") and raises(outcome, "low")
    assert not raises(outcome, "high") and not raises(outcome, "urgent")
    assert not raises(None, "low")


def test_segment_plan_orders_and_channel_conditions() -> None:
    rule = PriorityRule(
        priority="high",
        reason="enterprise on WhatsApp",
        when={"plan": ["enterprise"], "channel": ["whatsapp"], "orders_min": 3},
    )
    assert evaluate([rule], Facts(plan="enterprise", channel="whatsapp", orders=3)) is not None
    assert evaluate([rule], Facts(plan="enterprise", channel="email", orders=3)) is None
    assert evaluate([rule], Facts(plan="pro", channel="whatsapp", orders=3)) is None
    assert evaluate([rule], Facts(plan="enterprise", channel="whatsapp", orders=2)) is None


def test_rules_read_in_plain_words() -> None:
    assert sentence(ANGRY) == (
        "urgent: high churn risk and negative sentiment — when churn risk ≥ 0.7 "
        "and sentiment is negative"
    )
    assert sentence(TOP) == "high: top 5% by value — when value percentile ≥ 0.95"


def test_a_rule_without_conditions_or_with_a_typo_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one condition"):
        Conditions()
    with pytest.raises(ValidationError, match="churn_risk"):
        Conditions(churn_risk=0.5)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="priority"):
        PriorityRule(priority="asap", reason="x", when={"orders_min": 1})  # type: ignore[arg-type]


# ---- on filing, through intake --------------------------------------------------------------


async def test_a_top_customers_ticket_is_filed_high_with_the_reason(pool: asyncpg.Pool) -> None:
    vip = await factories.customer(pool, "Vera", email="vera@example.com")
    await factories.profile(pool, vip, value_percentile=0.97)
    regular = await factories.customer(pool, "Rui", email="rui@example.com")
    await factories.profile(pool, regular, value_percentile=0.5)

    top = await file_inbound(pool, message("vera@example.com"))
    other = await file_inbound(pool, message("rui@example.com"))
    stranger = await file_inbound(pool, message("new@example.com"))

    async with pool.acquire() as conn:
        rows = {
            r["id"]: (r["priority"], r["priority_reason"])
            for r in await conn.fetch("SELECT id, priority, priority_reason FROM tickets")
        }
    assert rows[top.ticket_id] == ("high", "high: top 5% by value")
    assert rows[other.ticket_id] == ("medium", None)
    assert rows[stranger.ticket_id] == ("medium", None)


async def test_a_rule_never_lowers_the_priority_a_message_came_with(pool: asyncpg.Pool) -> None:
    vip = await factories.customer(pool, "Vera", email="vera@example.com")
    await factories.profile(pool, vip, value_percentile=0.99)
    filed = await file_inbound(
        pool,
        InboundMessage(
            channel="web_form",
            identity=Identity("email", "vera@example.com"),
            body="Everything is down",
            priority="urgent",
        ),
    )
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", filed.ticket_id)
    assert (row["priority"], row["priority_reason"]) == ("urgent", None)


# ---- what people see: the inbox, the ticket, the SLA -----------------------------------------


def _row_of(inbox: str, number: int) -> str:
    rows = re.findall(r"<tr class=\"[^\"]*\"[^>]*>.*?</tr>", inbox, re.S)
    (row,) = [r for r in rows if f'<td data-label="#">{number}</td>' in r]
    return row


async def test_the_inbox_and_the_ticket_show_the_reason_and_the_sla_follows(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool
) -> None:
    vip = await factories.customer(kb_pool, "Vera", email="vera@example.com")
    await factories.profile(kb_pool, vip, value_percentile=0.96)
    plain = await file_inbound(kb_pool, message("rui@example.com"))
    top = await file_inbound(kb_pool, message("vera@example.com"))

    inbox = (await console.get("/console")).text
    # FTE_SLA_MINUTES by default: medium 480 minutes, high 240.
    assert "due in 7 h 59 min" in _row_of(inbox, plain.ticket_number)
    vip_row = _row_of(inbox, top.ticket_number)
    assert 'title="high: top 5% by value"' in vip_row and "due in 3 h 59 min" in vip_row

    page = (await console.get(f"/console/tickets/{top.ticket_id}")).text
    assert "high: top 5% by value" in page


async def test_a_persons_choice_wins_over_the_rules_after(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    angry = await factories.customer(kb_pool, "Vera", email="vera@example.com")
    await factories.profile(kb_pool, angry, churn_risk=0.9)
    filed = await file_inbound(kb_pool, message("vera@example.com", thread="t1"))
    url = f"/console/tickets/{filed.ticket_id}"
    page = await console.get(url)
    form = {"status": "open", "priority": "low", "csrf": csrf_of(page)}
    assert (await console.post(url, data=form)).status_code == 303

    again = await file_inbound(kb_pool, message("vera@example.com", ANGRY_TEXT, thread="t1"))
    assert again.ticket_id == filed.ticket_id
    settings = make_settings()
    worker = QueueWorker(
        kb_pool,
        settings,
        embedder,
        build_registry(settings),
        name="rules",
        sentiment=SentimentSource(embedder),
    )
    assert await worker.run_once() >= 1
    async with kb_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", filed.ticket_id)
    assert (row["priority"], row["priority_reason"]) == ("low", "low: set by a person")
    assert row["priority_set_by"].startswith("user:")


# ---- after the agent read the sentiment -------------------------------------------------------


async def test_high_churn_risk_and_negative_sentiment_make_it_urgent(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    at_risk = await factories.customer(kb_pool, "Vera", email="vera@example.com")
    await factories.profile(kb_pool, at_risk, churn_risk=0.85, value_percentile=0.97)
    filed = await file_inbound(kb_pool, message("vera@example.com", ANGRY_TEXT))
    async with kb_pool.acquire() as conn:
        before = await conn.fetchval("SELECT priority FROM tickets WHERE id = $1", filed.ticket_id)
    assert before == "high"  # top 5% by value on filing; sentiment is not read yet

    settings = make_settings()
    worker = QueueWorker(
        kb_pool,
        settings,
        embedder,
        build_registry(settings),
        name="rules",
        sentiment=SentimentSource(embedder),
    )
    assert await worker.run_once() == 1
    async with kb_pool.acquire() as conn:
        ticket = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", filed.ticket_id)
        felt = await conn.fetchval("SELECT sentiment FROM messages WHERE id = $1", filed.message_id)
    assert felt == "negative"
    assert ticket["priority"] == "urgent"
    assert ticket["priority_reason"] == "urgent: high churn risk and negative sentiment"
    page = (await console.get(f"/console/tickets/{filed.ticket_id}")).text
    assert "urgent: high churn risk and negative sentiment" in page
