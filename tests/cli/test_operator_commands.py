"""Operator commands: help everywhere, tables for people, --json for scripts, exit codes a
script can trust (0 done, 1 refused or not found, 2 bad input), against the real database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from fte.cli.main import app
from fte.config import get_settings
from fte.embeddings import Embedder


def fte(db_url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    get_settings.cache_clear()  # each command reads its environment, as a new process would
    result = CliRunner().invoke(app, list(args), input=stdin, env={"DATABASE_URL": db_url})
    get_settings.cache_clear()
    return result.exit_code, result.output


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path: typer's groups carry their subcommands in `commands`."""
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def test_every_command_and_group_has_help() -> None:
    paths = _commands(typer.main.get_command(app))
    assert ("kb", "list") in paths and ("user", "list") in paths and ("dlq", "replay") in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output, path
        command = typer.main.get_command(app)
        for name in path:
            command = command.commands[name]
        assert command.help or command.short_help, f"{' '.join(path)} has no description"


def test_kb_import_and_list_with_json_and_exit_codes(
    db_url: str, tmp_path: Path, embedder: Embedder
) -> None:
    (tmp_path / "printer.md").write_text("# Zebra printers\n\nPick the printer in Settings.\n")
    (tmp_path / "refund.md").write_text("---\nescalate: refund\n---\n# Refunds\n\nWe refund.\n")
    code, out = fte(db_url, "kb", "import", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["added"] == 2
    code, out = fte(db_url, "kb", "import", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["unchanged"] == 2
    code, out = fte(db_url, "kb", "import", str(tmp_path), "--if-empty", "--json")
    assert code == 0 and "skipped" in json.loads(out)
    code, out = fte(db_url, "kb", "import", str(tmp_path / "missing"))
    assert code == 2 and "no such file or folder" in " ".join(out.split())

    code, out = fte(db_url, "kb", "list", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["title"] for r in rows] == ["Refunds", "Zebra printers"]
    assert {r["embedding_status"] for r in rows} == {"done"}
    assert rows[0]["escalation_reason"] == "refund"
    code, out = fte(db_url, "kb", "list", "--search", "printer", "--json")
    assert code == 0 and [json.loads(line)["title"] for line in out.splitlines()] == [
        "Zebra printers"
    ]
    code, out = fte(db_url, "kb", "list")
    assert code == 0 and "Zebra" in out and "escalates" in out  # a table (wrapped at 80 columns)
    code, out = fte(db_url, "kb", "list", "--limit", "0")
    assert code == 2


def test_users_are_listed_as_a_table_or_json(db_url: str) -> None:
    code, out = fte(db_url, "user", "list")
    assert code == 0 and "No users yet" in out
    code, _ = fte(
        db_url, "user", "add", "grace@example.com", "--name", "Grace", "--role", "admin",
        "--password-stdin", stdin="a long enough password\n",
    )  # fmt: skip
    assert code == 0
    code, out = fte(db_url, "user", "list", "--json")
    users = json.loads(out)
    assert code == 0 and [(u["email"], u["role"]) for u in users] == [
        ("grace@example.com", "admin")
    ]
    assert "password" not in out
    code, out = fte(db_url, "user", "list")
    assert code == 0 and "grace@example.com" in out
