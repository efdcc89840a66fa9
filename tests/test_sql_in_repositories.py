"""SQL lives in repositories (CONTRIBUTING.md): a query written anywhere else fails here, naming
the file and line, so a route, a service or a worker cannot grow its own SQL again."""

from __future__ import annotations

import ast
from pathlib import Path

import fte

SRC = Path(fte.__file__).parent
QUERY_METHODS = {"fetch", "fetchrow", "fetchval", "execute", "executemany"}

# Repositories by another name: the bus modules are the queue's, console/queries.py is the
# console's, ops/heartbeats.py the workers' heartbeats; db.py rolls back a connection it hands
# out, migrations are schema.
REPOSITORIES = ("bus/", "console/queries.py", "ops/heartbeats.py", "db.py", "migrations/")
# Not moved; this list only shrinks. The database check's SQL is the check itself (server
# version, migration head).
NOT_YET = ("ops/checks/database.py",)


def _queries(path: Path) -> list[int]:
    """Lines of calls like `conn.fetch("SELECT ...")`: a query method given SQL text."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
            and node.args
            and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
        ):
            lines.append(node.lineno)
    return lines


def test_queries_are_written_only_in_repositories() -> None:
    misplaced = []
    for path in sorted(SRC.rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        if name.endswith("repository.py") or name.startswith(REPOSITORIES + NOT_YET):
            continue
        misplaced += [f"{name}:{line}" for line in _queries(path)]
    assert misplaced == [], f"SQL outside a repository module: {misplaced}"


def test_the_check_sees_a_query() -> None:
    """The rule would pass vacuously if it could not recognise a query: it must."""
    assert _queries(SRC / "console" / "queries.py")
    assert _queries(SRC / "ops" / "heartbeats.py")
