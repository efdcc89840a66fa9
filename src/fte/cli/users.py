"""`fte user ...` and `fte apikey ...`: who may use the console and the admin API."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import typer
from rich.table import Table

from fte.auth import repository, service
from fte.auth.schemas import SCOPES, Role
from fte.cli.context import console, run_in_transaction

T = TypeVar("T")

users = typer.Typer(help="Console users.", no_args_is_help=True)
apikeys = typer.Typer(help="API keys for the admin API (X-API-Key).", no_args_is_help=True)

ROLE_HELP = "admin (everything, incl. the admin API) or agent (the console)."


def _run(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    return run_in_transaction(work, refused=(409,), migrate=True)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("Password", hide_input=True)
    if typer.prompt("Again", hide_input=True) != first:
        console.print("[red]The passwords differ.[/red]")
        raise typer.Exit(2)
    return str(first)


@users.command("add")
def add_user(
    email: str = typer.Argument(..., help="Sign-in email."),
    name: str = typer.Option(..., "--name", help="Shown in the console and the audit log."),
    role: str = typer.Option("agent", "--role", help=ROLE_HELP),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (scripts)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the new user as JSON."),
) -> None:
    """Create a console user (exit 1: the email exists; 2: bad input)."""
    if role not in ("admin", "agent"):
        console.print(f"[red]--role must be admin or agent, not {role!r}[/red]")
        raise typer.Exit(2)
    password = _password(password_stdin)
    checked: Role = "admin" if role == "admin" else "agent"
    user_id = _run(lambda conn: service.add_user(conn, email, name, checked, password))
    if as_json:
        typer.echo(json.dumps({"id": str(user_id), "email": email, "role": role}))
    else:
        console.print(f"[green]User {email} ({role}) created.[/green]")


@users.command("list")
def list_users(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every console user with their role (never a password)."""
    rows = _run(repository.list_users)
    records = [{k: str(v) for k, v in dict(r).items()} for r in rows]
    if as_json:
        typer.echo(json.dumps(records))
        return
    if not records:
        console.print("No users yet: add one with `fte user add EMAIL --name NAME --role admin`.")
        return
    table = Table("email", "name", "role", "created_at", "id", title="Users")
    for r in records:
        table.add_row(r["email"], r["name"], r["role"], r["created_at"], r["id"])
    console.print(table)


@apikeys.command("create")
def create_key(
    name: str = typer.Argument(..., help="What the key is for, e.g. 'grafana'."),
    role: str | None = typer.Option(
        None, "--role", help=ROLE_HELP + " Default admin; with --scope it follows the scopes."
    ),
    scopes: list[str] = typer.Option(
        [],
        "--scope",
        help="What the key may do, repeatable: customers:read, tickets:read, admin "
        "(every scope). Without: whatever its role may.",
    ),
    rate_limit: int | None = typer.Option(
        None,
        "--rate-limit",
        min=0,
        help="Requests a minute for this key (0: none). Default: FTE_API_KEY_RATE_LIMIT.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print id and key as JSON."),
) -> None:
    """Create an API key; the key is printed once and only its hash is stored."""
    if role not in (None, "admin", "agent"):
        console.print(f"[red]--role must be admin or agent, not {role!r}[/red]")
        raise typer.Exit(2)
    if role is not None and scopes:
        console.print("[red]--role and --scope exclude each other: use --scope admin[/red]")
        raise typer.Exit(2)
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        console.print(f"[red]--scope must be one of {', '.join(SCOPES)}, not {unknown[0]!r}[/red]")
        raise typer.Exit(2)
    checked: Role = "agent" if role == "agent" else "admin"
    new = _run(lambda conn: service.create_api_key(conn, name, checked, scopes or None, rate_limit))
    granted = sorted(set(scopes)) or None
    shown = "admin" if granted and "admin" in granted else ("agent" if granted else checked)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "id": str(new.id),
                    "key": new.key,
                    "role": shown,
                    "scopes": granted,
                    "rate_limit": rate_limit,
                }
            )
        )
        return
    what = ", ".join(granted) if granted else shown
    console.print(f"[green]API key {new.id} ({what}) created.[/green] Store it now:")
    typer.echo(new.key)


@apikeys.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every key with its role, scopes, rate limit, last use and whether it is revoked (never
    the key itself)."""
    rows = _run(repository.list_api_keys)
    records: list[dict[str, Any]] = [
        {
            k: (v if v is None or k in ("role", "scopes", "rate_limit") else str(v))
            for k, v in dict(r).items()
        }
        for r in rows
    ]
    if as_json:
        typer.echo(json.dumps(records))
        return
    columns = ("id", "name", "role", "scopes", "rate_limit", "prefix", "created_at")
    table = Table(title="API keys")
    for column in (*columns, "last_used_at", "revoked_at"):
        # Folded, not cut with an ellipsis: an id or a scope list must stay readable.
        table.add_column(column, overflow="fold")
    for r in records:
        shown = {
            **r,
            "scopes": ", ".join(r["scopes"]) if r["scopes"] is not None else None,
            "rate_limit": str(r["rate_limit"]) if r["rate_limit"] is not None else None,
        }
        table.add_row(*(shown[c] or "—" for c in (*columns, "last_used_at", "revoked_at")))
    console.print(table)


@apikeys.command("revoke")
def revoke_key(key_id: uuid.UUID = typer.Argument(..., help="The key's id.")) -> None:
    """Revoke a key at once (exit 1: no such live key)."""
    if not _run(lambda conn: service.revoke_api_key(conn, key_id)):
        console.print(f"[red]No live API key {key_id}.[/red]")
        raise typer.Exit(1)
    console.print(f"[green]API key {key_id} revoked.[/green]")
