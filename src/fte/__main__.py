"""`python -m fte` is the `fte` command."""

from fte.cli.main import app

app()
