"""docs/configuration.md is generated from the Settings class, so the reference cannot drift."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from fte.cli.config import SECTIONS, render
from fte.cli.main import app
from fte.config import Settings

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_committed_reference_is_what_the_settings_class_generates() -> None:
    # On failure: `fte config docs --output docs/configuration.md`, then commit the file.
    assert REFERENCE.read_text() == render()


def test_every_setting_has_a_description_and_a_row() -> None:
    text = REFERENCE.read_text()
    missing = [name for name, f in Settings.model_fields.items() if not f.description]
    assert missing == [], f"give these a Field(description=...): {missing}"
    for field in Settings.model_fields.values():
        assert f"| `{field.alias}` |" in text
    assert set(SECTIONS) <= set(Settings.model_fields)


def test_the_reference_shows_defaults_and_accepted_values() -> None:
    text = render()
    assert "| `FTE_BUS` | `postgres` | `postgres` or `kafka` |" in text
    assert "| `FTE_WORKER_BATCH_SIZE` | `16` | integer from 1 to 256 |" in text
    assert "| `FTE_APPROVAL_MODE` | `false` | `true` or `false` |" in text
    assert "| `DATABASE_URL` | unset | text |" in text


def test_the_command_prints_writes_and_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["config", "docs"])
    assert printed.exit_code == 0 and printed.output == render()

    out = tmp_path / "configuration.md"
    assert runner.invoke(app, ["config", "docs", "--output", str(out)]).exit_code == 0
    assert runner.invoke(app, ["config", "docs", "--check", str(out)]).exit_code == 0

    out.write_text(render().replace("Where the API listens.", "Where it listens."))
    stale = runner.invoke(app, ["config", "docs", "--check", str(out)])
    assert stale.exit_code == 1 and "fte config docs --output" in stale.output
