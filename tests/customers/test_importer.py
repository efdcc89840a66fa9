"""`fte customers import FILE`: orders from CSV or JSON Lines on the real database, through the
real command: idempotent on the order id, customers found or created, and a file with a bad
row refused whole, each bad row named by line and field."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest
from pydantic import ValidationError

from fte.customers import importer
from fte.customers.orders import OrderIn
from fte.db import transaction
from tests import factories
from tests.cli.test_dlq import fte

HEADER = "email,external_id,order_id,amount,currency,ordered_at,plan,status,name\n"
ROWS = [
    "Ana@Example.com,,A-1,10.50,eur,2026-01-05,basic,paid,Ana Silva",
    "ana@example.com,,A-2,20,EUR,2026-02-05T10:00:00Z,pro,paid,Ana Silva",
    ",CRM-7,B-1,99.99,USD,2026-03-01T09:30:00+02:00,,paid,Bo",
    "cy@example.com,CRM-8,C-1,5,GBP,2026-03-02 12:00,,refunded,",
    "cy@example.com,CRM-8,C-2,7.25,GBP,2026-03-03,,paid,",
]


def write_csv(tmp_path: Path, rows: list[str], name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


async def counts(pool: asyncpg.Pool) -> tuple[int, int]:
    async with pool.acquire() as conn:
        return (
            await conn.fetchval("SELECT count(*) FROM orders"),
            await conn.fetchval("SELECT count(*) FROM customers"),
        )


async def test_a_file_imported_twice_is_stored_once(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    path = write_csv(tmp_path, ROWS)
    first = await fte(db_url, "customers", "import", str(path))
    assert first.returncode == 0, first.stderr
    assert "5 new, 0 updated, 0 unchanged; 3 customer(s) created" in first.stderr

    again = await fte(db_url, "customers", "import", str(path), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "rows": 5, "new": 0, "updated": 0, "unchanged": 5, "customers_created": 0,
    }  # fmt: skip

    async with pool.acquire() as conn:
        ana = await conn.fetchrow(
            "SELECT c.* FROM customers c JOIN customer_identities i ON i.customer_id = c.id "
            "WHERE i.kind = 'email' AND i.value = 'ana@example.com'"
        )
        assert ana["name"] == "Ana Silva" and ana["plan"] == "pro"  # the latest order's plan
        orders = await conn.fetch("SELECT * FROM orders ORDER BY order_id")
        by_id = {o["order_id"]: o for o in orders}
        assert {by_id["A-1"]["customer_id"], by_id["A-2"]["customer_id"]} == {ana["id"]}
        assert str(by_id["A-1"]["amount"]) == "10.50" and by_id["A-1"]["currency"] == "EUR"
        assert by_id["A-1"]["ordered_at"].isoformat() == "2026-01-05T00:00:00+00:00"
        assert by_id["B-1"]["ordered_at"].isoformat() == "2026-03-01T07:30:00+00:00"
        assert by_id["C-1"]["customer_id"] == by_id["C-2"]["customer_id"]
        assert {o["source"] for o in orders} == {"import"}
        cy = await conn.fetchrow(
            "SELECT * FROM customers WHERE id = $1", by_id["C-1"]["customer_id"]
        )
        assert cy["external_id"] == "CRM-8" and cy["email"] == "cy@example.com"

    changed = [ROWS[0].replace("10.50", "11.00"), *ROWS[1:]]
    third = await fte(db_url, "customers", "import", str(write_csv(tmp_path, changed)))
    assert third.returncode == 0, third.stderr
    assert "0 new, 1 updated, 4 unchanged; 0 customer(s) created" in third.stderr


async def test_orders_join_the_customer_who_already_wrote_in(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    filed = await factories.ticket(pool, email="ana@example.com")
    result = await fte(db_url, "customers", "import", str(write_csv(tmp_path, ROWS[:2])))
    assert result.returncode == 0, result.stderr
    async with pool.acquire() as conn:
        owners = await conn.fetch("SELECT DISTINCT customer_id FROM orders")
    assert [r["customer_id"] for r in owners] == [filed.customer_id]
    assert await counts(pool) == (2, 1)


async def test_bad_rows_are_named_and_nothing_is_written(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    rows = [
        ROWS[0],
        ",,X-1,1,EUR,2026-01-01,,,",  # line 3: no customer
        "d@example.com,,X-2,ten,EUR,2026-01-01,,,",  # line 4
        "d@example.com,,X-3,1,EURO,2026-02-30,,,",  # line 5: two fields
        "not-an-email,,X-4,1,EUR,05/01/2026,,,",  # line 6: two fields
        "d@example.com,,,1,EUR,2026-01-01,,,",  # line 7
    ]
    result = await fte(db_url, "customers", "import", str(write_csv(tmp_path, rows)))
    assert result.returncode == 2, result.stderr
    out = result.stderr
    assert "5 bad row(s); nothing was imported" in out
    for expected in (
        "line 3: email: email or external_id is required",
        "line 4: amount: not an amount",
        "line 5: currency: not a three-letter currency code",
        "line 5: ordered_at: not a real date or time",
        "line 6: email: not an email address",
        "line 6: ordered_at: not an ISO 8601 date or datetime",
        "line 7: order_id: required",
    ):
        assert expected in out, (expected, out)
    assert "line 2" not in out
    assert await counts(pool) == (0, 0)


async def test_a_repeated_order_id_or_missing_column_is_refused(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    repeated = write_csv(tmp_path, [*ROWS[:2], ROWS[0].replace("10.50", "12")])
    result = await fte(db_url, "customers", "import", str(repeated))
    assert result.returncode == 2
    assert "line 4: order_id: 'A-1' appears on an earlier line" in result.stderr
    odd = tmp_path / "odd_header.csv"
    odd.write_text(
        'email,order_id,amount,currency,ordered_at,"x"" text); DROP TABLE orders; --"\n'
        "a@example.com,1,5,EUR,2026-01-01,whatever\n"
    )
    result = await fte(db_url, "customers", "import", str(odd), "--json")
    assert result.returncode == 0, result.stderr  # the unknown column is ignored, not run
    assert json.loads(result.stdout)["new"] == 1
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM orders; DELETE FROM customers")
    no_amount = tmp_path / "no_amount.csv"
    no_amount.write_text("email,order_id,currency,ordered_at\na@example.com,1,EUR,2026-01-01\n")
    result = await fte(db_url, "customers", "import", str(no_amount))
    assert result.returncode == 2
    assert "line 1: amount: column missing from the header line" in result.stderr
    assert await counts(pool) == (0, 0)


async def test_json_lines(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    good = [
        {"email": "ana@example.com", "order_id": "J-1", "amount": 12.5, "currency": "EUR",
         "ordered_at": "2026-01-05T10:00:00Z", "note": "ignored"},
        {"external_id": 42, "order_id": "J-2", "amount": "3", "currency": "USD",
         "ordered_at": "2026-01-06", "name": "Tab\tand \"quotes\" \\ back"},
    ]  # fmt: skip
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in good) + "\n\n")
    result = await fte(db_url, "customers", "import", str(path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["new"] == 2
    async with pool.acquire() as conn:
        name = await conn.fetchval("SELECT name FROM customers WHERE external_id = '42'")
    assert name == 'Tab\tand "quotes" \\ back'

    path.write_text(json.dumps(good[0]) + "\n[1, 2]\n{not json\n")
    result = await fte(db_url, "customers", "import", str(path))
    assert result.returncode == 2
    assert "line 2: line: not a JSON object" in result.stderr
    assert "line 3: line: not a JSON object" in result.stderr


BAD_VALUES = [
    ("amount", "-1"),
    ("amount", "1,5"),
    ("currency", "E1R"),
    ("ordered_at", "2026-13-01"),
    ("ordered_at", "yesterday"),
    ("email", "a@b"),
    ("order_id", "x" * 201),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
async def test_the_events_api_and_the_importer_refuse_the_same_values(
    pool: asyncpg.Pool, tmp_path: Path, field: str, value: str
) -> None:
    row = {
        "email": "a@example.com",
        "order_id": "O-1",
        "amount": "1",
        "currency": "EUR",
        "ordered_at": "2026-01-01",
    }
    row[field] = value
    with pytest.raises(ValidationError) as refused:
        OrderIn(**row)
    assert [e["loc"] for e in refused.value.errors()] == [(field,)]
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(importer.ImportRejected) as rejected:
        async with transaction(pool) as conn:
            await importer.import_file(conn, path, "jsonl")
    assert [e.field for e in rejected.value.errors] == [field]
