"""The layers point one way: the import-linter contracts in pyproject.toml hold, and a package
that imports one from a higher layer breaks them, named in the failure."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import fte

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
SOURCES = Path(fte.__file__).resolve().parents[1]  # the checkout these tests import

# The linter runs in a child process: grimp imports nothing, but it finds `fte` on sys.path,
# and the child's path must point at the sources to check, not at this process's `fte`.
_LINT = (
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from importlinter.cli import lint_imports\n"
    "sys.exit(lint_imports(config_filename=sys.argv[2], no_cache=True, no_logo=True))\n"
)


def lint(sources: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the `fte` package found in `sources`."""
    return subprocess.run(
        [sys.executable, "-c", _LINT, str(sources), str(PYPROJECT)],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_package_imports_only_from_the_layers_below_it(tmp_path: Path) -> None:
    result = lint(SOURCES, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def copy_of_sources(tmp_path: Path) -> Path:
    copy = tmp_path / "src"
    shutil.copytree(
        SOURCES / "fte",
        copy / "fte",
        ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "demo_kb"),
    )
    return copy


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path: Path) -> None:
    copy = copy_of_sources(tmp_path)
    metrics = copy / "fte" / "kit" / "metrics.py"
    # The edge this issue removed: counting an event imported the operations package.
    metrics.write_text(metrics.read_text() + "\nfrom fte.ops import doctor\n")

    result = lint(copy, tmp_path)

    assert result.returncode != 0
    assert "fte.kit is not allowed to import fte.ops" in result.stdout
    assert "fte.kit.metrics -> fte.ops.doctor" in result.stdout


def test_the_channel_contract_stays_a_leaf(tmp_path: Path) -> None:
    copy = copy_of_sources(tmp_path)
    base = copy / "fte" / "messaging.py"
    base.write_text(base.read_text() + "\nfrom fte.tickets import repository\n")

    result = lint(copy, tmp_path)

    assert result.returncode != 0
    assert "fte.messaging -> fte.tickets.repository" in result.stdout
