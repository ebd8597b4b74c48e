"""``run --latest``: the last complete window in UTC, with a grace period for late predictions."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mlflow_monitor.errors import DataError
from mlflow_monitor.workflows.log_windows import latest_window

DAY, HOUR = 86400.0, 3600.0


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("now", "period", "window"),
    [
        ("2026-11-28 08:30", DAY, ("2026-11-27 00:00", "2026-11-28 00:00")),
        ("2026-11-28 00:59", DAY, ("2026-11-26 00:00", "2026-11-27 00:00")),  # within the grace
        ("2026-11-28 01:00", DAY, ("2026-11-27 00:00", "2026-11-28 00:00")),  # grace just over
        ("2026-11-28 08:30", 6 * HOUR, ("2026-11-28 00:00", "2026-11-28 06:00")),
    ],
)
def test_the_last_complete_window(now: str, period: float, window: tuple[str, str]) -> None:
    assert latest_window(period, now=_at(now)) == (_at(window[0]), _at(window[1]))


def test_a_time_in_another_zone_is_the_same_instant() -> None:
    from datetime import timedelta

    paris = timezone(timedelta(hours=1))
    now = datetime(2026, 11, 28, 9, 30, tzinfo=paris)  # 08:30Z
    assert latest_window(DAY, now=now) == (_at("2026-11-27 00:00"), _at("2026-11-28 00:00"))


def test_a_period_must_be_positive() -> None:
    with pytest.raises(DataError, match="--latest: the period must be positive"):
        latest_window(0, now=_at("2026-11-28 08:30"))
