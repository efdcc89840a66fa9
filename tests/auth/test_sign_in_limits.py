"""Nobody can lock a staff member out by failing to sign in as them.

Over real HTTP from two real client addresses (the whole 127/8 range is this machine): an
attacker at 127.0.0.2 and the owner at 127.0.0.1. The distributed case (many addresses) at
the service layer, on the real database, with explicit addresses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from fte.auth import service
from fte.auth.service import ACCOUNT_CEILING, SignInLimited
from fte.db import transaction
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD, sign_in

OWNER = "admin@example.com"
WRONG = "hunter2-but-wrong"


def failures(reason: str) -> float:
    return REGISTRY.get_sample_value("fte_login_failures_total", {"reason": reason}) or 0.0


@pytest.fixture
async def base(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[str]:
    async with pool.acquire() as conn:
        await service.add_user(conn, OWNER, "Ann", "admin", PASSWORD)
    # The shipped default: FTE_LOGIN_RATE_LIMIT=10.
    async with serve_app(db_url, make_settings()) as url:
        yield url


def client_from(base: str, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=10)


async def test_fifty_wrong_passwords_from_one_address_leave_the_owner_able_to_sign_in(
    base: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = {r: failures(r) for r in ("credentials", "address_limit", "account_limit")}
    caplog.set_level(logging.WARNING, logger="fte.console.routes")
    async with client_from(base, "127.0.0.2") as attacker:
        statuses = [(await sign_in(attacker, OWNER, WRONG)).status_code for _ in range(50)]
    # The attacker's address is slowed down: ten guesses a minute, then 429.
    assert statuses == [401] * 10 + [429] * 40

    async with client_from(base, "127.0.0.1") as owner:
        signed_in = await sign_in(owner, OWNER)
        assert signed_in.status_code == 303, signed_in.text
        assert (await owner.get("/console")).status_code == 200

    # Each refusal is logged (never the password) and counted by reason.
    refused = [r.getMessage() for r in caplog.records if "sign-in refused" in r.getMessage()]
    assert len(refused) == 50 and all("127.0.0.2" in m and OWNER in m for m in refused)
    assert not any(WRONG in r.getMessage() for r in caplog.records)
    assert failures("credentials") - before["credentials"] == 10
    assert failures("address_limit") - before["address_limit"] == 40
    assert failures("account_limit") == before["account_limit"]


async def test_a_distributed_attack_stops_new_addresses_but_not_the_owner_s_usual_one(
    pool: asyncpg.Pool,
) -> None:
    limit = 10

    async def attempt(address: str, ok: bool) -> None:
        async with transaction(pool) as conn:
            await service.admit_sign_in(conn, OWNER, address, limit)
            await service.record_sign_in(conn, OWNER, address, ok, limit)

    await attempt("198.51.100.7", ok=True)  # the owner signed in from the office last week
    # ACCOUNT_CEILING addresses, each failing as fast as its own limit allows.
    for n in range(ACCOUNT_CEILING):
        for _ in range(limit):
            await attempt(f"203.0.113.{n}", ok=False)

    with pytest.raises(SignInLimited) as refused:
        await attempt("203.0.113.200", ok=False)
    assert refused.value.reason == "account_limit"
    assert 1 <= refused.value.retry_after <= 61
    await attempt("198.51.100.7", ok=True)  # the owner is not locked out


async def test_below_the_ceiling_every_address_may_try(pool: asyncpg.Pool) -> None:
    for n in range(ACCOUNT_CEILING - 1):
        for _ in range(10):
            async with transaction(pool) as conn:
                await service.admit_sign_in(conn, OWNER, f"203.0.113.{n}", 10)
                await service.record_sign_in(conn, OWNER, f"203.0.113.{n}", False, 10)
    async with transaction(pool) as conn:
        await service.admit_sign_in(conn, OWNER, "192.0.2.1", 10)  # a new address: allowed
