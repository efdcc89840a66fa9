"""Run a multi-statement SQL script from a migration (kept tiny: migrations depend on it)."""

from alembic import op


def execute_script(sql: str) -> None:
    """Run each statement separately: asyncpg prepares statements, one command each."""
    for statement in (s.strip() for s in sql.split(";\n")):
        if statement:
            op.execute(statement)
