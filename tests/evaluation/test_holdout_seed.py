"""`fte eval --holdout F --seed N`: a second held-out part, so a gain is seen on other rows."""

from __future__ import annotations

import hashlib

from typer.testing import CliRunner

from fte.cli.main import app
from fte.evaluation.review import in_holdout

IDS = [f"row-{i}" for i in range(2000)]


def test_seed_0_is_the_part_every_published_figure_was_measured_on() -> None:
    def historic(row_id: str) -> bool:
        digest = hashlib.sha256(f"holdout:{row_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < 0.3

    assert [in_holdout(i, 0.3) for i in IDS] == [historic(i) for i in IDS]
    assert [in_holdout(i, 0.3, seed=0) for i in IDS] == [historic(i) for i in IDS]


def test_another_seed_holds_out_other_rows_of_the_same_size() -> None:
    first = {i for i in IDS if in_holdout(i, 0.3)}
    second = {i for i in IDS if in_holdout(i, 0.3, seed=1)}
    assert abs(len(second) - 600) < 60 and second != first
    # About as much overlap as two independent draws of 30% (9%), not the same rows.
    assert len(first & second) < 0.15 * len(IDS)
    assert second == {i for i in IDS if in_holdout(i, 0.3, seed=1)}  # stable


def test_a_negative_seed_is_refused_naming_the_option() -> None:
    result = CliRunner().invoke(app, ["eval", ".", "--holdout", "0.3", "--seed", "-1"])
    assert result.exit_code == 2
    assert "--seed" in result.output
