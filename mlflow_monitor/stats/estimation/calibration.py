"""The calibrator CBPE rests on: isotonic regression fitted on the reference, kept as numbers.

``fit_calibrator`` fits scikit-learn's ``IsotonicRegression(out_of_bounds="clip",
increasing=True)`` on the reference's scores and labels and keeps only its thresholds (``x``,
``y``), so a ``Calibrator`` is plain numbers (``to_dict``/``from_dict``, JSON-safe; a few hundred
to a few thousand pairs for 50,000 reference rows) and ``apply`` is ``numpy.interp`` over them
(what sklearn's ``predict`` does: linear between thresholds, clipped outside).

Whether to calibrate at all is decided as NannyML 0.13 decides it (``nannyml.calibration.
needs_calibration``), matched exactly because parity depends on it: no calibration when the
reference has one class or its ROC AUC exceeds 0.999; otherwise 10 stratified shuffle splits
(``StratifiedShuffleSplit(n_splits=10, test_size=0.1, random_state=42)``), an isotonic fit on
each 90 % and a prediction of its 10 %, the held-out rows of the 10 splits pooled; the expected
calibration error (ECE) of the raw scores and of the cross-validated calibrated ones over that
pool, in NannyML's binning (``ece_binning``: the pool sorted by the probability, cut into 10
bins of equal row count, the last bin taking the remainder; ECE = sum over bins of bin share x
|mean probability - mean label|). Calibration is applied when it lowers that ECE (``applied``);
otherwise ``apply`` returns the scores unchanged, as NannyML's ``NoopCalibrator`` does. Both ECEs
are kept (``ece_before``, ``ece_after``): they are out-of-sample, so ``ece_after`` is the honest
calibration error of what CBPE will use, not the in-sample one (which isotonic drives to ~0).
What is not matched: NannyML's pipeline has no coverage check and no stored form (it pickles
the estimator); ``coverage_counts`` are ours.

``coverage_counts`` holds how many reference scores fall in each of ``COVERAGE_BINS`` (50)
equal-width bins over [0, 1]: a window's scores in bins with too few reference rows are in a
region where the calibrator was fitted on little or nothing (``coverage_share``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit

from mlflow_monitor.errors import DataError

__all__ = [
    "COVERAGE_BINS",
    "ECE_BINNING",
    "Calibrator",
    "CrossValidated",
    "binary_truth",
    "cross_validate",
    "ece_noise_floor",
    "expected_calibration_error",
    "fit_calibrator",
    "fit_with_held_out",
    "probabilities",
]

COVERAGE_BINS = 50
ECE_BINS = 10
ECE_BINNING = (
    "10 equal-count bins over the held-out rows of 10 stratified 90/10 shuffle splits "
    "(random_state 42), sorted by probability (NannyML 0.13's needs_calibration)"
)
Method = Literal["isotonic", "identity"]


def probabilities(values: object, name: str) -> np.ndarray:
    """A 1-d float array of finite values in [0, 1]; anything else is a ``DataError``."""
    if isinstance(values, pd.Series):
        values = values.to_numpy()
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name}: expected numbers ({exc})") from None
    if array.ndim != 1:
        raise DataError(f"{name}: expected one value per row")
    bad = int((~np.isfinite(array)).sum())
    if bad:
        raise DataError(f"{name}: {bad} missing or infinite values (drop those rows first)")
    outside = int(((array < 0) | (array > 1)).sum())
    if outside:
        raise DataError(f"{name}: {outside} values outside [0, 1]")
    return array


def binary_truth(values: object, length: int) -> np.ndarray:
    """0/1 labels as floats (booleans and 0/1 numbers accepted); anything else: ``DataError``."""
    array = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values)
    if array.ndim != 1 or len(array) != length:
        raise DataError(f"truth: expected {length} labels, one per score")
    try:
        numeric = array.astype(float)
    except (TypeError, ValueError):
        raise DataError("truth: expected 0/1 labels (or booleans)") from None
    if np.isnan(numeric).any():
        raise DataError("truth: missing labels (fit on labelled rows only)")
    if not np.isin(numeric, (0.0, 1.0)).all():
        raise DataError("truth: expected 0/1 labels (or booleans)")
    return numeric


def _bin_starts(length: int, bins: int) -> np.ndarray:
    """NannyML's ``_get_bin_index_edges``: left edges of equal-count bins over sorted rows."""
    if length <= 2 * bins:
        bins = length // 2
        if bins < 2:
            raise DataError(f"calibration error: {length} rows cannot make 2 bins")
    width = length // bins
    edges = np.arange(0, length + 1, width)
    edges[-1] = length
    return edges[:-1]


def expected_calibration_error(
    truth: np.ndarray, probability: np.ndarray, *, bins: int = ECE_BINS
) -> float:
    """ECE in NannyML's binning: rows sorted by probability, equal-count bins (module doc)."""
    # A stable sort: rows of equal probability keep their order, so the ECE (and the calibrate-
    # or-not decision) is the same on every machine. NannyML's default sort breaks ties in a
    # CPU-dependent order (numpy's SIMD sorts): near a tie its decision differs between machines.
    order = np.argsort(probability, kind="stable")
    starts = _bin_starts(len(probability), bins)
    gaps = np.add.reduceat(probability[order], starts) - np.add.reduceat(truth[order], starts)
    return float(np.abs(gaps).sum() / len(probability))


def ece_noise_floor(probability: np.ndarray, *, bins: int = ECE_BINS) -> float:
    """The ECE expected of perfectly calibrated probabilities, from sampling alone.

    Per bin, |mean label - mean probability| of calibrated rows is about half-normal with the
    Poisson-binomial variance: sqrt(2 / pi) x sqrt(sum p (1 - p)) / rows; weighted by bin share.
    """
    order = np.argsort(probability, kind="stable")
    p = probability[order]
    starts = _bin_starts(len(p), bins)
    spread = np.sqrt(np.add.reduceat(p * (1 - p), starts))
    return float(np.sqrt(2 / np.pi) * spread.sum() / len(p))


@dataclass(frozen=True)
class CrossValidated:
    """NannyML's cross-validated calibration check on one reference (module docstring).

    ``rows`` are the positions (into the reference) of the pooled held-out rows, ``raw`` their
    scores and ``calibrated`` their out-of-fold calibrated probabilities.
    """

    rows: np.ndarray
    raw: np.ndarray
    calibrated: np.ndarray
    truth: np.ndarray
    ece_before: float
    ece_after: float
    skipped: str = ""  # why the check was not run (one class, ROC AUC > 0.999)

    @property
    def needed(self) -> bool:
        """NannyML's verdict: calibrate when it lowers the held-out ECE."""
        return not self.skipped and self.ece_before > self.ece_after


def cross_validate(scores: np.ndarray, truth: np.ndarray) -> CrossValidated:
    """Held-out calibration of ``scores`` as in NannyML 0.13 (10 splits of 90/10, seed 42)."""
    empty = np.empty(0)
    if len(np.unique(truth)) == 1:
        return CrossValidated(empty.astype(int), empty, empty, empty, 0.0, 0.0, "one class")
    if roc_auc_score(truth, scores) > 0.999:
        return CrossValidated(empty.astype(int), empty, empty, empty, 0.0, 0.0, "ROC AUC > 0.999")
    splitter = StratifiedShuffleSplit(n_splits=10, test_size=0.1, random_state=42)
    rows, calibrated = [], []
    for train, test in splitter.split(scores, truth):
        model = IsotonicRegression(out_of_bounds="clip", increasing=True)
        model.fit(scores[train], truth[train])
        rows.append(test)
        calibrated.append(np.asarray(model.predict(scores[test]), dtype=float))
    index = np.concatenate(rows)
    held_truth, raw, fitted = truth[index], scores[index], np.concatenate(calibrated)
    return CrossValidated(
        rows=index,
        raw=raw,
        calibrated=fitted,
        truth=held_truth,
        ece_before=expected_calibration_error(held_truth, raw),
        ece_after=expected_calibration_error(held_truth, fitted),
    )


@dataclass(frozen=True)
class Calibrator:
    """Scores -> probabilities, fitted on a reference; plain numbers (module docstring).

    ``method`` is what was asked (``isotonic``, or ``identity`` for scores taken as calibrated);
    ``applied`` whether the isotonic map is used (False when NannyML's check found calibration
    does not help, or for ``identity``); ``x``/``y`` the isotonic thresholds; ``ece_before`` /
    ``ece_after`` the held-out ECE of the raw and calibrated scores in ``ece_binning``
    (``ece`` is the one of what ``apply`` returns); ``reference_rows``/``reference_positives``
    the reference's counts; ``coverage_counts`` reference rows per score bin (``COVERAGE_BINS``
    equal-width bins over [0, 1]); ``note`` why calibration was skipped, if it was.
    """

    method: Method
    applied: bool
    x: tuple[float, ...]
    y: tuple[float, ...]
    reference_rows: int
    reference_positives: int
    ece_before: float
    ece_after: float
    coverage_counts: tuple[int, ...]
    ece_binning: str = ECE_BINNING
    note: str = ""
    _xs: np.ndarray = field(init=False, repr=False, compare=False)
    _ys: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise DataError("calibrator: x and y thresholds differ in length")
        if self.applied and not self.x:
            raise DataError("calibrator: an applied isotonic map needs thresholds")
        object.__setattr__(self, "_xs", np.asarray(self.x, dtype=float))
        object.__setattr__(self, "_ys", np.asarray(self.y, dtype=float))

    @property
    def ece(self) -> float:
        """Held-out ECE of the probabilities ``apply`` returns."""
        return self.ece_after if self.applied else self.ece_before

    def apply(self, scores: object, *, name: str = "scores") -> np.ndarray:
        """Calibrated probabilities of ``scores`` (values in [0, 1], finite)."""
        values = probabilities(scores, name)
        return self.apply_array(values)

    def apply_array(self, values: np.ndarray) -> np.ndarray:
        """``apply`` without the checks, for validated float arrays."""
        if not self.applied:
            return values
        return np.asarray(np.interp(values, self._xs, self._ys))

    def coverage(self, scores: np.ndarray, *, min_rows: int) -> float:
        """Share of ``scores`` in bins holding at least ``min_rows`` reference scores."""
        if len(scores) == 0:
            return 0.0
        covered = np.asarray(self.coverage_counts) >= min_rows
        counts = np.bincount(_score_bins(scores), minlength=COVERAGE_BINS)
        return float(counts[covered].sum() / len(scores))

    def covered(self, scores: np.ndarray, *, min_rows: int) -> np.ndarray:
        """Per score: does its bin hold at least ``min_rows`` reference scores."""
        return np.asarray(np.asarray(self.coverage_counts)[_score_bins(scores)] >= min_rows)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form (for the baseline)."""
        return {
            "method": self.method,
            "applied": self.applied,
            "x": list(self.x),
            "y": list(self.y),
            "reference_rows": self.reference_rows,
            "reference_positives": self.reference_positives,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "ece_binning": self.ece_binning,
            "coverage_counts": list(self.coverage_counts),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Calibrator:
        """Inverse of ``to_dict``; a malformed mapping is a ``DataError`` naming the key."""
        method = data.get("method")
        if method not in ("isotonic", "identity"):
            raise DataError(f"calibrator.method: unknown method {method!r}")
        return cls(
            method=method,
            applied=bool(data.get("applied")),
            x=_floats(data, "x"),
            y=_floats(data, "y"),
            reference_rows=_int(data, "reference_rows"),
            reference_positives=_int(data, "reference_positives"),
            ece_before=_float(data, "ece_before"),
            ece_after=_float(data, "ece_after"),
            coverage_counts=tuple(int(v) for v in _floats(data, "coverage_counts")),
            ece_binning=str(data.get("ece_binning", ECE_BINNING)),
            note=str(data.get("note", "")),
        )


def _floats(data: Mapping[str, object], key: str) -> tuple[float, ...]:
    raw = data.get(key)
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise DataError(f"calibrator.{key}: expected a list of numbers")
    try:
        return tuple(float(v) for v in raw)
    except (TypeError, ValueError):
        raise DataError(f"calibrator.{key}: expected a list of numbers") from None


def _int(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise DataError(f"calibrator.{key}: expected an integer, got {value!r}")
    return value


def _float(data: Mapping[str, object], key: str) -> float:
    value = data.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise DataError(f"calibrator.{key}: expected a number, got {value!r}")
    return float(value)


def _score_bins(scores: np.ndarray) -> np.ndarray:
    """The coverage bin of each score in [0, 1] (1.0 falls in the last bin)."""
    return np.minimum((scores * COVERAGE_BINS).astype(np.intp), COVERAGE_BINS - 1)


def fit_calibrator(
    *,
    scores: object,
    truth: object,
    method: Method = "isotonic",
    check: bool = True,
) -> Calibrator:
    """A calibrator fitted on the reference's ``scores`` (probabilities) and 0/1 ``truth``.

    ``check`` (default, as NannyML) applies the isotonic map only when the cross-validated check
    finds it lowers the held-out ECE; ``check=False`` always applies it. ``method="identity"``
    takes the scores as calibrated (the ECEs are still measured). Rows must be labelled.
    """
    values = probabilities(scores, "scores")
    labels = binary_truth(truth, len(values))
    return fit_with_held_out(values, labels, method=method, check=check)[0]


def fit_with_held_out(
    values: np.ndarray, labels: np.ndarray, *, method: Method = "isotonic", check: bool = True
) -> tuple[Calibrator, CrossValidated]:
    """``fit_calibrator`` on validated arrays, with the held-out check it made."""
    if len(values) < 20:
        raise DataError(f"scores: {len(values)} reference rows; calibration needs at least 20")
    held = cross_validate(values, labels)
    if held.skipped:
        # NannyML decides without the split; measure the in-sample ECE instead.
        ece = expected_calibration_error(labels, values)
        before, after = ece, ece
    else:
        before, after = held.ece_before, held.ece_after
    applied = method == "isotonic" and (held.needed or (not check and not held.skipped))
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    if method == "isotonic" and not held.skipped:
        model = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(values, labels)
        xs = tuple(float(v) for v in model.X_thresholds_)
        ys = tuple(float(v) for v in model.y_thresholds_)
    note = ""
    if held.skipped:
        note = f"not calibrated: {held.skipped} in the reference"
    elif method == "isotonic" and not applied:
        note = "not calibrated: isotonic calibration did not lower the held-out ECE"
    bins = _score_bins(values)
    calibrator = Calibrator(
        method=method,
        applied=applied,
        x=xs,
        y=ys,
        reference_rows=len(values),
        reference_positives=int(labels.sum()),
        ece_before=before,
        ece_after=after,
        coverage_counts=tuple(int(c) for c in np.bincount(bins, minlength=COVERAGE_BINS)),
        note=note,
    )
    return calibrator, held
