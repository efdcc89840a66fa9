"""`fte config ...`: the settings reference, written from the `Settings` class itself."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Literal

import annotated_types
import typer
from pydantic.fields import FieldInfo

from fte.cli.context import console
from fte.config import Settings

app = typer.Typer(help="The settings: their reference page.", no_args_is_help=True)

# Headings of docs/configuration.md: each starts at the named field and runs, in the class's
# order, to the next. A field added anywhere lands in the section of the field above it.
SECTIONS: dict[str, str] = {
    "data_dir": "Database",
    "host": "API server and logs",
    "bus": "Bus and workers",
    "stuck_after_minutes": "Self-healing",
    "kafka_bootstrap_servers": "Kafka",
    "metrics_port": "Metrics",
    "answer_threshold": "Agent and retrieval",
    "embedding_device": "Embedding model",
    "llm_base_url": "Language model",
    "approval_mode": "Approval mode, web form, demo data",
    "delivery_max_attempts": "Delivery",
    "twilio_account_sid": "WhatsApp through Twilio",
    "imap_url": "Email over IMAP/SMTP",
    "chatwoot_base_url": "Chatwoot",
    "gmail_credentials_file": "Gmail",
    "session_hours": "Console and rate limits",
    "redis_url": "Cache",
    "sales_database_url": "Customer data",
}

HEADER = """\
# Configuration

<!-- Generated from fte.config.Settings by `fte config docs --output docs/configuration.md`.
     Do not edit: change the Field(description=...) in src/fte/config.py and regenerate. -->

Every setting is an environment variable, or a `NAME=value` line of a `.env` file in the
working directory (the environment wins). A bad value stops the process at start with the
variable's name. *Unset* means the variable is absent; what happens then is in its meaning.
Channels are on exactly when their settings are present (`docs/channels.md`).
"""


def render() -> str:
    """docs/configuration.md: one table per section, one row per setting, in the class's order."""
    lines = [HEADER]
    for name, field in Settings.model_fields.items():
        if name in SECTIONS:
            lines += [
                f"## {SECTIONS[name]}",
                "",
                "| variable | default | accepts | meaning |",
                "|---|---|---|---|",
            ]
        lines.append(
            f"| `{field.alias}` | {_default(field)} | {_accepts(field)} | "
            f"{_cell(field.description or '')} |"
        )
        if _last_of_section(name):
            lines.append("")
    return "\n".join(lines)


def _last_of_section(name: str) -> bool:
    names = list(Settings.model_fields)
    at = names.index(name)
    return at == len(names) - 1 or names[at + 1] in SECTIONS


def _default(field: FieldInfo) -> str:
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, dict):
        return _cell(f"`{json.dumps(value)}`")
    if value == "":
        return "empty"
    return f"`{value}`"


def _accepts(field: FieldInfo) -> str:
    kind = _kind(field.annotation)
    low: object = None
    high: object = None
    low_sign = "≥"
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Gt):
            low, low_sign = item.gt, ">"
        elif isinstance(item, annotated_types.Le):
            high = item.le
    if low is not None and high is not None and low_sign == "≥":
        return f"{kind} from {low} to {high}"
    if low is not None:
        kind += f" {low_sign} {low}"
    if high is not None:
        kind += f" ≤ {high}"
    return kind


def _kind(annotation: Any) -> str:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is Literal:
        return _cell(" or ".join(f"`{choice}`" for choice in typing.get_args(annotation)))
    if typing.get_origin(annotation) is dict:
        return "JSON object"
    kinds = {bool: "`true` or `false`", int: "integer", float: "number", Path: "path", str: "text"}
    return kinds[annotation]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


@app.command("docs")
def docs(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file instead of printing."
    ),
    check: Path | None = typer.Option(
        None, "--check", help="Exit 1 when this file differs from what would be written."
    ),
) -> None:
    """Print the settings reference (docs/configuration.md) generated from the Settings class."""
    text = render()
    if check is not None:
        if not check.is_file() or check.read_text() != text:
            console.print(
                f"[red]{check} is not what `fte config docs` writes: run "
                f"`fte config docs --output {check}`.[/red]"
            )
            raise typer.Exit(1)
        console.print(f"{check} is up to date.")
    elif output is not None:
        output.write_text(text)
        console.print(f"Wrote {output} ({len(Settings.model_fields)} settings).")
    else:
        typer.echo(text, nl=False)
