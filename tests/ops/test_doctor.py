"""`fte doctor` under injected faults: each names the right check, exits non-zero, and passes
again once the fault is gone. The database is a separate embedded server (stopped in a test)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from fte.bus import dead_letters
from fte.bus import postgres_queue as queue
from fte.channels.gmail.watch import WatchRenewer
from fte.channels.registry import build_registry
from fte.cli.main import app
from fte.config import get_settings
from fte.db import create_pool
from fte.embeddings import Embedder
from fte.intake.service import IntakeResult
from fte.ops import migrations
from fte.ops.embedded_postgres import EmbeddedPostgres
from fte.ops.embedded_tansu import EmbeddedTansu
from fte.worker.heartbeat import Heartbeat
from fte.worker.queue_worker import QueueWorker
from tests import factories
from tests.channels.gmail.test_gmail import ADDRESS as GMAIL_ADDRESS
from tests.channels.gmail.test_gmail import PUSH_TOKEN, gmail_settings
from tests.channels.gmail.test_gmail import TOPIC as GMAIL_TOPIC
from tests.conftest import make_settings, serve_app
from tests.fixtures.fake_chatwoot import FakeChatwoot
from tests.fixtures.fake_gmail import FakeGmail
from tests.fixtures.fake_openai import FakeOpenAI, completion, error
from tests.fixtures.kafka import kafka_env, tansu  # noqa: F401 (fixtures)
from tests.fixtures.processes import free_port, start_worker
from tests.fixtures.waiting import eventually

Checks = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """A database server of its own: the faults stop it."""
    data = tmp_path_factory.mktemp("doctor-pg")
    pg = EmbeddedPostgres(data)
    migrations.upgrade(pg.start())
    pg.requested_port = pg.port or 0  # a restart comes back where the API looks for it
    yield pg
    pg.stop()


@pytest.fixture
async def db(server: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    """The server's database, emptied, and a pool on it."""
    if server.process is None:  # a test that stopped it failed before starting it again
        server.start()
    pool = await create_pool(server.url(), min_size=0, max_size=4)
    async with pool.acquire() as conn:
        await conn.execute(
            "TRUNCATE customers, tickets, messages, outbox, dead_letters, agent_runs, "
            "gmail_mailboxes, worker_heartbeats CASCADE"
        )
    yield pool
    await pool.close()


class LiveWorker:
    """A worker's heartbeat (the real one) without the rest of the worker: the deployment
    under test has a worker alive unless a test stops it."""

    def __init__(self, pool: asyncpg.Pool):
        self.halt = asyncio.Event()
        self.task = asyncio.create_task(Heartbeat(pool, make_settings()).run(self.halt))

    async def stop(self) -> None:
        self.halt.set()
        await self.task


@pytest.fixture(autouse=True)
async def live_worker(db: asyncpg.Pool) -> AsyncIterator[LiveWorker]:
    worker = LiveWorker(db)
    await eventually(
        lambda: db.fetchval("SELECT count(*) FROM worker_heartbeats"), 10, "its first beat"
    )
    yield worker
    await worker.stop()


@pytest.fixture
async def api(server: EmbeddedPostgres, db: asyncpg.Pool) -> AsyncIterator[str]:
    async with serve_app(server.url(), make_settings()) as base:
        yield base


def doctor(server: EmbeddedPostgres, api: str, tmp: Path, **env: str) -> tuple[int, Checks]:
    """`fte doctor --json -` with this environment; (exit code, checks by name)."""
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app,
            ["doctor", "--url", api, "--json", "-"],
            env={"DATABASE_URL": server.url(), "FTE_DATA_DIR": str(tmp), **env},
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code in (0, 1, 3), result.output
    report = json.loads(result.stdout)
    assert report["exit_code"] == result.exit_code
    return result.exit_code, {c["name"]: c for c in report["checks"]}


async def run_doctor(
    server: EmbeddedPostgres, api: str, tmp: Path, **env: str
) -> tuple[int, Checks]:
    return await asyncio.to_thread(doctor, server, api, tmp, **env)


def failing(checks: Checks) -> dict[str, str]:
    return {n: c["status"] for n, c in checks.items() if c["status"] in ("FAIL", "WARN")}


def message(pool: asyncpg.Pool, n: int) -> Awaitable[IntakeResult]:
    return factories.ticket(
        pool,
        f"My files stopped syncing ({n}).",
        email=f"wedge{n}@example.com",
        name="Wendy",
        subject="Sync",
    )


async def test_a_healthy_deployment_passes_everything(
    server: EmbeddedPostgres, api: str, tmp_path: Path, embedder: Embedder
) -> None:
    code, checks = await run_doctor(server, api, tmp_path)
    assert failing(checks) == {}
    assert code == 0
    assert embedder is not None  # the doctor's check got the process's one model
    for name in ("api", "database", "migrations", "pgvector", "queue", "embedding_model", "disk"):
        assert checks[name]["status"] == "PASS", checks[name]
    for name in ("kafka", "kafka_topics", "llm", "channel_whatsapp", "channel_chatwoot"):
        assert checks[name]["status"] == "SKIP", checks[name]
    assert checks["migrations"]["data"]["current"] == checks["migrations"]["data"]["head"]
    assert checks["database"]["data"]["pool_max"] == 4
    assert "its pool 0/10 in use" in checks["api"]["summary"]  # the API's own pool, idle


async def test_database_stopped_then_back(
    server: EmbeddedPostgres, api: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(server.stop)
    try:
        code, checks = await run_doctor(server, api, tmp_path)
        assert code == 1
        assert checks["database"]["status"] == "FAIL"
        assert "unreachable" in checks["database"]["summary"]
        assert checks["api"]["status"] == "FAIL" and "503" in checks["api"]["summary"]
        assert checks["migrations"]["status"] == "SKIP"
        assert "runbook" in checks["database"]["fix"]
    finally:
        await asyncio.to_thread(server.start)
    last: dict[str, Any] = {}

    async def healthy() -> bool:  # the API's pool reconnects by itself
        code, last["checks"] = await run_doctor(server, api, tmp_path)
        return code == 0

    try:
        await eventually(healthy, 20, "a passing doctor", every=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {failing(last['checks'])}") from None


async def test_llm_dead_port_bad_key_rate_limit_then_working(
    server: EmbeddedPostgres, api: str, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    code, checks = await run_doctor(server, api, tmp_path, FTE_LLM_BASE_URL=dead)
    assert (code, failing(checks)) == (1, {"llm": "FAIL"})
    assert "unreachable" in checks["llm"]["summary"]
    async with FakeOpenAI() as fake:
        env = {"FTE_LLM_BASE_URL": fake.base_url, "FTE_LLM_API_KEY": "sk-test"}
        fake.script(error(401, "Incorrect API key provided"))
        code, checks = await run_doctor(server, api, tmp_path, **env)
        assert (code, failing(checks)) == (1, {"llm": "FAIL"})
        assert "FTE_LLM_API_KEY" in checks["llm"]["fix"]
        fake.script(error(429, "Rate limit reached"))
        code, checks = await run_doctor(server, api, tmp_path, **env)
        assert (code, failing(checks)) == (3, {"llm": "WARN"})
        fake.script(completion(content="pong"))
        code, checks = await run_doctor(server, api, tmp_path, **env)
        assert (code, checks["llm"]["status"]) == (0, "PASS")
        assert fake.requests[-1].headers["Authorization"] == "Bearer sk-test"


async def test_a_wedged_ticket_fails_until_the_agent_answers_it(
    server: EmbeddedPostgres, db: asyncpg.Pool, api: str, tmp_path: Path, embedder: Embedder
) -> None:
    fresh = await message(db, 0)
    wedged = await message(db, 1)
    async with db.acquire() as conn:
        await conn.execute(
            "UPDATE messages SET created_at = now() - interval '6 minutes' WHERE id = $1",
            wedged.message_id,
        )
    code, checks = await run_doctor(server, api, tmp_path)
    assert (code, failing(checks)) == (1, {"stuck_tickets": "FAIL"})
    assert checks["stuck_tickets"]["data"]["tickets"] == [wedged.ticket_number]
    assert fresh.ticket_number not in checks["stuck_tickets"]["data"]["tickets"]

    settings = make_settings()
    await QueueWorker(db, settings, embedder, build_registry(settings)).run_once()
    code, checks = await run_doctor(server, api, tmp_path)
    assert (code, checks["stuck_tickets"]["status"]) == (0, "PASS")


async def _workers(api: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api, timeout=5) as c:
        r = await c.get("/health")
    assert r.status_code == 200
    workers: dict[str, Any] = r.json()["workers"]
    return workers


async def _until_alive(api: str, alive: int) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def counted() -> dict[str, Any] | None:
        seen.update(await _workers(api))
        return seen if seen["alive"] == alive else None

    try:
        return await eventually(counted, 120, f"{alive} workers alive", every=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {seen}") from None


async def test_a_killed_worker_is_seen_dead_and_fails_the_doctor_while_work_waits(
    server: EmbeddedPostgres, db: asyncpg.Pool, tmp_path: Path, live_worker: LiveWorker
) -> None:
    await live_worker.stop()  # only the real worker below beats
    beat = {"FTE_WORKER_HEARTBEAT_SECONDS": "0.5"}  # dead after 1.5 s without a beat
    async with serve_app(server.url(), make_settings(**beat)) as api:
        worker = start_worker(server.url(), beat)
        try:
            assert (await _until_alive(api, 1))["alive"] == 1
            code, checks = await run_doctor(server, api, tmp_path, **beat)
            assert checks["workers"]["status"] == "PASS" and code == 0, failing(checks)
        finally:
            worker.kill()
        await message(db, 7)  # a customer writes in: nobody will answer
        dead = await _until_alive(api, 0)
        assert dead["dead"] == 1 and dead["waiting"] == 1 and dead["status"] == "FAIL"
        code, checks = await run_doctor(server, api, tmp_path, **beat)
        assert (code, failing(checks)) == (1, {"workers": "FAIL"})
        assert "no worker alive" in checks["workers"]["summary"]
        assert "1 job(s) waiting" in checks["workers"]["summary"]

        async with db.acquire() as conn:  # nothing waits any more: a warning, not a failure
            await conn.execute("UPDATE outbox SET processed_at = now()")
        code, checks = await run_doctor(server, api, tmp_path, **beat)
        assert (code, failing(checks)) == (3, {"workers": "WARN"})


async def test_dead_letters_in_the_last_hour_then_replayed(
    server: EmbeddedPostgres, db: asyncpg.Pool, api: str, tmp_path: Path
) -> None:
    for n in range(6):
        await message(db, n)
    async with db.acquire() as conn:
        jobs = await queue.claim(conn, "inbound", "test", 10, 60)
        for job in jobs:
            await queue.dead_letter(conn, job, "RuntimeError: injected")
    code, checks = await run_doctor(server, api, tmp_path)
    assert (code, failing(checks)) == (1, {"dead_letters": "FAIL"})
    assert checks["dead_letters"]["data"]["count"] == 6
    assert "fte dlq" in checks["dead_letters"]["fix"]

    async with db.acquire() as conn:
        for row in (await dead_letters.list_open(conn))[1:]:
            await dead_letters.replay(conn, row["id"])
    code, checks = await run_doctor(server, api, tmp_path)
    assert (code, failing(checks)) == (3, {"dead_letters": "WARN"})  # one: below the alert

    async with db.acquire() as conn:
        for row in await dead_letters.list_open(conn):
            await dead_letters.replay(conn, row["id"])
    code, checks = await run_doctor(server, api, tmp_path)
    assert (code, checks["dead_letters"]["status"]) == (0, "PASS")


async def test_kafka_at_a_dead_port_then_the_broker(
    server: EmbeddedPostgres,
    api: str,
    tmp_path: Path,
    tansu: EmbeddedTansu,  # noqa: F811
    kafka_env: dict[str, str],  # noqa: F811
) -> None:
    dead = {
        **kafka_env,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
    }
    code, checks = await run_doctor(server, api, tmp_path, **dead)
    assert code == 1
    assert failing(checks) == {"kafka": "FAIL", "kafka_topics": "FAIL"}
    assert "Kafka unavailable" in checks["kafka"]["fix"]

    code, checks = await run_doctor(server, api, tmp_path, **kafka_env)
    assert failing(checks) == {} and code == 0
    assert checks["kafka_topics"]["status"] == "PASS"
    assert checks["queue"]["data"]["backend"] == "kafka"


async def test_kafka_topics_missing(
    server: EmbeddedPostgres,
    api: str,
    tmp_path: Path,
    kafka_env: dict[str, str],  # noqa: F811
) -> None:
    env = {**kafka_env, "FTE_KAFKA_TOPIC_PREFIX": "never-created."}
    code, checks = await run_doctor(server, api, tmp_path, **env)
    assert (code, failing(checks)) == (1, {"kafka_topics": "FAIL"})
    assert checks["kafka_topics"]["fix"] == "run `fte kafka create-topics`"


async def test_kafka_topics_with_fewer_partitions_than_configured(
    server: EmbeddedPostgres,
    api: str,
    tmp_path: Path,
    kafka_env: dict[str, str],  # noqa: F811
) -> None:
    """The topics exist (4 partitions) but the deployment wants 6: the doctor says so."""
    code, checks = await run_doctor(
        server, api, tmp_path, **{**kafka_env, "FTE_KAFKA_PARTITIONS": "6"}
    )
    assert (code, failing(checks)) == (1, {"kafka_topics": "FAIL"})
    prefix = kafka_env["FTE_KAFKA_TOPIC_PREFIX"]
    assert f"{prefix}inbound has 4" in checks["kafka_topics"]["summary"]
    assert "FTE_KAFKA_PARTITIONS=6" in checks["kafka_topics"]["summary"]
    assert "--partitions 6" in checks["kafka_topics"]["fix"]
    assert checks["kafka_topics"]["data"]["short"][f"{prefix}inbound"] == 4


async def test_channels_chatwoot_token_and_whatsapp_webhook(
    server: EmbeddedPostgres, db: asyncpg.Pool, tmp_path: Path
) -> None:
    twilio = {
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "secret",
        "TWILIO_WHATSAPP_FROM": "+14155238886",
    }
    async with FakeChatwoot("good-token") as chatwoot:
        chatwoot_env = {
            "CHATWOOT_BASE_URL": chatwoot.base_url,
            "CHATWOOT_ACCOUNT_ID": "1",
            "CHATWOOT_WEBHOOK_SECRET": "whsec",
        }
        # An API without the Twilio settings: the webhook Twilio would call is a 404.
        async with serve_app(server.url(), make_settings()) as bare:
            code, checks = await run_doctor(
                server,
                bare,
                tmp_path,
                **twilio,
                **chatwoot_env,
                CHATWOOT_API_TOKEN="stale-token",
                FTE_PUBLIC_URL=bare,
            )
        assert code == 1
        assert failing(checks) == {"channel_whatsapp": "FAIL", "channel_chatwoot": "FAIL"}
        assert "404" in checks["channel_whatsapp"]["summary"]
        assert "CHATWOOT_API_TOKEN" in checks["channel_chatwoot"]["fix"]

        async with serve_app(server.url(), make_settings(**twilio)) as ready:
            code, checks = await run_doctor(
                server,
                ready,
                tmp_path,
                **twilio,
                **chatwoot_env,
                CHATWOOT_API_TOKEN="good-token",
                FTE_PUBLIC_URL=ready,
            )
        assert failing(checks) == {} and code == 0
        assert checks["channel_whatsapp"]["status"] == "PASS"
        assert checks["channel_chatwoot"]["status"] == "PASS"

    code, checks = await run_doctor(
        server, "http://127.0.0.1:1", tmp_path, TWILIO_ACCOUNT_SID="AC1"
    )
    assert checks["channel_whatsapp"]["status"] == "FAIL"
    assert "TWILIO_AUTH_TOKEN" in checks["channel_whatsapp"]["summary"]


async def test_an_expired_gmail_watch_fails_until_the_worker_renews_it(
    server: EmbeddedPostgres, db: asyncpg.Pool, api: str, tmp_path: Path
) -> None:
    async with FakeGmail(GMAIL_ADDRESS) as fake:
        settings = gmail_settings(fake, tmp_path)
        env = {
            "GMAIL_CREDENTIALS_FILE": str(settings.gmail_credentials_file),
            "GMAIL_PUBSUB_TOPIC": GMAIL_TOPIC,
            "GMAIL_ADDRESS": GMAIL_ADDRESS,
            "GMAIL_PUSH_TOKEN": PUSH_TOKEN,
            "GMAIL_API_BASE": fake.base_url,
            "GMAIL_TOKEN_URI": fake.token_uri,
            "GMAIL_CERTS_URL": fake.certs_url,
        }
        code, checks = await run_doctor(server, api, tmp_path, **env)
        assert code == 1 and failing(checks) == {"channel_gmail": "FAIL"}
        assert "no Gmail watch" in checks["channel_gmail"]["summary"]
        assert "setup-watch" in checks["channel_gmail"]["fix"]

        renewer = WatchRenewer(db, settings)
        assert await renewer.renew_if_due()
        async with db.acquire() as conn:
            await conn.execute(
                "UPDATE gmail_mailboxes SET watch_expires_at = now() - interval '1 hour'"
            )
        code, checks = await run_doctor(server, api, tmp_path, **env)
        assert code == 1 and checks["channel_gmail"]["status"] == "FAIL"
        assert "expired" in checks["channel_gmail"]["summary"]

        await renewer.run_once()  # what a running worker does at its next check
        code, checks = await run_doctor(server, api, tmp_path, **env)
        assert failing(checks) == {} and code == 0
        assert checks["channel_gmail"]["data"]["seconds_left"] > 6.9 * 86400


def test_the_table_names_each_check_and_the_json_file(
    server: EmbeddedPostgres, tmp_path: Path
) -> None:
    report = tmp_path / "doctor.json"
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app,
            ["doctor", "--url", f"http://127.0.0.1:{free_port()}", "--json", str(report)],
            env={"DATABASE_URL": server.url(), "FTE_DATA_DIR": str(tmp_path), "COLUMNS": "200"},
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1  # no API there
    assert "api" in result.output and "FAIL" in result.output and "PASS" in result.output
    assert "is the API running?" in result.output
    saved = json.loads(report.read_text())
    assert saved["exit_code"] == 1
    assert saved["checks"][0]["name"] == "database"
