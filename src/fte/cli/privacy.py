"""`fte customer export|forget`: a customer's data, all of it or erased."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer

from fte.cli.context import console, run_in_transaction
from fte.customers import privacy


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container's numeric user)
        return "cli"


def export(
    customer: str = typer.Argument(..., help="The customer's id (or email, phone, external id)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the JSON here (mode 600) instead of stdout."
    ),
) -> None:
    """Everything we hold on a customer, as one JSON document: the customer, identities,
    conversations, tickets, messages, notes, agent runs, orders, profile, ratings and the audit
    entries about them. The export is audited. Exit 1: no such customer."""
    actor = _operator()
    document = run_in_transaction(
        lambda conn: privacy.export(conn, customer, actor), refused=(404,)
    )
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
        return
    # Personal data: readable by the operator alone.
    output.touch(mode=0o600, exist_ok=True)
    output.chmod(0o600)
    output.write_text(text + "\n", encoding="utf-8")
    console.print(f"Wrote {output} ({len(document['messages'])} messages).")


def forget(
    customer: str = typer.Argument(..., help="The customer's id (or email, phone, external id)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Erase a customer's personal data: name, email, phone, external id, identities, message
    bodies and metadata, drafts, notes and rating comments. Their tickets, orders (amounts and
    dates) and counts stay, anonymous. Audited; forgetting again changes nothing. Exit 1: no
    such customer; 2: not confirmed."""
    if not yes and not typer.confirm(
        f"Erase the personal data of customer {customer}? This cannot be undone", err=True
    ):
        console.print("Nothing erased.")
        raise typer.Exit(2)
    actor = _operator()
    result = run_in_transaction(lambda conn: privacy.forget(conn, customer, actor), refused=(404,))
    if as_json:
        typer.echo(json.dumps(result.as_json()))
    elif result.erased_now:
        console.print(
            f"[green]Erased customer {result.customer_id}.[/green] Kept: "
            + ", ".join(f"{v} {k}" for k, v in result.kept.items())
        )
    else:
        console.print(f"Customer {result.customer_id} was erased already; nothing changed.")
