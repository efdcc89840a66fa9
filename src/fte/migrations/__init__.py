"""Alembic migrations: run with `fte db migrate`."""
