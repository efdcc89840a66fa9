"""The one backoff every retrying loop uses: any number of failures, a wait within the cap."""

from __future__ import annotations

from fte.kit import backoff


def test_any_number_of_failures_gives_a_wait_within_the_cap() -> None:
    for failures in range(10_001):
        wait = backoff.delay(failures, 0.25, 5.0)
        assert 0.0 <= wait <= 5.0
        assert backoff.ceiling(failures, 0.25, 5.0) <= 5.0
    # 2**1024 overflows a float; the loops once died there.
    assert backoff.ceiling(1_024, 0.25, 5.0) == 5.0
    assert backoff.ceiling(10**9, 0.5, 10.0) == 10.0


def test_the_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    assert backoff.ceiling(0, 0.25, 5.0) == 0.0
    assert [backoff.ceiling(n, 0.25, 5.0) for n in range(1, 8)] == [
        0.25,
        0.5,
        1.0,
        2.0,
        4.0,
        5.0,
        5.0,
    ]


def test_waits_are_jittered() -> None:
    waits = {backoff.delay(10, 1.0, 60.0) for _ in range(50)}
    assert len(waits) > 40  # spread, so workers that failed together retry apart
