"""History-based thresholds: median +/- k * scaled MAD, seasonal variants, static fallback."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from mlflow_monitor.spec import HistorySpec, MetricCheck
from mlflow_monitor.verdicts.thresholds import (
    MAD_SCALE,
    evaluate_metric_check,
    evaluate_with_history,
    history_bound,
    is_fallback,
)

START = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a Monday


def _weekly(days: int, seed: int = 0) -> list[tuple[datetime, float]]:
    """Daily accuracy: ~0.90 on weekdays, a normal dip to ~0.78 on weekends, small noise."""
    rng = np.random.default_rng(seed)
    points = []
    for day in range(days):
        at = START + timedelta(days=day)
        level = 0.78 if at.weekday() >= 5 else 0.90
        points.append((at, float(level + rng.normal(0, 0.005))))
    return points


def test_band_is_median_plus_minus_k_scaled_mad_of_the_last_n() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(10, 2, 30)
    history = [(START + timedelta(hours=i), float(v)) for i, v in enumerate(values)]
    spec = HistorySpec(k=2.5, window=12, min_history=4)
    bound = history_bound(spec, history, START + timedelta(hours=30))
    recent = values[-12:]
    median = float(np.median(recent))
    mad = MAD_SCALE * float(np.median(np.abs(recent - median)))
    assert bound.source == "history"
    assert bound.lower == pytest.approx(median - 2.5 * mad)
    assert bound.upper == pytest.approx(median + 2.5 * mad)
    assert "n=12" in bound.note and "k=2.5" in bound.note


def test_values_at_or_after_the_window_and_nan_are_ignored() -> None:
    at = START + timedelta(days=10)
    history = [(START + timedelta(days=d), 1.0 + 0.01 * d) for d in range(10)]
    spiked = [*history, (at, 100.0), (at + timedelta(days=1), -100.0), (START, math.nan)]
    spec = HistorySpec(window=20, min_history=4)
    assert history_bound(spec, spiked, at) == history_bound(spec, history, at)


def test_weekend_dip_is_normal_with_seasonal_history_but_a_break_is_not() -> None:
    history = _weekly(56)  # 8 weeks
    saturday = START + timedelta(days=61)  # 2024-03-02 is a Saturday
    assert saturday.weekday() == 5
    seasonal = MetricCheck(metric="accuracy", history=HistorySpec(seasonal="weekday", window=6))
    plain = MetricCheck(metric="accuracy", history=HistorySpec(window=6))

    normal_dip = evaluate_with_history(seasonal, 0.775, history, saturday)
    assert normal_dip.status == "pass"
    assert normal_dip.threshold is not None
    assert normal_dip.threshold.source == "history_seasonal"
    assert "same weekday: Sat" in normal_dip.threshold.note

    real_break = evaluate_with_history(seasonal, 0.70, history, saturday)
    assert real_break.status == "fail"
    assert real_break.threshold is not None and real_break.threshold.lower is not None
    assert 0.70 < real_break.threshold.lower < 0.775

    # without seasonality the same normal weekend dip is (wrongly) a finding: why seasons matter
    assert evaluate_with_history(plain, 0.775, history, saturday).status == "fail"


def test_hour_of_week_compares_only_the_same_hour_of_the_week() -> None:
    history = []
    for hour in range(24 * 7 * 5):
        at = START + timedelta(hours=hour)
        history.append((at, 100.0 if at.hour == 3 else 10.0))
    at = START + timedelta(weeks=5, hours=3)
    bound = history_bound(HistorySpec(seasonal="hour_of_week", window=4), history, at)
    assert bound.source == "history_seasonal" and bound.lower is not None
    assert bound.lower < 100.0 < (bound.upper or 0.0)
    assert bound.lower > 10.0  # the ordinary hours were not compared
    assert "Mon 03h" in bound.note


def test_too_short_history_falls_back_to_the_static_bound_and_says_so() -> None:
    history = _weekly(14)  # two Saturdays only
    saturday = START + timedelta(days=19)
    spec = HistorySpec(seasonal="weekday", min_history=4)
    marker = history_bound(spec, history, saturday)
    assert is_fallback(marker) and marker.lower is None and marker.upper is None
    assert "2 of 4" in marker.note

    with_static = MetricCheck(metric="accuracy", min=0.8, history=spec)
    outcome = evaluate_with_history(with_static, 0.775, history, saturday)
    assert outcome.status == "fail"
    assert outcome.threshold is not None
    assert outcome.threshold.source == "static_fallback" and outcome.threshold.lower == 0.8
    assert "2 of 4" in outcome.threshold.note and "static" in outcome.threshold.note

    history_only = MetricCheck(metric="accuracy", history=spec)
    unknown = evaluate_with_history(history_only, 0.775, history, saturday)
    assert unknown.status == "insufficient_data"  # too little history: never blocks a gate
    assert unknown.threshold is not None and unknown.threshold.source == "static_fallback"
    assert "no static bound" in unknown.message
    assert (unknown.evidence["history_values"], unknown.evidence["min_history"]) == (2, 4)


def test_constant_history_still_gives_a_band_around_the_value() -> None:
    history = [(START + timedelta(days=d), 0.5) for d in range(8)]
    bound = history_bound(HistorySpec(), history, START + timedelta(days=8))
    assert bound.lower is not None and bound.upper is not None
    assert bound.lower < 0.5 < bound.upper
    assert "floor" in bound.note


def test_naive_timestamps_are_utc() -> None:
    aware = [(START + timedelta(days=d), float(d % 3)) for d in range(9)]
    naive = [(t.replace(tzinfo=None), v) for t, v in aware]
    at = START + timedelta(days=9)
    assert history_bound(HistorySpec(), naive, at.replace(tzinfo=None)) == history_bound(
        HistorySpec(), aware, at
    )


# -- messages: value, baseline and the allowed bound, each stated on its own ---------------------


def test_message_states_value_baseline_and_allowed_bound_separately() -> None:
    check = MetricCheck(metric="roc_auc", max_drop=0.05)
    below = evaluate_metric_check(check, 0.5387, baseline=0.7704)
    assert (
        below.message == "roc_auc 0.5387, baseline 0.7704, allowed >= 0.7204 (max_drop 0.05): below"
    )
    assert below.baseline == 0.7704 and below.status == "fail"
    within = evaluate_metric_check(check, 0.76, baseline=0.7704)
    assert (
        within.message == "roc_auc 0.76, baseline 0.7704, allowed >= 0.7204 (max_drop 0.05): within"
    )
    assert within.baseline == 0.7704


def test_message_of_relative_static_and_history_bounds() -> None:
    relative = MetricCheck(metric="mae", max_rise=0.1, relative=True, severity="warning")
    assert evaluate_metric_check(relative, 2.3, baseline=2.0).message == (
        "mae 2.3, baseline 2, allowed <= 2.2 (max_rise 10% of the baseline): above"
    )
    both = MetricCheck(metric="f1", min=0.6, max_drop=0.05)
    assert evaluate_metric_check(both, 0.7, baseline=0.8).message == (
        "f1 0.7, baseline 0.8, allowed >= 0.75 (max_drop 0.05): below"
    )
    assert evaluate_metric_check(both, 0.79, baseline=0.8).message == (
        "f1 0.79, baseline 0.8, allowed >= 0.6 (static) and >= 0.75 (max_drop 0.05): within"
    )
    band = history_bound(HistorySpec(window=6), _weekly(10), START + timedelta(days=10))
    check = MetricCheck(metric="accuracy", history=HistorySpec(window=6))
    outcome = evaluate_metric_check(check, 0.5, history_bound=band)
    assert outcome.message.startswith(f"accuracy 0.5, allowed {band.lower:.4g} to {band.upper:.4g}")
    assert f"(history: {band.note}): below" in outcome.message
    assert outcome.baseline is None
