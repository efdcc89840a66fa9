"""Every `fte` command the runbook tells the on-call engineer to run exists, with its options."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
import typer.main

from fte.cli.main import app

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"


def commands_in_runbook() -> list[str]:
    text = RUNBOOK.read_text()
    inline = re.findall(r"`(fte [^`]+)`", text)
    blocks = [
        line.strip()
        for block in re.findall(r"```\n(.*?)```", text, flags=re.S)
        for line in block.splitlines()
        if line.strip().startswith("fte ")
    ]
    return [c.split("#")[0].strip() for c in inline + blocks]


def is_group(cmd: Any) -> bool:
    return hasattr(cmd, "list_commands")


def resolve(command: str) -> tuple[Any, list[str]]:
    """The (typer-built click) command a command line names, and the options it passes."""
    cmd: Any = typer.main.get_command(app)
    tokens = command.split()[1:]
    while is_group(cmd) and tokens and not tokens[0].startswith("-"):
        sub = cmd.get_command(None, tokens[0])
        assert sub is not None, f"{command!r}: no command {tokens[0]!r}"
        cmd, tokens = sub, tokens[1:]
    options = [t.strip("[]").split("|")[0] for t in tokens if t.strip("[]").startswith("--")]
    return cmd, options


def test_every_fte_command_in_the_runbook_exists() -> None:
    commands = commands_in_runbook()
    assert len(commands) >= 15
    assert any(c.startswith("fte doctor") for c in commands)
    for command in commands:
        cmd, options = resolve(command)
        assert not is_group(cmd), f"{command!r} names a group, not a command"
        known = {opt for param in cmd.params for opt in param.opts}
        for option in options:
            assert option in known, f"{command!r}: {cmd.name} has no option {option}"
