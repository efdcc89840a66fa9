"""`python -m fte` is the `fte` command."""

from fte.cli.main import app

if __name__ == "__main__":
    app()
