"""Shadow comparison: two versions' outputs on the same window, side by side and paired.

``compare_versions`` takes the window as the judged version scored it (the challenger) and the
same rows as another version scored them (the champion), with each side's ``WindowResult``,
and returns a ``Comparison``: both sides' performance with intervals, both sides' group rates
with their Wilson intervals, and a paired test per comparable metric (``stats.paired``: the two
models' errors on the same rows are correlated, so overlapping intervals would refuse real
improvements). ``judge_beat`` is the ``must_beat`` gate rule on a stored comparison. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlflow_monitor.contract import MetricValue, ScoringRecord
from mlflow_monitor.spec import COMPARABLE_METRICS, SCORE_METRICS, BeatRule, MonitorSpec
from mlflow_monitor.stats.fairness import GROUP_METRICS
from mlflow_monitor.stats.intervals import z_value
from mlflow_monitor.stats.paired import PairedTest, margin_test, paired_test
from mlflow_monitor.verdicts.evaluation import WindowResult
from mlflow_monitor.verdicts.fairness_checks import positive_indicator

__all__ = ["BeatJudgement", "Comparison", "compare_versions", "judge_beat"]


@dataclass(frozen=True)
class Comparison:
    """The ``comparison`` section of ``results.json``: the judged version against another.

    ``against`` is how the other version was named (``@champion`` or ``2``), ``against_version``
    the version it resolved to when the window ran.
    """

    against: str
    against_version: str
    against_uri: str
    level: float
    rows: int
    labelled: int
    performance: Mapping[str, Mapping[str, object]]
    fairness: tuple[Mapping[str, object], ...]
    paired: tuple[PairedTest, ...]
    scoring: ScoringRecord | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        """``champion`` for ``@champion``, ``v2`` for a version number (metric names)."""
        return self.against.lstrip("@") if self.against.startswith("@") else f"v{self.against}"

    def test(self, metric: str) -> PairedTest | None:
        """The paired test on ``metric`` (None when it was not judged)."""
        return next((t for t in self.paired if t.metric == metric), None)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe mapping (``results.json`` ``comparison``)."""
        return {
            "against": self.against,
            "against_version": self.against_version,
            "against_uri": self.against_uri,
            "level": self.level,
            "rows": self.rows,
            "labelled": self.labelled,
            "performance": {k: dict(v) for k, v in self.performance.items()},
            "fairness": [dict(r) for r in self.fairness],
            "paired": [t.to_dict() for t in self.paired],
            "scoring": self.scoring.to_dict() if self.scoring else None,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Comparison:
        """Inverse of ``to_dict`` (what the gate reads back from ``results.json``)."""
        performance = raw.get("performance")
        fairness = raw.get("fairness")
        paired = raw.get("paired")
        scoring = raw.get("scoring")
        notes = raw.get("notes")
        return cls(
            against=str(raw.get("against", "")),
            against_version=str(raw.get("against_version", "")),
            against_uri=str(raw.get("against_uri", "")),
            level=float(raw.get("level") or 0.95),  # type: ignore[arg-type]
            rows=int(raw.get("rows") or 0),  # type: ignore[call-overload]
            labelled=int(raw.get("labelled") or 0),  # type: ignore[call-overload]
            performance=dict(performance) if isinstance(performance, Mapping) else {},
            fairness=tuple(r for r in fairness if isinstance(r, Mapping))
            if isinstance(fairness, list)
            else (),
            paired=tuple(PairedTest.from_dict(t) for t in paired if isinstance(t, Mapping))
            if isinstance(paired, list)
            else (),
            scoring=ScoringRecord.from_dict(scoring) if isinstance(scoring, Mapping) else None,
            notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
        )

    def metrics(self) -> tuple[MetricValue, ...]:
        """Metrics: `compare/<label>/perf/<m>` (the other side), `.../improvement/<m>`, p-values."""
        prefix = f"compare/{self.label}"
        out: list[MetricValue] = []
        for metric, sides in self.performance.items():
            other = sides.get("champion")
            value = other.get("value") if isinstance(other, Mapping) else None
            if isinstance(value, (int, float)):
                out.append(MetricValue(f"{prefix}/perf/{metric}", float(value)))
        for test in self.paired:
            out.append(MetricValue(f"{prefix}/improvement/{test.metric}", test.improvement))
            out.append(MetricValue(f"{prefix}/p_value/{test.metric}", test.p_value))
        return tuple(out)


def compare_versions(
    spec: MonitorSpec,
    *,
    challenger_frame: pd.DataFrame,
    champion_frame: pd.DataFrame,
    challenger: WindowResult,
    champion: WindowResult,
    against: str,
    against_version: str,
    against_uri: str,
    scoring: ScoringRecord | None = None,
) -> Comparison:
    """Both sides' performance and group rates, and the paired test of every comparable metric."""
    level = spec.confidence_level
    truth, labelled = _truth(spec, challenger_frame)
    paired = (
        _paired_tests(spec, truth, challenger_frame, champion_frame)
        if truth is not None and labelled
        else ()
    )
    notes = () if labelled else ("no labels in the window: no paired test, nothing to beat yet",)
    return Comparison(
        against=against,
        against_version=against_version,
        against_uri=against_uri,
        level=level,
        rows=len(challenger_frame),
        labelled=labelled,
        performance=_performance(challenger, champion, level),
        fairness=_fairness(challenger, champion, level),
        paired=paired,
        scoring=scoring,
        notes=notes,
    )


def _truth(spec: MonitorSpec, frame: pd.DataFrame) -> tuple[np.ndarray | None, int]:
    """The labels as the paired tests read them (binary: 1/0/NaN) and how many rows have one."""
    target = spec.columns.target
    if not target or target not in frame.columns:
        return None, 0
    values = frame[target]
    labelled = int(values.notna().sum())
    if spec.task == "binary_classification":
        return positive_indicator(
            values, spec.positive_label, f"columns.target {target!r}"
        ), labelled
    if spec.task == "regression":
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float), labelled
    return values.to_numpy(dtype=object), labelled


def _paired_tests(
    spec: MonitorSpec, truth: np.ndarray, ours: pd.DataFrame, theirs: pd.DataFrame
) -> tuple[PairedTest, ...]:
    tests = []
    for metric in COMPARABLE_METRICS[spec.task]:
        if metric in SCORE_METRICS and not spec.columns.score:
            continue
        test = paired_test(
            metric,
            truth=truth,
            challenger=_outputs(spec, ours, metric),
            champion=_outputs(spec, theirs, metric),
            positive_label=1.0 if spec.task == "binary_classification" else None,
            task=spec.task,
        )
        if test is not None:
            tests.append(test)
    return tuple(tests)


def _outputs(spec: MonitorSpec, frame: pd.DataFrame, metric: str) -> np.ndarray:
    """One side's per-row output for ``metric``: the score, the decision, or the prediction.

    A binary decision follows the package's one rule: ``prediction == positive_label`` with a
    prediction column, else ``score >= fairness.decision_threshold``.
    """
    cols = spec.columns
    if spec.task != "binary_classification":
        values = frame[cols.prediction or ""]
        if spec.task == "regression":
            return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        return values.to_numpy(dtype=object)
    if metric in SCORE_METRICS:
        return pd.to_numeric(frame[cols.score or ""], errors="coerce").to_numpy(dtype=float)
    if cols.prediction:
        return positive_indicator(frame[cols.prediction], spec.positive_label, "prediction")
    score = pd.to_numeric(frame[cols.score or ""], errors="coerce").to_numpy(dtype=float)
    decided = (score >= spec.fairness.decision_threshold).astype(float)
    return np.where(np.isnan(score), np.nan, decided)


def _performance(
    ours: WindowResult, theirs: WindowResult, level: float
) -> dict[str, dict[str, object]]:
    """Each metric both sides computed: value and interval (value +- z * standard error)."""
    if ours.performance is None or theirs.performance is None:
        return {}
    z = z_value(level)
    out: dict[str, dict[str, object]] = {}
    for metric, value in ours.performance.metrics.items():
        other = theirs.performance.get(metric)
        if other is None:
            continue
        out[metric] = {
            "challenger": _side(value, ours.performance.standard_errors.get(metric), z),
            "champion": _side(other, theirs.performance.standard_errors.get(metric), z),
        }
    return out


def _side(value: float, error: float | None, z: float) -> dict[str, object]:
    if error is None or not np.isfinite(error):
        return {"value": value, "low": None, "high": None}
    return {"value": value, "low": value - z * error, "high": value + z * error}


def _fairness(
    ours: WindowResult, theirs: WindowResult, level: float
) -> tuple[dict[str, object], ...]:
    """Every group rate both sides have, with its Wilson interval and denominator."""
    if ours.fairness is None or theirs.fairness is None:
        return ()
    rows = []
    for attribute in ours.fairness.report.attributes:
        other = theirs.fairness.report.attribute(attribute.attribute)
        if other is None:
            continue
        their_groups = {g.group: g for g in other.groups}
        for group in attribute.groups:
            peer = their_groups.get(group.group)
            if peer is None:
                continue
            for metric in GROUP_METRICS:
                mine, yours = group.rate(metric), peer.rate(metric)
                if mine is None or yours is None:
                    continue
                rows.append(
                    {
                        "attribute": attribute.attribute,
                        "group": group.group,
                        "metric": metric,
                        "challenger": mine,
                        "challenger_interval": list(group.interval(metric, level=level) or ()),
                        "champion": yours,
                        "champion_interval": list(peer.interval(metric, level=level) or ()),
                        "denominator": group.denominator(metric),
                    }
                )
    return tuple(rows)


# -- the must_beat rule -----------------------------------------------------------------------


@dataclass(frozen=True)
class BeatJudgement:
    """``must_beat`` on one stored comparison: granted or not, why, and the numbers."""

    beats: bool
    reason: str
    evidence: Mapping[str, object]


def judge_beat(
    comparison: Comparison | None,
    *,
    rule: BeatRule,
    metric: str,
    holder: str | None,
    level: float,
    version: str | None = None,
) -> BeatJudgement:
    """Judge ``must_beat`` from the window's comparison against the alias's current holder.

    No holder, or ``version`` (the one being promoted) is the holder: nothing to beat
    (granted). A comparison missing, against another version, or without labels: refused,
    saying which run to do. Otherwise the paired test with the margin.
    """
    name = f"must_beat @{rule.alias}"
    if holder is None:
        return BeatJudgement(True, f"{name}: no version holds @{rule.alias}; nothing to beat", {})
    if version is not None and str(version) == holder:
        return BeatJudgement(True, f"{name}: version {holder} already holds @{rule.alias}", {})
    if comparison is None:
        return BeatJudgement(
            False,
            f"{name}: the verdict window has no shadow comparison with version {holder}; run "
            f"`mlflow-monitor run ... --compare @{rule.alias}`",
            {},
        )
    if comparison.against_version != holder:
        return BeatJudgement(
            False,
            f"{name}: the verdict window was compared with version "
            f"{comparison.against_version}, but @{rule.alias} is version {holder} now; run "
            f"`--compare @{rule.alias}` again",
            {},
        )
    test = comparison.test(metric)
    if test is None:
        why = "; ".join(comparison.notes) or f"{metric} could not be compared on the window"
        return BeatJudgement(False, f"{name}: not judged ({why})", {})
    decision = margin_test(test, margin=rule.margin, level=level)
    evidence = {
        **test.to_dict(),
        "against_version": holder,
        "margin": rule.margin,
        "level": level,
        "lower_bound": decision.lower_bound,
        "one_sided_p_value": decision.p_value,
        "beats": decision.beats,
    }
    text = (
        f"{name} on {metric}: {test.challenger:.4f} vs {test.champion:.4f} (version {holder}), "
        f"improvement {test.improvement:+.4f}, one-sided {level:.0%} lower bound "
        f"{decision.lower_bound:+.4f} {'>' if decision.beats else '<='} margin {rule.margin:+g} "
        f"({test.method}, n={test.n:,}, one-sided p={decision.p_value:.3g})"
    )
    return BeatJudgement(decision.beats, text, evidence)
