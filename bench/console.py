"""Console pages on a large database: inbox, search, ticket page and dashboard render time.

    .venv/bin/python bench/console.py [--tickets 100000] [--repeats 40] [--data-dir DIR]

Fills a throw-away embedded PostgreSQL (nothing touches ./.fte) in a few set-based
statements (generate_series, inside the server: no rows cross the wire, faster than COPY):
customers, conversations, tickets spread over 90 days (who solved them, a rating for a third
of the solved ones), an inbound message and an agent run per ticket, a reply for most. Then
starts the real `fte serve`, signs in as an agent the way a browser does, and times
sequential requests. `--data-dir` keeps the database there and reuses it on the next run
(1,000,000 tickets take minutes to generate); it is upgraded to the current migrations.

Prints one JSON object: per page p50/p95/max in ms, with baselines measured in the same run:
`/health` (a few small queries), the sign-in page (a template, no query), and
`baseline_dashboard_live_<period>`: the dashboard's figures computed from the base tables
without the daily roll-ups (timed in this process, no HTTP), what every request paid before.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.console import PASSWORD, sign_in  # noqa: E402
from tests.fixtures.processes import start_api  # noqa: E402

from fte.auth import service  # noqa: E402
from fte.console import dashboard  # noqa: E402
from fte.db import create_pool  # noqa: E402
from fte.ops import migrations  # noqa: E402
from fte.ops.embedded_postgres import EmbeddedPostgres  # noqa: E402

FILL = """
INSERT INTO customers (name, email, created_at)
SELECT 'Customer ' || g, 'c' || g || '@example.com', now() - interval '120 days'
FROM generate_series(1, $1 / 5) g;
CREATE TEMP TABLE numbered AS SELECT id, row_number() OVER () - 1 AS n FROM customers;
CREATE INDEX ON numbered (n);
"""

# One conversation, ticket, inbound message and agent run per g; created over 90 days.
TICKETS = """
WITH spec AS (
    SELECT g,
           c.id AS customer_id,
           (ARRAY['web_form', 'email', 'whatsapp', 'chatwoot'])[1 + g % 4] AS channel,
           now() - make_interval(secs => (g::float / $1) * 90 * 86400) AS at,
           CASE WHEN g % 50 = 0 THEN 'open' WHEN g % 50 = 1 THEN 'escalated'
                WHEN g % 50 = 2 THEN 'pending' WHEN g % 3 = 0 THEN 'closed'
                ELSE 'resolved' END AS status,
           (ARRAY['low', 'medium', 'high', 'urgent'])[1 + g % 4] AS priority
    FROM generate_series(1, $1) g JOIN numbered c ON c.n = g % ($1 / 5)
), conv AS (
    INSERT INTO conversations (id, customer_id, channel, started_at, last_message_at, status)
    SELECT md5('conv' || g)::uuid, customer_id, channel, at, at,
           CASE WHEN status IN ('resolved', 'closed') THEN 'closed' ELSE 'open' END
    FROM spec
)
INSERT INTO tickets (id, customer_id, conversation_id, channel, subject, priority, status,
                     escalation_reason, sentiment, created_at, updated_at, first_response_at,
                     resolved_at, solved_by)
SELECT md5('ticket' || g)::uuid, customer_id, md5('conv' || g)::uuid, channel,
       'Question ' || g || ' about ' || (ARRAY['billing', 'sync', 'login', 'export'])[1 + g % 4],
       priority, status,
       CASE WHEN status = 'escalated' THEN 'low_confidence' END,
       (ARRAY['negative', 'neutral', 'positive'])[1 + g % 3],
       at, at,
       CASE WHEN status <> 'open' THEN at + make_interval(secs => 5 + g % 600) END,
       CASE WHEN status IN ('resolved', 'closed')
            THEN at + make_interval(secs => 60 + g % 7200) END,
       CASE WHEN status NOT IN ('resolved', 'closed') THEN NULL
            WHEN g % 10 = 0 OR g % 7 = 0 THEN 'person' ELSE 'ai' END
FROM spec
"""

# A rating for a third of the solved tickets, an hour after they were solved.
RATINGS = """
INSERT INTO ticket_ratings (ticket_id, score, comment, created_at, updated_at)
SELECT t.id, 1 + t.number % 5, CASE WHEN t.number % 4 = 0 THEN 'Thanks' END,
       t.resolved_at + interval '1 hour', t.resolved_at + interval '1 hour'
FROM tickets t WHERE t.resolved_at IS NOT NULL AND t.number % 3 = 1
"""

MESSAGES = """
INSERT INTO messages (id, conversation_id, ticket_id, channel, direction, author, body,
                      sentiment, created_at)
SELECT md5('in' || t.number)::uuid, t.conversation_id, t.id, t.channel, 'inbound', 'customer',
       'Hello, I have a question about ' || t.subject || '. Can you help me please?',
       t.sentiment, t.created_at
FROM tickets t;
INSERT INTO messages (conversation_id, ticket_id, channel, direction, author, body,
                      delivery_status, created_at)
SELECT t.conversation_id, t.id, t.channel, 'outbound', 'agent',
       'Here is how to do that: open Settings and follow the steps.', 'sent',
       t.first_response_at
FROM tickets t WHERE t.first_response_at IS NOT NULL;
INSERT INTO agent_runs (message_id, ticket_id, decision, reason, confidence, latency_ms, model,
                        created_at)
SELECT md5('in' || t.number)::uuid, t.id,
       CASE WHEN t.status = 'escalated' THEN 'escalate' WHEN t.number % 10 = 0 THEN 'escalate'
            ELSE 'answer' END,
       CASE WHEN t.status = 'escalated' THEN 'low_confidence'
            WHEN t.number % 10 = 0
            THEN (ARRAY['refund', 'legal', 'human_requested'])[1 + t.number % 3]
       END,
       0.5 + (t.number % 50) / 100.0, 40 + t.number % 200, 'local', t.created_at
FROM tickets t;
ANALYZE;
"""


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max_ms": round(ordered[-1], 1),
    }


async def table_counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {
        table: await conn.fetchval(f"SELECT count(*) FROM {table}")
        for table in ("tickets", "messages", "agent_runs", "ticket_ratings")
    }


async def filled_already(url: str) -> dict[str, float] | None:
    """The counts of a database a previous run filled (with `--data-dir`), else None."""
    conn = await asyncpg.connect(url)
    try:
        if not await conn.fetchval("SELECT count(*) FROM users WHERE email = 'bench@example.com'"):
            return None
        return {**await table_counts(conn), "fill_seconds": 0.0}
    finally:
        await conn.close()


async def fill(url: str, tickets: int) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(FILL.replace("$1", str(int(tickets))))
            await conn.execute(TICKETS, tickets)
            await conn.execute(RATINGS)
            await conn.execute(MESSAGES)
        counts = await table_counts(conn)
        filled = round(time.perf_counter() - started, 1)
    finally:
        await conn.close()
    pool = await create_pool(url, min_size=1, max_size=1)  # its JSON codecs for the audit row
    try:
        async with pool.acquire() as conn:
            await service.add_user(conn, "bench@example.com", "Bench", "agent", PASSWORD)
    finally:
        await pool.close()
    return {**counts, "fill_seconds": filled}


async def measure(base: str, repeats: int, ticket: str) -> dict[str, dict[str, float]]:
    pages = {
        "baseline_health": "/health",
        "baseline_login_page": "/console/login",
        "inbox": "/console",
        "inbox_rows": "/console/inbox/rows",
        "inbox_search": "/console?q=billing",
        "inbox_search_rare": "/console?q=question+77777",
        "inbox_escalated": "/console?status=escalated",
        "ticket_page": f"/console/tickets/{ticket}",
        **{f"dashboard_{p}": f"/console/dashboard?period={p}" for p in dashboard.PERIODS},
    }
    results = {}
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        await sign_in(client, "bench@example.com")
        assert (await client.get("/console")).status_code == 200, "sign-in failed"
        for name, path in pages.items():
            await client.get(path)  # warm up (template compile, plans, the first roll-up)
            results[name] = percentiles(await timed(partial(client.get, path), repeats))
    return results


async def timed(call: Callable[[], Awaitable[object]], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = await call()
        samples.append((time.perf_counter() - started) * 1000)
        if isinstance(response, httpx.Response):
            assert response.status_code == 200, (response.url, response.status_code)
    return samples


async def measure_live(url: str, repeats: int) -> dict[str, dict[str, float]]:
    """The same-run baseline: each period's figures straight from the base tables."""
    pool = await create_pool(url, min_size=2, max_size=10)
    try:
        results = {}
        for period, days in dashboard.PERIODS.items():
            samples = await timed(partial(dashboard.figures, pool, days, live=True), repeats)
            results[f"baseline_dashboard_live_{period}"] = percentiles(samples)
        return results
    finally:
        await pool.close()


async def create_database(admin_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'bench'"):
            await conn.execute('CREATE DATABASE "bench"')
    finally:
        await conn.close()


async def prepare(url: str, tickets: int, reuse: bool) -> tuple[dict[str, float], str]:
    filled = await filled_already(url) if reuse else None
    if filled is None:
        filled = await fill(url, tickets)
    conn = await asyncpg.connect(url)
    try:
        # Statistics for the indexes a newer migration added to a kept database, and the
        # visibility map a bulk load lacks (autovacuum would write it later): index-only scans.
        await conn.execute("VACUUM ANALYZE")
        ticket = await conn.fetchval(
            "SELECT id::text FROM tickets WHERE number = (SELECT max(number) / 2 FROM tickets)"
        )
    finally:
        await conn.close()
    return filled, ticket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--data-dir", type=Path, help="keep the database here and reuse it")
    args = parser.parse_args()
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="fte-bench-console-"))
    server = EmbeddedPostgres(data)
    server.start()
    try:
        asyncio.run(create_database(server.url("postgres")))
        url = server.url("bench")
        migrations.upgrade(url)
        filled, ticket = asyncio.run(prepare(url, args.tickets, args.data_dir is not None))
        api, base = start_api(url, within=120)  # a loaded machine imports the app slowly
        try:
            pages = asyncio.run(measure(base, args.repeats, ticket))
        finally:
            api.stop()
        pages.update(asyncio.run(measure_live(url, args.repeats)))
        report = {"data": filled, "repeats": args.repeats, "pages": pages}
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
