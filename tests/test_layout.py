"""`tests/` mirrors `src/fte/`: a test of `fte/<package>/...` lives in `tests/<package>/`, so a
newcomer finds a module's tests from its name alone (CONTRIBUTING.md, *Tests*)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
SOURCE = TESTS.parent / "src" / "fte"
# Not a package's tests: shared helpers, and tests that cross every layer (whole stack,
# deployment manifests).
CROSS_CUTTING = {"fixtures", "e2e", "deploy"}


def test_every_test_folder_is_named_after_a_package() -> None:
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    packages = {p.name for p in SOURCE.iterdir() if (p / "__init__.py").exists()}
    assert folders - CROSS_CUTTING <= packages, sorted(folders - CROSS_CUTTING - packages)


def test_every_test_folder_is_a_package() -> None:
    # Without __init__.py two test files of the same name (e.g. ops/test_doctor.py and
    # a cli/test_doctor.py) would clash on import.
    folders = [p for p in TESTS.iterdir() if p.is_dir() and any(p.glob("test_*.py"))]
    assert [p.name for p in folders if not (p / "__init__.py").exists()] == []
