"""The importer's two ways of storing orders, on the real database through the real command:
a first load into an empty `orders` (indexes dropped and built again after the rows) and an
import into a table that holds orders already store the same rows; a refused first load
leaves the table, its keys and its indexes exactly as they were."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg

from fte.customers import importer
from tests.cli.test_dlq import fte

HEADER = "email,external_id,order_id,amount,currency,ordered_at,plan,status,name,phone\n"
ROWS = [
    "Ana@Example.com,,A-1,10.50,eur,2026-01-05,basic,paid,Ana Silva,",
    "ana@example.com,,A-2,20,EUR,2026-02-05T10:00:00Z,pro,paid,Ana Silva,",
    ",CRM-7,B-1,99.99,USD,2026-03-01T09:30:00+02:00,,paid,Bo,",
    "cy@example.com,CRM-8,C-1,5,GBP,2026-03-02 12:00,,refunded,,",
    "cy@example.com,CRM-8,C-2,7.25,GBP,2026-03-03,team,paid,,",
    "dee@example.com,,D-1, 3.333 ,EUR,2026-04-01,,,Dee,+44 (20) 7946-0958",
    "eve@example.com,CRM-9,E-1,1,EUR,2026-04-02,,,Eve,",
    "eve@example.com,,E-2,2,EUR,2026-04-03,,,,",
]
OTHER = "zed@example.com,,Z-1,1,EUR,2025-01-01,,paid,Zed,"


def write_csv(tmp_path: Path, rows: list[str], name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


async def stored(pool: asyncpg.Pool) -> list[tuple[object, ...]]:
    """Every order but Z-1 with its customer and the customer's identities, ids left out."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT o.order_id, o.amount, o.currency, o.ordered_at, o.plan, o.status, o.source,
                   c.name, c.email, c.external_id, c.phone, c.plan AS customer_plan,
                   (SELECT array_agg(i.kind || ':' || i.value ORDER BY i.value)
                      FROM customer_identities i WHERE i.customer_id = c.id) AS identities
              FROM orders o JOIN customers c ON c.id = o.customer_id
             WHERE o.order_id <> 'Z-1' ORDER BY o.order_id
            """
        )
    return [tuple(r) for r in rows]


async def order_schema(pool: asyncpg.Pool) -> list[str]:
    """The keys, foreign keys and indexes of `orders`, as the catalog defines them."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT conname || ' ' || pg_get_constraintdef(oid) AS d FROM pg_constraint
             WHERE conrelid = 'orders'::regclass
            UNION ALL
            SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'orders'::regclass
             ORDER BY 1
            """
        )
    return [r["d"] for r in rows]


async def test_a_first_load_and_an_import_into_stored_orders_store_the_same_rows(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    schema = await order_schema(pool)
    path = write_csv(tmp_path, ROWS)
    first = await fte(db_url, "customers", "import", str(path), "--json")  # orders empty
    assert first.returncode == 0, first.stderr
    first_load = await stored(pool)
    assert await order_schema(pool) == schema  # every key and index built again

    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM orders; DELETE FROM customers")
    other = await fte(db_url, "customers", "import", str(write_csv(tmp_path, [OTHER], "z.csv")))
    assert other.returncode == 0, other.stderr
    incremental = await fte(db_url, "customers", "import", str(path), "--json")  # Z-1 stored
    assert incremental.returncode == 0, incremental.stderr

    assert json.loads(incremental.stdout) == json.loads(first.stdout) == {
        "rows": 8, "new": 8, "updated": 0, "unchanged": 0, "customers_created": 5,
    }  # fmt: skip
    assert await stored(pool) == first_load
    by_id = {r[0]: r for r in first_load}
    assert str(by_id["D-1"][1]) == "3.33" and by_id["D-1"][10] == "+442079460958"
    assert by_id["E-2"][9] == "CRM-9"  # the email-only row found the customer by email
    assert by_id["C-1"][11] == "team" and by_id["A-1"][11] == "pro"


async def test_a_repeated_order_id_on_a_first_load_leaves_orders_and_its_indexes_as_they_were(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    schema = await order_schema(pool)
    # Every row passes the checks; the repeat is found only when the key is built again.
    repeated = write_csv(tmp_path, [*ROWS, ROWS[3].replace("5,GBP", "6,GBP")])
    result = await fte(db_url, "customers", "import", str(repeated))
    assert result.returncode == 2, result.stderr
    assert "line 10: order_id: 'C-1' appears on an earlier line" in result.stderr
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0
        assert await conn.fetchval("SELECT count(*) FROM customers") == 0
    assert await order_schema(pool) == schema

    # And the same file into stored orders is refused the same way.
    other = await fte(db_url, "customers", "import", str(write_csv(tmp_path, [OTHER], "z.csv")))
    assert other.returncode == 0, other.stderr
    result = await fte(db_url, "customers", "import", str(repeated))
    assert result.returncode == 2, result.stderr
    assert "line 10: order_id: 'C-1' appears on an earlier line" in result.stderr
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 1


async def test_an_import_on_a_connection_that_used_temporary_tables_before(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    # Its temporary-table cache has its size already (it cannot grow): the import still runs.
    path = write_csv(tmp_path, ROWS)
    async with pool.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE scratch (n int); INSERT INTO scratch VALUES (1)")
        async with conn.transaction():
            summary = await importer.import_file(conn, path, "csv")
        async with conn.transaction():
            again = await importer.import_file(conn, path, "csv")
    assert (summary.new, again.unchanged) == (8, 8)


async def test_a_stored_order_twice_in_a_file_is_refused_even_when_one_row_is_unchanged(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    first = await fte(db_url, "customers", "import", str(write_csv(tmp_path, ROWS)))
    assert first.returncode == 0, first.stderr
    for repeat in (ROWS[0], ROWS[0].replace("10.50", "12")):  # unchanged, then changed
        again = write_csv(tmp_path, [*ROWS, repeat], "again.csv")
        result = await fte(db_url, "customers", "import", str(again))
        assert result.returncode == 2, result.stderr
        assert "line 10: order_id: 'A-1' appears on an earlier line" in result.stderr
    async with pool.acquire() as conn:
        amount = await conn.fetchval("SELECT amount FROM orders WHERE order_id = 'A-1'")
    assert str(amount) == "10.50"


async def test_a_line_the_file_format_cannot_hold_is_named_not_a_traceback(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    blank = write_csv(tmp_path, [ROWS[0], "", ROWS[1]], "blank.csv")
    extra = write_csv(tmp_path, [ROWS[0], ROWS[1] + ",surplus"], "extra.csv")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes((HEADER + ROWS[0].replace("Silva", "Sil\xe9a") + "\n").encode("latin-1"))
    for path, line in ((blank, 3), (extra, 3), (latin1, 2)):
        result = await fte(db_url, "customers", "import", str(path))
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert f"line {line}: line: not readable as csv" in result.stderr, result.stderr
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0


async def test_a_first_load_whose_key_another_table_needs_stores_the_rows_with_it(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE order_notes (order_id text REFERENCES orders)")
    schema = await order_schema(pool)
    result = await fte(db_url, "customers", "import", str(write_csv(tmp_path, ROWS)), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["new"] == 8
    assert await order_schema(pool) == schema


async def test_a_large_import_leaves_the_planner_knowing_the_new_rows(
    tmp_path: Path, db_url: str, pool: asyncpg.Pool
) -> None:
    # Until autovacuum's next round PostgreSQL planned on the empty tables' statistics, and a
    # filtered customer search read every customer (110-150 ms at 100,000 instead of 5).
    rows = [
        f"p{n}@example.com,,O-{n},{n % 90 + 10},EUR,2026-01-05,,paid,P {n}," for n in range(12_000)
    ]
    done = await fte(db_url, "customers", "import", str(write_csv(tmp_path, rows)), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["customers_created"] == 12_000
    async with pool.acquire() as conn:
        known = await conn.fetch(
            "SELECT relname, reltuples FROM pg_class "
            "WHERE relname IN ('customers', 'customer_identities', 'orders')"
        )
    assert {r["relname"]: r["reltuples"] for r in known} == {
        "customers": 12_000,
        "customer_identities": 12_000,
        "orders": 12_000,
    }
