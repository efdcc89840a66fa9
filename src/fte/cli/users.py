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
from fte.auth.schemas import Role
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
    role: str = typer.Option("admin", "--role", help=ROLE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print id and key as JSON."),
) -> None:
    """Create an API key; the key is printed once and only its hash is stored."""
    if role not in ("admin", "agent"):
        console.print(f"[red]--role must be admin or agent, not {role!r}[/red]")
        raise typer.Exit(2)
    checked: Role = "admin" if role == "admin" else "agent"
    new = _run(lambda conn: service.create_api_key(conn, name, checked))
    if as_json:
        typer.echo(json.dumps({"id": str(new.id), "key": new.key, "role": role}))
        return
    console.print(f"[green]API key {new.id} ({role}) created.[/green] Store it now:")
    typer.echo(new.key)


@apikeys.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every key with its role, last use and whether it is revoked (never the key itself)."""
    rows = _run(repository.list_api_keys)
    records: list[dict[str, Any]] = [
        {k: (str(v) if v is not None and k != "role" else v) for k, v in dict(r).items()}
        for r in rows
    ]
    if as_json:
        typer.echo(json.dumps(records))
        return
    table = Table(title="API keys")
    for column in ("id", "name", "role", "prefix", "created_at", "last_used_at", "revoked_at"):
        table.add_column(column)
    for r in records:
        table.add_row(
            *(
                r[c] or "—"
                for c in (
                    "id",
                    "name",
                    "role",
                    "prefix",
                    "created_at",
                    "last_used_at",
                    "revoked_at",
                )
            )
        )
    console.print(table)


@apikeys.command("revoke")
def revoke_key(key_id: uuid.UUID = typer.Argument(..., help="The key's id.")) -> None:
    """Revoke a key at once (exit 1: no such live key)."""
    if not _run(lambda conn: service.revoke_api_key(conn, key_id)):
        console.print(f"[red]No live API key {key_id}.[/red]")
        raise typer.Exit(1)
    console.print(f"[green]API key {key_id} revoked.[/green]")
