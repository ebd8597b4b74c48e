"""CBPE per group (a protected attribute's groups, or segments), with each group's reliability.

A calibrator fitted on the whole reference is calibrated on average, not within each group:
when the score ignores something the group carries, the group's true rates differ from what
the overall calibration says. So ``fit_group_calibration`` measures, per group, the held-out
calibration error of the overall calibrator *within the group* (the reference rows of the
group among the pooled held-out rows of the overall calibrator's cross-validation, ECE in the
same 10 equal-count bins), and fits the group its own calibrator (the same NannyML-style
procedure on the group's reference rows) when the reference has at least
``min_calibration_rows`` rows of the group (default 2,000) with at least ``min_class_rows``
(default 100) of each label. Rule: the group's own calibrator is used whenever it was fitted;
otherwise the overall one.

``reliable`` is False when the group has fewer than ``min_group_size`` reference rows (default
500), or when the held-out ECE of the calibration used for it exceeds ``max_ece`` (0.05) plus
its sampling floor (``calibration.ece_noise_floor``: the ECE perfectly calibrated probabilities
would show at that size, about 0.8 x sqrt(p (1 - p) / rows per bin): 0.02-0.03 for 500 rows).
A group absent from the reference is estimated with the overall calibrator and is unreliable.

``estimate_groups`` gives each group of a window its TPR, FPR, FNR, precision (estimated, with
the intervals of ``classification``) and selection rate (observed, Wilson interval), its
expected confusion and its score coverage. Accuracy of the estimated FNR on the seeded
covariate-shift set (``tests/stats/test_estimation.py``) is reported in
``benchmarks/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from mlflow_monitor.errors import DataError
from mlflow_monitor.stats.estimation.calibration import (
    Calibrator,
    binary_truth,
    ece_noise_floor,
    expected_calibration_error,
    fit_with_held_out,
    probabilities,
)
from mlflow_monitor.stats.estimation.classification import Checks, binary_metrics
from mlflow_monitor.stats.estimation.results import EstimatedMetric
from mlflow_monitor.stats.fairness import MISSING_GROUP

__all__ = [
    "GROUP_METRICS",
    "GroupCalibration",
    "GroupEstimate",
    "GroupReference",
    "estimate_groups",
    "fit_group_calibration",
]

GROUP_METRICS = ("tpr", "fpr", "fnr", "precision", "selection_rate")
Source = Literal["group", "overall"]


@dataclass(frozen=True)
class GroupReference:
    """What the reference says of one group's calibration.

    ``rows``/``positives`` in the reference; ``calibrator`` the group's own (None: the overall
    one is used); ``ece`` the held-out ECE, within the group, of the calibration used for it;
    ``ece_overall`` the overall calibrator's within the group; ``ece_floor`` the ECE expected
    from sampling alone; ``reliable`` and a ``note`` saying why not.
    """

    group: str
    rows: int
    positives: int
    ece: float | None
    ece_overall: float | None
    ece_floor: float | None
    reliable: bool
    calibrator: Calibrator | None = None
    note: str = ""

    @property
    def source(self) -> Source:
        """Which calibration the group's estimates use."""
        return "overall" if self.calibrator is None else "group"

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "group": self.group,
            "rows": self.rows,
            "positives": self.positives,
            "ece": self.ece,
            "ece_overall": self.ece_overall,
            "ece_floor": self.ece_floor,
            "reliable": self.reliable,
            "calibrator": None if self.calibrator is None else self.calibrator.to_dict(),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> GroupReference:
        """Inverse of ``to_dict``."""
        raw = data.get("calibrator")
        if raw is not None and not isinstance(raw, Mapping):
            raise DataError("group.calibrator: expected a mapping or null")
        return cls(
            group=str(data.get("group", "")),
            rows=_int(data, "rows"),
            positives=_int(data, "positives"),
            ece=_optional(data, "ece"),
            ece_overall=_optional(data, "ece_overall"),
            ece_floor=_optional(data, "ece_floor"),
            reliable=bool(data.get("reliable")),
            calibrator=None if raw is None else Calibrator.from_dict(raw),
            note=str(data.get("note", "")),
        )


def _int(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DataError(f"group.{key}: expected an integer, got {value!r}")
    return value


def _optional(data: Mapping[str, object], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise DataError(f"group.{key}: expected a number or null, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class GroupCalibration:
    """The overall calibrator, each reference group's calibration, and the rule's bounds."""

    overall: Calibrator
    groups: dict[str, GroupReference] = field(default_factory=dict)
    min_group_size: int = 500
    min_calibration_rows: int = 2000
    min_class_rows: int = 100
    max_ece: float = 0.05

    def calibrator(self, group: str) -> Calibrator:
        """The calibrator a group's estimates use (its own, else the overall one)."""
        found = self.groups.get(group)
        return self.overall if found is None or found.calibrator is None else found.calibrator

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form (for the baseline)."""
        return {
            "overall": self.overall.to_dict(),
            "groups": {name: g.to_dict() for name, g in self.groups.items()},
            "min_group_size": self.min_group_size,
            "min_calibration_rows": self.min_calibration_rows,
            "min_class_rows": self.min_class_rows,
            "max_ece": self.max_ece,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> GroupCalibration:
        """Inverse of ``to_dict``."""
        overall, groups = data.get("overall"), data.get("groups", {})
        if not isinstance(overall, Mapping) or not isinstance(groups, Mapping):
            raise DataError("group calibration: expected 'overall' and 'groups' mappings")
        max_ece = data.get("max_ece", 0.05)
        if not isinstance(max_ece, (int, float)):
            raise DataError("group calibration.max_ece: expected a number")
        return cls(
            overall=Calibrator.from_dict(overall),
            groups={str(k): GroupReference.from_dict(v) for k, v in groups.items()},
            min_group_size=_int(data, "min_group_size"),
            min_calibration_rows=_int(data, "min_calibration_rows"),
            min_class_rows=_int(data, "min_class_rows"),
            max_ece=float(max_ece),
        )


def _group_keys(values: object, length: int) -> tuple[np.ndarray, list[str]]:
    """Integer codes and the group texts (missing values: ``(missing)``)."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if len(series) != length:
        raise DataError(f"groups: {len(series)} values for {length} rows")
    codes, uniques = pd.factorize(series, use_na_sentinel=True, sort=True)
    names = [str(v) for v in uniques]
    if (codes < 0).any():
        names.append(MISSING_GROUP)
        codes = np.where(codes < 0, len(names) - 1, codes)
    return np.asarray(codes, dtype=np.intp), names


def _held_out_ece(truth: np.ndarray, probability: np.ndarray) -> tuple[float, float] | None:
    """ECE and its sampling floor, None below 20 rows (2 bins of 10 at least)."""
    if len(truth) < 20:
        return None
    return (
        expected_calibration_error(truth, probability),
        ece_noise_floor(probability),
    )


def fit_group_calibration(
    *,
    scores: object,
    truth: object,
    groups: object,
    min_group_size: int = 500,
    min_calibration_rows: int = 2000,
    min_class_rows: int = 100,
    max_ece: float = 0.05,
) -> GroupCalibration:
    """Overall and per-group calibration on the reference, each group judged (module docstring)."""
    values = probabilities(scores, "scores")
    labels = binary_truth(truth, len(values))
    codes, names = _group_keys(groups, len(values))
    overall, held = fit_with_held_out(values, labels)
    held_probability = overall.apply_array(held.raw)
    held_codes = codes[held.rows]
    references: dict[str, GroupReference] = {}
    for code, name in enumerate(names):
        rows = codes == code
        count, positives = int(rows.sum()), int(labels[rows].sum())
        in_held = held_codes == code
        measured = _held_out_ece(held.truth[in_held], held_probability[in_held])
        if held.skipped:  # no split was made: in-sample, on the raw scores
            measured = _held_out_ece(labels[rows], overall.apply_array(values[rows]))
        own = None
        ece_floor = None if measured is None else measured[1]
        ece = None if measured is None else measured[0]
        enough = (
            count >= min_calibration_rows
            and min(positives, count - positives) >= min_class_rows
        )
        if enough:
            own, own_held = fit_with_held_out(values[rows], labels[rows])
            ece = own.ece
            own_probability = own.apply_array(own_held.raw)
            ece_floor = None if own_held.skipped else ece_noise_floor(own_probability)
        notes = []
        if count < min_group_size:
            notes.append(f"{count} reference rows (needs {min_group_size})")
        if ece is not None and ece > max_ece + (ece_floor or 0.0):
            notes.append(
                f"held-out calibration error {ece:.3f} above {max_ece:g} + "
                f"{ece_floor or 0.0:.3f} expected from sampling"
            )
        if ece is None:
            notes.append("too few held-out reference rows to measure calibration")
        references[name] = GroupReference(
            group=name,
            rows=count,
            positives=positives,
            ece=ece,
            ece_overall=None if measured is None else measured[0],
            ece_floor=ece_floor,
            reliable=not notes,
            calibrator=own,
            note="; ".join(notes),
        )
    return GroupCalibration(
        overall, references, min_group_size, min_calibration_rows, min_class_rows, max_ece
    )


@dataclass(frozen=True)
class GroupEstimate:
    """One group of one window: estimated rates with intervals and how far to trust them.

    ``metrics``: ``tpr``, ``fpr``, ``fnr``, ``precision`` (estimated; left out when undefined)
    and ``selection_rate`` (observed); ``calibration`` which calibrator was used (``group`` or
    ``overall``); ``reference_rows`` / ``reference_ece`` from the reference; ``reliable`` the
    reference's verdict on the group (``GroupReference.reliable``) and a covered window;
    ``coverage_share`` as for the whole window; ``notes`` one line each on what is not.
    """

    group: str
    rows: int
    metrics: dict[str, EstimatedMetric]
    expected_confusion: dict[str, float]
    calibration: Source
    reference_rows: int
    reference_ece: float | None
    coverage_share: float
    reliable: bool
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form."""
        return {
            "group": self.group,
            "rows": self.rows,
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
            "expected_confusion": dict(self.expected_confusion),
            "calibration": self.calibration,
            "reference_rows": self.reference_rows,
            "reference_ece": self.reference_ece,
            "coverage_share": self.coverage_share,
            "reliable": self.reliable,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> GroupEstimate:
        """Inverse of ``to_dict``."""
        metrics, confusion, notes = (
            data.get("metrics", {}), data.get("expected_confusion", {}), data.get("notes", [])
        )
        if not isinstance(metrics, Mapping) or not isinstance(confusion, Mapping):
            raise DataError("group estimate: expected 'metrics' and 'expected_confusion' mappings")
        calibration = data.get("calibration")
        if calibration not in ("group", "overall"):
            raise DataError(f"group estimate.calibration: unknown {calibration!r}")
        coverage = data.get("coverage_share")
        if not isinstance(coverage, (int, float)) or not isinstance(notes, list):
            raise DataError("group estimate: expected a coverage_share number and a notes list")
        return cls(
            group=str(data.get("group", "")),
            rows=_int(data, "rows"),
            metrics={str(k): EstimatedMetric.from_dict(v) for k, v in metrics.items()},
            expected_confusion={str(k): float(v) for k, v in confusion.items()},
            calibration=calibration,
            reference_rows=_int(data, "reference_rows"),
            reference_ece=_optional(data, "reference_ece"),
            coverage_share=float(coverage),
            reliable=bool(data.get("reliable")),
            notes=tuple(str(n) for n in notes),
        )


def _complement(metric: EstimatedMetric, name: str) -> EstimatedMetric:
    """1 - metric, its interval mirrored (FNR from recall, FPR from specificity)."""
    return replace(
        metric, metric=name, value=1.0 - metric.value, low=1.0 - metric.high,
        high=1.0 - metric.low,
    )  # fmt: skip


def estimate_groups(
    *,
    scores: object,
    decisions: object,
    groups: object,
    calibration: GroupCalibration,
    level: float = 0.95,
    checks: Checks | None = None,
) -> dict[str, GroupEstimate]:
    """Per group of one window: TPR, FPR, FNR, precision, selection rate (module docstring)."""
    checks = checks or Checks()
    raw = probabilities(scores, "scores")
    d = np.asarray(decisions.to_numpy() if isinstance(decisions, pd.Series) else decisions)
    if d.ndim != 1 or len(d) != len(raw):
        raise DataError(f"decisions: expected {len(raw)} values, one per score")
    d = d.astype(bool)
    codes, names = _group_keys(groups, len(raw))
    out: dict[str, GroupEstimate] = {}
    for code, name in enumerate(names):
        rows = codes == code
        score, decided = raw[rows], d[rows]
        reference = calibration.groups.get(name)
        calibrator = calibration.calibrator(name)
        notes: list[str] = []
        metrics, confusion = binary_metrics(
            calibrator.apply_array(score), decided, None, level=level, notes=notes
        )
        named = {"selection_rate": replace(metrics["positive_rate"], metric="selection_rate")}
        if "recall" in metrics:
            named["tpr"] = replace(metrics["recall"], metric="tpr")
            named["fnr"] = _complement(metrics["recall"], "fnr")
        if "specificity" in metrics:
            named["fpr"] = _complement(metrics["specificity"], "fpr")
        if "precision" in metrics:
            named["precision"] = metrics["precision"]
        notes = [n.replace("recall", "tpr, fnr").replace("specificity", "fpr") for n in notes
                 if not n.startswith(("accuracy", "f1"))]  # fmt: skip
        coverage = calibrator.coverage(score, min_rows=checks.min_bin_rows)
        reliable = reference is not None and reference.reliable
        if reference is None:
            notes.append("group not in the reference: overall calibration, unreliable")
        elif reference.note:
            notes.append(reference.note)
        if coverage < checks.min_coverage:
            reliable = False
            notes.append(
                f"only {coverage:.0%} of the group's scores lie where its calibration's "
                f"reference has at least {checks.min_bin_rows} rows per score bin"
            )
        out[name] = GroupEstimate(
            group=name,
            rows=int(rows.sum()),
            metrics={k: named[k] for k in GROUP_METRICS if k in named},
            expected_confusion=confusion,
            calibration="overall" if reference is None else reference.source,
            reference_rows=0 if reference is None else reference.rows,
            reference_ece=None if reference is None else reference.ece,
            coverage_share=coverage,
            reliable=reliable,
            notes=tuple(notes),
        )
    return out
