"""One rule for judging an estimate with its confidence interval against a line (pure).

Used by policy rules, segment drops and any other check whose value is a rate or a metric
estimated from a sample:

- the point estimate is on the allowed side of the line: ``pass``;
- the whole interval lies beyond the line: a violation at the check's severity (``fail`` for
  critical, ``warn`` otherwise);
- the point estimate is beyond the line but the interval straddles it: ``warn`` (never
  ``fail``), provided the gap itself is real, i.e. the interval excludes ``parity`` (no gap at
  all: ratio 1, difference 0, no drop); when the interval includes parity too the data cannot
  tell a breach from chance and the verdict is ``insufficient_data``, saying so.

Too-small denominators are ``insufficient_data`` before this rule is reached (the callers check
their minimum sizes on the rate's own denominator).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from mlflow_monitor.contract import Status
from mlflow_monitor.spec import Severity
from mlflow_monitor.verdicts.thresholds import status_for

__all__ = ["IntervalVerdict", "judge_interval", "routed_severity"]


@dataclass(frozen=True)
class IntervalVerdict:
    """The status and, for people, why: which part of the interval lies where."""

    status: Status
    reason: str


def judge_interval(
    *,
    point: float,
    low: float | None,
    high: float | None,
    violated: Callable[[float], bool],
    severity: Severity,
    parity: float | None = None,
) -> IntervalVerdict:
    """Judge ``point`` and its interval ``[low, high]`` (``None``: unbounded) against a line.

    ``violated(value)`` is true when ``value`` breaks the line; ``parity`` is the value that
    means "no gap" (checked only for a straddling interval).
    """
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    if not violated(point):
        return IntervalVerdict("pass", "the estimate is within the line")
    if violated(lo) and violated(hi):
        return IntervalVerdict(
            status_for(True, severity), "the whole confidence interval lies beyond the line"
        )
    if parity is not None and lo <= parity <= hi:
        return IntervalVerdict(
            "insufficient_data",
            "the estimate is beyond the line but its interval also includes no gap at all:"
            " too few cases to tell a breach from chance",
        )
    return IntervalVerdict(
        "warn", "the estimate is beyond the line but its confidence interval straddles it"
    )


def routed_severity(status: Status, severity: Severity) -> Severity:
    """The severity an outcome is routed with: a straddling ``warn`` of a critical check is a
    warning (it reaches warning channels, never the critical pager)."""
    return "warning" if status == "warn" and severity == "critical" else severity
