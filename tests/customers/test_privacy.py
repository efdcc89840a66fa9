"""A customer's data through the operator's commands on the real database: `fte customer
export` hands over everything we hold, `fte customer forget` erases what identifies them and
keeps the anonymous counts, audited once however often it runs."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import asyncpg

from fte.customers.profiles import find_profile
from fte.customers.service import merge
from fte.db import transaction
from fte.tickets.notes import add_note
from tests import factories
from tests.cli.test_operator_commands import fte


async def _ana(pool: asyncpg.Pool) -> tuple[str, str]:
    """Ana: a ticket by email, another by phone merged into her, an order, a rating, a note."""
    filed = await factories.ticket(
        pool,
        "I am Ana, card 4111 1111 1111 1111, call me on +15550100",
        email="ana@example.com",
        subject="Refund for order 77",
        metadata={"from": "Ana <ana@example.com>"},
    )
    by_phone = await factories.ticket(pool, "Hello again", phone="+15550100", name="Ana P")
    async with transaction(pool) as conn:
        await merge(conn, filed.customer_id, by_phone.customer_id, "test")
        await conn.execute(
            "UPDATE customers SET external_id = 'CRM-7', plan = 'pro' WHERE id = $1",
            filed.customer_id,
        )
        await conn.execute(
            "INSERT INTO orders (order_id, customer_id, amount, currency, ordered_at, source) "
            "VALUES ('o-1', $1, 120.50, 'EUR', '2026-01-02', 'import')",
            filed.customer_id,
        )
        await conn.execute(
            "INSERT INTO ticket_ratings (ticket_id, score, comment) VALUES ($1, 2, 'Ana is sad')",
            filed.ticket_id,
        )
        await add_note(conn, filed.ticket_id, "user:x", "Ana's husband called too")
    return str(filed.customer_id), str(by_phone.customer_id)


async def test_export_holds_everything_we_have_on_them(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    ana, merged = await _ana(pool)
    out = tmp_path / "ana.json"
    code, said = await asyncio.to_thread(fte, db_url, "customer", "export", ana, "-o", str(out))
    assert code == 0, said
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    doc = json.loads(out.read_text())
    assert doc["customer_id"] == ana
    assert {c["id"] for c in doc["customers"]} == {ana, merged}
    assert {(i["kind"], i["value"]) for i in doc["identities"]} == {
        ("email", "ana@example.com"),
        ("phone", "+15550100"),
    }
    assert len(doc["tickets"]) == 2 and len(doc["conversations"]) == 2
    assert any("4111" in m["body"] for m in doc["messages"])
    assert doc["orders"][0]["amount"] == "120.50"
    assert doc["ratings"][0]["comment"] == "Ana is sad"
    assert doc["internal_notes"][0]["body"] == "Ana's husband called too"
    assert {a["action"] for a in doc["audit"]} >= {"customer.merge", "ticket.note"}
    assert doc["profile"]["external_id"] == "CRM-7"

    # By email, to stdout: the same document.
    code, said = await asyncio.to_thread(fte, db_url, "customer", "export", "ana@example.com")
    assert code == 0
    assert json.loads(said)["customer_id"] == ana
    code, said = await asyncio.to_thread(fte, db_url, "customer", "export", "nobody@example.com")
    assert code == 1 and "no customer is known by 'nobody@example.com'" in said
    async with pool.acquire() as conn:
        copies = await conn.fetch(
            "SELECT actor, detail FROM audit_log WHERE action = 'customer.export'"
        )
    assert [c["detail"]["customer_id"] for c in copies] == [ana, ana]
    assert all(c["actor"].startswith("cli") for c in copies)


async def test_forget_erases_identity_keeps_counts_and_is_idempotent(
    db_url: str, pool: asyncpg.Pool
) -> None:
    ana, merged = await _ana(pool)
    code, said = await asyncio.to_thread(fte, db_url, "customer", "forget", ana, stdin="n\n")
    assert code == 2 and "Nothing erased" in said
    async with pool.acquire() as conn:
        assert await find_profile(conn, "ana@example.com") is not None

    code, said = await asyncio.to_thread(fte, db_url, "customer", "forget", ana, "--yes", "--json")
    assert code == 0, said
    result = json.loads(said)
    assert result["erased_now"] is True
    assert result["kept"] == {"tickets": 2, "messages": 2, "orders": 1, "order_total": "120.50"}

    async with pool.acquire() as conn:
        for key in ("ana@example.com", "+15550100", "CRM-7"):
            assert await find_profile(conn, key) is None, key
        people = await conn.fetch(
            "SELECT name, email, phone, external_id, erased_at FROM customers "
            "WHERE id = ANY($1::uuid[])",
            [ana, merged],
        )
        assert all(p["erased_at"] is not None for p in people)
        assert {(p["name"], p["email"], p["phone"], p["external_id"]) for p in people} == {
            (None, None, None, None)
        }
        assert await conn.fetchval("SELECT count(*) FROM customer_identities") == 0
        messages = await conn.fetch("SELECT body, subject, metadata FROM messages")
        assert [(m["body"], m["metadata"]) for m in messages] == [("[erased]", {})] * 2
        assert {m["subject"] for m in messages} <= {"[erased]", None}
        assert await conn.fetchval("SELECT subject FROM tickets WHERE subject IS NOT NULL") in (
            None,
            "[erased]",
        )
        assert await conn.fetchval("SELECT comment FROM ticket_ratings") is None
        assert await conn.fetchval("SELECT score FROM ticket_ratings") == 2
        assert await conn.fetchval("SELECT body FROM ticket_notes") == "[erased]"
        order = await conn.fetchrow("SELECT amount, ordered_at FROM orders")
        assert str(order["amount"]) == "120.50" and order["ordered_at"].year == 2026
        audits = await conn.fetch(
            "SELECT actor, detail FROM audit_log WHERE action = 'customer.forget'"
        )
    assert len(audits) == 1
    assert audits[0]["actor"].startswith("cli")
    assert audits[0]["detail"]["customer_id"] == ana

    # Again: nothing left to erase, nothing audited twice.
    code, said = await asyncio.to_thread(fte, db_url, "customer", "forget", ana, "--yes", "--json")
    assert code == 0 and json.loads(said)["erased_now"] is False
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'customer.forget'")
            == 1
        )
        profile = await find_profile(conn, ana)
    assert profile is not None and profile["erased"] is True and profile["email"] is None
