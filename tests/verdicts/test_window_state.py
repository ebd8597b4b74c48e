"""A version's verdict from its window attempts: window order, never completion order."""

from __future__ import annotations

import itertools

import pytest

from mlflow_monitor.verdicts.window_state import Attempt, settle

C = ("2025-01-27T00:00:00Z", "2025-02-03T00:00:00Z")
D = ("2025-02-03T00:00:00Z", "2025-02-10T00:00:00Z")
OLD = ("2025-01-13T00:00:00Z", "2025-01-20T00:00:00Z")


def attempt(
    run_id: str, window: tuple[str, str], started: int, health: str, status: str = "FINISHED"
) -> Attempt:
    return Attempt(run_id, status, started, window[0], window[1], health)


def test_the_latest_window_is_the_verdict_and_reruns_supersede() -> None:
    attempts = [
        attempt("c1", C, 1, "critical"),
        attempt("d1", D, 2, "healthy"),
        attempt("c2", C, 3, "critical"),  # rerun of the older window
        attempt("old", OLD, 4, "healthy"),  # backfill
    ]
    settled = settle(attempts)
    assert settled.verdict is not None and settled.verdict.run_id == "d1"
    assert settled.superseded == {"c1": "c2"}
    assert settled.counts("c2") and not settled.counts("c1")


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_any_completion_order_gives_the_same_state(order: tuple[int, ...]) -> None:
    """Attempts listed (= finished) in any order: the newest attempt of each window counts."""
    attempts = [
        attempt("d-slow", D, 1, "critical"),  # started first, may finish last
        attempt("d-fast", D, 2, "healthy"),
        attempt("c", C, 3, "warning"),
        attempt("failed", D, 4, "", status="FAILED"),
    ]
    settled = settle([attempts[i] for i in order])
    assert settled.verdict is not None and settled.verdict.run_id == "d-fast"
    assert settled.superseded == {"d-slow": "d-fast"}


def test_failed_and_running_attempts_never_count() -> None:
    attempts = [
        attempt("c1", C, 1, "critical"),
        attempt("d-failed", D, 2, "", status="FAILED"),
        attempt("d-running", D, 3, "", status="RUNNING"),
    ]
    settled = settle(attempts)
    assert settled.verdict is not None and settled.verdict.run_id == "c1"
    assert settled.superseded == {}


def test_no_finished_attempt_is_no_verdict() -> None:
    settled = settle([attempt("first", C, 1, "", status="FAILED")])
    assert settled.verdict is None


def test_overlapping_windows_ending_together_prefer_the_later_start() -> None:
    week = ("2025-02-03T00:00:00Z", "2025-02-10T00:00:00Z")
    day = ("2025-02-09T00:00:00Z", "2025-02-10T00:00:00Z")
    month = ("2025-01-10T00:00:00Z", "2025-02-10T00:00:00Z")
    attempts = [
        attempt("day", day, 1, "warning"),
        attempt("week", week, 2, "healthy"),
        attempt("month", month, 3, "healthy"),
    ]
    settled = settle(attempts)
    assert settled.verdict is not None and settled.verdict.run_id == "day"
    assert settled.superseded == {}  # different windows: each keeps its own result


def test_ties_within_one_millisecond_are_broken_by_run_id() -> None:
    attempts = [attempt("b", C, 5, "healthy"), attempt("a", C, 5, "critical")]
    settled = settle(attempts)
    assert settled.verdict is not None and settled.verdict.run_id == "b"
    assert settled.superseded == {"a": "b"}
