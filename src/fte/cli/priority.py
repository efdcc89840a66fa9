"""`fte priority ...`: the rules that raise a ticket's priority from what we know of its
customer, read in plain words and changed without a redeploy (they live in the database)."""

from __future__ import annotations

import json

import asyncpg
import typer
from rich.table import Table

from fte.cli.context import console, run_in_transaction
from fte.tickets import priorities
from fte.tickets import priority_repository as repository
from fte.tickets.priority_rules import PriorityRule, describe, parse

ACTOR = "cli"

app = typer.Typer(help="Priority rules: list, add, remove.", no_args_is_help=True)


@app.command("rules")
def rules_command(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """The rules in the order they are read; the highest priority that matches wins."""
    rows = run_in_transaction(repository.list_rules, refused=())
    if as_json:
        for row in rows:
            typer.echo(json.dumps({**dict(row), "conditions": row["conditions"]}))
        return
    if not rows:
        console.print("No priority rules: tickets keep the priority they were filed with.")
        return
    table = Table("id", "priority", "reason (shown on the ticket)", "when")
    for row, rule in zip(rows, parse(rows), strict=True):
        table.add_row(str(row["id"]), rule.priority, rule.reason, describe(rule.when))
    console.print(table)
    console.print(
        "A rule only raises a ticket's priority, never lowers it, and leaves alone a priority "
        "a person chose. Rules apply when a ticket is filed and after the agent reads the "
        "message's sentiment."
    )


@app.command("add")
def add_command(
    priority: str = typer.Option(..., help="low, medium, high or urgent."),
    reason: str = typer.Option(..., help='Shown on the ticket: "top 5% by value".'),
    value_percentile_min: float | None = typer.Option(
        None, help="Lifetime value at least this share of customers (0.95: top 5%)."
    ),
    churn_risk_min: float | None = typer.Option(None, help="Churn risk at least (0..1)."),
    lifetime_value_min: float | None = typer.Option(None, help="Lifetime value at least."),
    orders_min: int | None = typer.Option(None, help="At least this many orders."),
    segment: list[str] = typer.Option([], help="The customer's segment is one of (repeat)."),
    plan: list[str] = typer.Option([], help="The customer's plan is one of (repeat)."),
    sentiment: list[str] = typer.Option(
        [], help="The message's sentiment is one of negative, neutral, positive (repeat)."
    ),
    channel: list[str] = typer.Option([], help="The message came on one of (repeat)."),
) -> None:
    """Add a rule, read after the existing ones."""
    conditions: dict[str, object] = {
        key: value
        for key, value in (
            ("value_percentile_min", value_percentile_min),
            ("churn_risk_min", churn_risk_min),
            ("lifetime_value_min", lifetime_value_min),
            ("orders_min", orders_min),
            ("segment", segment or None),
            ("plan", plan or None),
            ("sentiment", sentiment or None),
            ("channel", channel or None),
        )
        if value is not None
    }

    async def add(conn: asyncpg.Connection) -> tuple[int, PriorityRule]:
        # A bad rule exits 2, naming the field.
        return await priorities.add_rule(conn, priority, reason, conditions, actor=ACTOR)

    rule_id, rule = run_in_transaction(add, refused=())
    console.print(
        f"Rule {rule_id} added: {rule.priority}: {rule.reason} — when {describe(rule.when)}"
    )


@app.command("remove")
def remove_command(rule_id: int = typer.Argument(..., min=1, help="The rule's id.")) -> None:
    """Remove a rule; tickets it raised keep their priority."""

    async def remove(conn: asyncpg.Connection) -> None:
        await priorities.remove_rule(conn, rule_id, actor=ACTOR)

    run_in_transaction(remove, refused=(404,))
    console.print(f"Rule {rule_id} removed.")
