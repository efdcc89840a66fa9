"""`fte user add` and `fte apikey`: exit codes a script can trust, keys shown once."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fte.cli.main import app
from fte.config import get_settings


def fte(db_url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    get_settings.cache_clear()  # each command reads its environment, as a new process would
    result = CliRunner().invoke(app, list(args), input=stdin, env={"DATABASE_URL": db_url})
    get_settings.cache_clear()
    return result.exit_code, result.output


def test_user_add_then_duplicates_and_bad_input_are_refused(db_url: str) -> None:
    secret = "a long enough secret\n"
    code, out = fte(db_url, "user", "add", "ada@example.com", "--name", "Ada", "--role",
                    "admin", "--password-stdin", "--json", stdin=secret)  # fmt: skip
    assert code == 0, out
    assert json.loads(out.splitlines()[-1])["role"] == "admin"
    code, out = fte(db_url, "user", "add", "ADA@example.com", "--name", "Ada",
                    "--password-stdin", stdin="another long secret\n")  # fmt: skip
    assert code == 1 and "exists already" in out
    code, out = fte(db_url, "user", "add", "bob@example.com", "--name", "Bob",
                    "--password-stdin", stdin="short\n")  # fmt: skip
    assert code == 2 and "at least 12 characters" in out
    code, out = fte(db_url, "user", "add", "bob@example.com", "--name", "Bob", "--role",
                    "owner", "--password-stdin", stdin="a long enough secret\n")  # fmt: skip
    assert code == 2 and "--role" in out


def test_api_keys_are_created_listed_without_the_secret_and_revoked(db_url: str) -> None:
    code, out = fte(db_url, "apikey", "create", "grafana", "--json")
    assert code == 0, out
    created = json.loads(out.splitlines()[-1])
    assert created["key"].startswith("fte_") and created["role"] == "admin"
    code, out = fte(db_url, "apikey", "list", "--json")
    (listed,) = json.loads(out.splitlines()[-1])
    assert listed["id"] == created["id"] and listed["revoked_at"] is None
    assert created["key"] not in out
    assert fte(db_url, "apikey", "revoke", created["id"])[0] == 0
    assert fte(db_url, "apikey", "revoke", created["id"])[0] == 1


def test_a_scoped_key_with_its_own_rate_limit_is_listed_with_both(db_url: str) -> None:
    code, out = fte(db_url, "apikey", "create", "crm", "--scope", "customers:read",
                    "--scope", "tickets:read", "--rate-limit", "120", "--json")  # fmt: skip
    assert code == 0, out
    created = json.loads(out.splitlines()[-1])
    assert created["scopes"] == ["customers:read", "tickets:read"]
    assert created["role"] == "agent"  # read scopes only: never an admin key
    code, out = fte(db_url, "apikey", "list", "--json")
    (listed,) = json.loads(out.splitlines()[-1])
    assert listed["scopes"] == ["customers:read", "tickets:read"]
    assert listed["rate_limit"] == 120
    code, out = fte(db_url, "apikey", "list")
    cells = "".join(line.split("│")[4] for line in out.splitlines() if line.count("│") > 4)
    assert "customers:read,tickets:read" in cells.replace(" ", "")


def test_an_unknown_scope_or_a_role_with_scopes_is_bad_usage(db_url: str) -> None:
    code, out = fte(db_url, "apikey", "create", "x", "--scope", "customers:write")
    assert code == 2 and "customers:write" in out
    code, out = fte(db_url, "apikey", "create", "x", "--scope", "admin", "--role", "agent")
    assert code == 2 and "--scope admin" in out
    code, out = fte(db_url, "apikey", "create", "x", "--rate-limit", "-1")
    assert code == 2
