"""/metrics: real requests and real work move the contract's numbers; scrapes are parsed with
prometheus_client's own parser. /metrics/channels: each channel's state in JSON."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from fte.auth import service as auth
from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.intake.service import file_inbound
from fte.messaging import Identity, InboundMessage
from fte.tickets import service as tickets
from fte.worker.queue_worker import DeliveryWorker, QueueWorker
from tests.conftest import make_settings, serve_app
from tests.fixtures.processes import start_api

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

TOKEN = "scrape-token-7f3a"
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}

FORM = {
    "name": "Sam",
    "email": "sam@example.com",
    "subject": "Password",
    "message": "How do I reset my password?",
}


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    """The sample's value; 0 when the series does not exist yet."""
    return samples.get((metric, frozenset(labels.items())), 0.0)


def total(samples: Samples, metric: str, /, **labels: str) -> float:
    """Sum over the series whose labels include these (e.g. across `pid` or `status`)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == metric and wanted <= ls)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics", headers=SCRAPER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def _names(samples: Samples) -> Iterator[str]:
    return (name for name, _ in samples)


async def test_requests_and_ticket_work_move_the_contract_metrics(
    kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    settings = make_settings(FTE_METRICS_TOKEN=TOKEN)
    async with (
        serve_app(kb_db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        before = await scrape(client)
        for _ in range(3):
            assert (await client.get("/health")).status_code == 200
        missing = await client.get(f"/support/tickets/{uuid.uuid4()}", params={"token": "x"})
        assert missing.status_code == 404
        assert (await client.post("/support/submit", json=FORM)).status_code in (200, 201)
        await file_inbound(kb_pool, InboundMessage(
            channel="web_form", identity=Identity("email", "r@example.com"),
            customer_name="Rae", body="I want a refund for last month, now."))  # fmt: skip
        # WhatsApp is not configured here: the agent's reply cannot be delivered.
        await file_inbound(kb_pool, InboundMessage(
            channel="whatsapp", identity=Identity("phone", "+15550001111"),
            customer_name="Wes", body="How do I reset my password?"))  # fmt: skip
        registry = build_registry(settings)
        worker = QueueWorker(kb_pool, settings, embedder, registry, name="metrics")
        assert await worker.run_once() == 3
        async with kb_pool.acquire() as conn:
            answered = await conn.fetchval(
                "SELECT t.id FROM agent_runs r JOIN tickets t ON t.id = r.ticket_id "
                "WHERE r.decision = 'answer' AND t.channel = 'web_form' LIMIT 1"
            )
            await tickets.resolve(conn, answered)
        delivery = DeliveryWorker(kb_pool, settings, registry, name="metrics")
        assert await delivery.run_once() >= 1
        after = await scrape(client)

    def moved(metric: str, /, **labels: str) -> float:
        return value(after, metric, **labels) - value(before, metric, **labels)

    health = {"route": "/health", "method": "GET", "status": "200"}
    assert moved("fte_http_requests_total", **health) == 3
    assert moved("fte_http_request_duration_seconds_count", **health) == 3
    assert moved("fte_http_request_duration_seconds_bucket", le="+Inf", **health) == 3
    # The template, not the raw path: one series whatever the id.
    assert moved(
        "fte_http_requests_total",
        route="/support/tickets/{ticket_id}",
        method="GET",
        status="404",
    ) == 1  # fmt: skip
    assert moved("fte_tickets_created_total", channel="web_form") == 2
    assert moved("fte_tickets_created_total", channel="whatsapp") == 1
    assert moved("fte_tickets_escalated_total", channel="web_form", reason="refund") == 1
    assert moved("fte_agent_decision_seconds_count", decision="answer") == 2
    assert moved("fte_agent_decision_seconds_count", decision="escalate") == 1
    assert moved("fte_tickets_resolved_total", channel="web_form") == 1
    assert moved("fte_delivery_failures_total", channel="whatsapp") == 1
    assert moved("fte_dead_letters_total", topic="deliver") == 1
    assert moved("fte_tickets_escalated_total", channel="whatsapp", reason="delivery_failed") == 1
    # Gauges are the database's state at scrape time.
    assert value(after, "fte_open_tickets", status="resolved") == 1
    # The refund escalation, and the WhatsApp ticket whose reply became a dead letter: a
    # person takes it (`delivery_failed`).
    assert value(after, "fte_open_tickets", status="escalated") == 2
    assert value(after, "fte_open_tickets", status="closed") == 0
    assert value(after, "fte_queue_depth", topic="learn") == 1  # the resolved ticket's job
    assert value(after, "fte_queue_oldest_age_seconds", topic="learn") >= 0
    assert value(after, "fte_queue_depth", topic="inbound") == 0
    assert "process_resident_memory_bytes" in set(_names(after))


async def test_breaker_gauge_and_channels_report(kb_db_url: str, kb_pool: asyncpg.Pool) -> None:
    async with kb_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO channel_health (channel, breaker, failures, last_error, worker) "
            "VALUES ('email', 'open', 5, 'SMTP 421', 'w1'), "
            "('whatsapp', 'half_open', 5, NULL, 'w1')"
        )
        key = await auth.create_api_key(conn, "ops", "admin")
        agent_key = await auth.create_api_key(conn, "viewer", "agent")
    await file_inbound(kb_pool, InboundMessage(
        channel="web_form", identity=Identity("email", "c@example.com"),
        customer_name="Cy", body="Hello there"))  # fmt: skip
    async with (
        serve_app(kb_db_url, make_settings(FTE_METRICS_TOKEN=TOKEN)) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        samples = await scrape(client)
        assert value(samples, "fte_breaker_state", name="email") == 2
        assert value(samples, "fte_breaker_state", name="whatsapp") == 1
        assert (await client.get("/metrics/channels")).status_code == 401
        refused = await client.get("/metrics/channels", headers={"X-API-Key": agent_key.key})
        assert refused.status_code == 403
        report = (await client.get("/metrics/channels", headers={"X-API-Key": key.key})).json()
    channels = report["channels"]
    assert channels["email"]["configured"] is False
    assert channels["email"]["breaker"] == {
        "state": "open", "consecutive_failures": 5, "last_error": "SMTP 421", "worker": "w1",
        "changed_at": channels["email"]["breaker"]["changed_at"],
    }  # fmt: skip
    assert channels["web_form"]["configured"] is True
    assert channels["web_form"]["breaker"]["state"] == "closed"
    assert channels["web_form"]["messages_in_24h"] == 1
    assert channels["web_form"]["messages_out_24h"] == 0
    assert channels["web_form"]["last_inbound_at"] is not None


def test_several_api_processes_report_the_same_totals(db_url: str, tmp_path: object) -> None:
    """`fte serve --workers 2`: whichever process answers the scrape, it reports every
    process's requests (multiprocess mode)."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "FTE_METRICS_TOKEN": TOKEN}
    api, base = start_api(db_url, env, workers=2)
    try:
        with httpx.Client(base_url=base, timeout=10, headers=SCRAPER) as client:
            seen_before = total(
                parse(client.get("/metrics").text), "fte_http_requests_total", route="/health"
            )
            for _ in range(20):
                # A new connection each time, so both processes take some of them.
                assert httpx.get(base + "/health", timeout=10).status_code == 200
            scrapes = [parse(client.get("/metrics").text) for _ in range(4)]
    finally:
        api.stop()
    for samples in scrapes:
        assert total(samples, "fte_http_requests_total", route="/health") - seen_before == 20
        assert "fte_open_tickets" in set(_names(samples))


async def test_unknown_paths_share_one_series_and_static_files_one_more(db_url: str) -> None:
    """A scanner's random URLs must not create a series each (label cardinality)."""
    async with (
        serve_app(db_url, make_settings(FTE_METRICS_TOKEN=TOKEN)) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        before = await scrape(client)
        for i in range(5):
            assert (await client.get(f"/wp-admin/{uuid.uuid4()}/{i}")).status_code == 404
        assert (await client.get("/console/static/console.js")).status_code == 200
        after = await scrape(client)
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    static = {"route": "/console/static", "method": "GET", "status": "200"}
    assert (
        value(after, "fte_http_requests_total", **unmatched)
        - value(before, "fte_http_requests_total", **unmatched)
        == 5
    )
    assert (
        value(after, "fte_http_requests_total", **static)
        - value(before, "fte_http_requests_total", **static)
        == 1
    )
    assert not any("wp-admin" in dict(labels).get("route", "") for _, labels in after)


async def test_metrics_are_not_public_and_need_the_scrape_token(db_url: str) -> None:
    async with (
        serve_app(db_url, make_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        # No token configured: not served at all, whatever the caller sends.
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/metrics", headers=SCRAPER)).status_code == 404
    async with (
        serve_app(db_url, make_settings(FTE_METRICS_TOKEN=TOKEN)) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        refused = await client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "fte_open_tickets" not in refused.text
        wrongs = [f"Bearer {TOKEN}x".encode(), f"Basic {TOKEN}".encode(), b"Bearer scrape-7f\xe9"]
        for wrong in wrongs:
            response = await client.get("/metrics", headers={"Authorization": wrong})
            assert response.status_code == 401, wrong
        allowed = await client.get("/metrics", headers=SCRAPER)
        assert allowed.status_code == 200
        assert "fte_open_tickets" in allowed.text
