"""A model's checks over windows: every metric with the band it was judged against, health, events.

``build_trends`` turns the counting ``results.json`` of each window (one per window, the newest
attempt, in window order: what ``workflows.window_history`` settles) into series a chart draws
directly. The band of a point is the bound applied *in that window* (``AppliedThreshold``:
static, relative to the baseline, history or seasonal), so a history band moves with the windows
and a crossing is exactly where the check fired. Events (alerts sent, alias moves) are marks on
the same time axis. Pure: the readers live in ``workflows.version_trends``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mlflow_monitor.contract import CheckOutcome, WindowResults

__all__ = [
    "EventMark",
    "TrendPoint",
    "TrendSeries",
    "VersionTrends",
    "WindowMark",
    "WindowRecord",
    "build_trends",
    "health_counts",
    "logged_name",
    "worst_health",
]

_FIRING = ("warn", "fail", "error")
_STATUS_RANK = {"error": 0, "fail": 1, "warn": 2}
_HEALTH_RANK = {"healthy": 0, "warning": 1, "critical": 2, "error": 3}
# metric families in the order a person reads them
_FAMILIES = ("perf", "perf_est", "drift", "quality", "segment", "fairness", "fairness_est")
TOP_FINDINGS = 3


@dataclass(frozen=True)
class WindowRecord:
    """One window's counting result as read from MLflow: the run and its ``results.json``."""

    run_id: str
    results: WindowResults


@dataclass(frozen=True)
class TrendPoint:
    """One window's value of a metric, the band allowed that window and the check's status."""

    window_start: str | None
    window_end: str
    version: str
    run_id: str
    value: float | None
    lower: float | None = None  # allowed band applied in this window (None: unbounded side)
    upper: float | None = None
    source: str = ""  # threshold source: static, baseline, history, history_seasonal, policy:...
    status: str | None = None  # the check's status that window (None: logged, not judged)
    basis: str = "measured"

    @property
    def crossed(self) -> bool:
        """True when the check fired on this window (the value left its band)."""
        return self.status in _FIRING

    def to_dict(self) -> dict[str, object]:
        return {
            "window_start": self.window_start,
            "window_end": self.window_end,
            "version": self.version,
            "run_id": self.run_id,
            "value": self.value,
            "lower": self.lower,
            "upper": self.upper,
            "source": self.source,
            "status": self.status,
            "basis": self.basis,
            "crossed": self.crossed,
        }


@dataclass(frozen=True)
class TrendSeries:
    """One metric (contract name, e.g. ``perf/roc_auc``) over the windows, oldest first."""

    metric: str
    check_id: str | None
    points: tuple[TrendPoint, ...]

    @property
    def crossings(self) -> tuple[TrendPoint, ...]:
        """The windows where the check fired."""
        return tuple(p for p in self.points if p.crossed)

    @property
    def banded(self) -> bool:
        """True when some window had a bound to draw."""
        return any(p.lower is not None or p.upper is not None for p in self.points)

    @property
    def family(self) -> str:
        return self.metric.split("/", 1)[0]

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "check_id": self.check_id,
            "crossings": len(self.crossings),
            "points": [p.to_dict() for p in self.points],
        }


@dataclass(frozen=True)
class WindowMark:
    """One window on the health strip: its bounds, health and top findings."""

    window_start: str | None
    window_end: str
    version: str
    run_id: str
    health: str
    findings: tuple[str, ...] = ()  # "check_id: message", worst first, at most TOP_FINDINGS
    partial: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "window_start": self.window_start,
            "window_end": self.window_end,
            "version": self.version,
            "run_id": self.run_id,
            "health": self.health,
            "findings": list(self.findings),
            "partial": self.partial,
        }


@dataclass(frozen=True)
class EventMark:
    """Something that happened at a time: an alert sent, an alias moved (or refused)."""

    at: str  # UTC text
    kind: str  # "alert" | "alias"
    version: str
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"at": self.at, "kind": self.kind, "version": self.version, "text": self.text}


@dataclass(frozen=True)
class VersionTrends:
    """What a trend chart draws for one model (one version or several): oldest first."""

    model: str
    versions: tuple[str, ...]
    windows: tuple[WindowMark, ...]
    series: tuple[TrendSeries, ...]
    events: tuple[EventMark, ...] = field(default_factory=tuple)

    def series_for(self, metric: str) -> TrendSeries | None:
        """The series of one metric (contract name), or None when no window logged it."""
        return next((s for s in self.series if s.metric == metric), None)

    @property
    def firing_now(self) -> tuple[TrendSeries, ...]:
        """The series whose check fired in the latest window, worst status first."""
        latest = self.windows[-1].run_id if self.windows else None
        now = [s for s in self.series if s.points and s.points[-1].crossed]
        now = [s for s in now if s.points[-1].run_id == latest]
        return tuple(sorted(now, key=lambda s: _STATUS_RANK.get(s.points[-1].status or "", 9)))

    @property
    def fired_before(self) -> tuple[TrendSeries, ...]:
        """The series whose check fired in an earlier window but not in the latest one."""
        now = set(self.firing_now)
        return tuple(s for s in self.series if s.crossings and s not in now)

    @property
    def failing(self) -> tuple[TrendSeries, ...]:
        """``firing_now`` then ``fired_before``."""
        return (*self.firing_now, *self.fired_before)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "versions": list(self.versions),
            "windows": [w.to_dict() for w in self.windows],
            "series": [s.to_dict() for s in self.series],
            "events": [e.to_dict() for e in self.events],
        }


def build_trends(
    *, model: str, windows: Sequence[WindowRecord], events: Iterable[EventMark] = ()
) -> VersionTrends:
    """Series for every metric the windows logged, with each window's band and status.

    ``windows`` are the counting results, in any order; they are put in window order (end, then
    start, then version). A metric judged by a check takes that check's threshold and status;
    a metric no check judged is drawn without a band.
    """
    ordered = sorted(windows, key=_window_key)
    series: dict[str, list[TrendPoint]] = {}
    checks: dict[str, str] = {}
    for record in ordered:
        values = _values(record.results)
        judged = _judged_by_metric(record.results.outcomes, values)
        for name, value in values.items():
            outcome = judged.get(name)
            if outcome is not None:
                checks.setdefault(name, outcome.check_id)
            series.setdefault(name, []).append(_point(record, name, value, outcome))
    marks = tuple(_mark(r) for r in ordered)
    versions = tuple(dict.fromkeys(r.results.model_version for r in ordered))
    built = tuple(
        TrendSeries(name, checks.get(name), tuple(points))
        for name, points in sorted(series.items(), key=lambda item: _metric_key(item[0]))
    )
    return VersionTrends(
        model=model,
        versions=versions,
        windows=marks,
        series=built,
        events=tuple(sorted(events, key=lambda e: e.at)),
    )


def _window_key(record: WindowRecord) -> tuple[str, str, int, str]:
    r = record.results
    return (r.window_end, r.window_start or "", _as_int(r.model_version), record.run_id)


def _as_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _metric_key(name: str) -> tuple[int, str]:
    family = name.split("/", 1)[0]
    rank = _FAMILIES.index(family) if family in _FAMILIES else len(_FAMILIES)
    return (rank, name)


def _values(results: WindowResults) -> dict[str, float | None]:
    """The window's logged metrics (contract names) and their values."""
    return {m.name: m.value for m in results.metrics}


def _judged_by_metric(
    outcomes: Sequence[CheckOutcome], logged: Iterable[str]
) -> dict[str, CheckOutcome]:
    """Logged metric name -> the outcome that judged it (a measured one beats an estimate)."""
    names = set(logged)
    judged: dict[str, CheckOutcome] = {}
    for outcome in outcomes:
        name = logged_name(outcome, names)
        if name is None:
            continue
        held = judged.get(name)
        if held is None or _judged_rank(outcome) > _judged_rank(held):
            judged[name] = outcome
    return judged


# check family -> metric family (measured, estimated)
_FAMILY_OF_CHECK = {
    "performance": ("perf", "perf_est"),
    "drift": ("drift", "drift"),
    "quality": ("quality", "quality"),
    "segment": ("segment", "segment_est"),
    "bias_drift": ("fairness", "fairness_est"),
    "fairness": ("fairness", "fairness_est"),
}


def logged_name(outcome: CheckOutcome, logged: set[str]) -> str | None:
    """The MLflow metric (contract name) an outcome judged, among the ``logged`` ones.

    ``performance/roc_auc`` judged ``perf/roc_auc``; ``drift/age`` with method ``psi`` judged
    ``drift/age/psi``; ``segment/region=east`` judged ``segment/region=east/<metric>``;
    ``bias_drift/<group>/<m>`` and ``policy/<pack>/<rule>/<group>`` judged
    ``fairness/<group>/<metric>``; an estimated outcome judged the ``*_est`` twin.
    """
    for name in _candidates(outcome):
        if name in logged:
            return name
    return None


def _candidates(outcome: CheckOutcome) -> list[str]:
    parts = outcome.check_id.split("/")
    metric = outcome.metric or ""
    found = [outcome.check_id]
    families = _FAMILY_OF_CHECK.get(parts[0])
    if families is not None and len(parts) > 1:
        family = families[1] if outcome.basis == "estimated" else families[0]
        rest = "/".join(parts[1:])
        found.append(f"{family}/{rest}")
        if metric and not rest.endswith(f"/{metric}") and rest != metric:
            found.append(f"{family}/{rest}/{metric}")
    if parts[0] == "policy" and metric:
        family = "fairness_est" if outcome.basis == "estimated" else "fairness"
        found.append(f"{family}/{parts[-1]}/{metric}")
    if metric:
        found.append(metric)
    return found


def _judged_rank(outcome: CheckOutcome) -> tuple[int, int]:
    """Prefer a judged outcome over a not-judged one, a measured one over an estimate."""
    judged = outcome.status in ("pass", "warn", "fail", "error")
    return (int(judged), int(outcome.basis == "measured"))


def _point(
    record: WindowRecord, name: str, value: float | None, outcome: CheckOutcome | None
) -> TrendPoint:
    r = record.results
    threshold = outcome.threshold if outcome is not None else None
    return TrendPoint(
        window_start=r.window_start,
        window_end=r.window_end,
        version=r.model_version,
        run_id=record.run_id,
        value=value,
        lower=threshold.lower if threshold else None,
        upper=threshold.upper if threshold else None,
        source=threshold.source if threshold else "",
        status=outcome.status if outcome is not None else None,
        basis=outcome.basis if outcome is not None else _basis_of(name),
    )


def _basis_of(metric: str) -> str:
    """``perf_est/``, ``fairness_est/``, ``segment_est/``: estimates, whatever judged them."""
    return "estimated" if metric.split("/", 1)[0].endswith("_est") else "measured"


def _mark(record: WindowRecord) -> WindowMark:
    r = record.results
    return WindowMark(
        window_start=r.window_start,
        window_end=r.window_end,
        version=r.model_version,
        run_id=record.run_id,
        health=str(r.health),
        findings=tuple(f"{o.check_id}: {o.message}" for o in r.findings[:TOP_FINDINGS]),
        partial=r.partial,
    )


def worst_health(healths: Iterable[str | None]) -> str | None:
    """The worst of some healths (critical > warning > healthy); None when there is none."""
    known = [h for h in healths if h in _HEALTH_RANK]
    return max(known, key=lambda h: _HEALTH_RANK[h]) if known else None


def health_counts(marks: Iterable[WindowMark]) -> Mapping[str, int]:
    """How many windows had each health."""
    counts: dict[str, int] = {}
    for mark in marks:
        counts[mark.health] = counts.get(mark.health, 0) + 1
    return counts
