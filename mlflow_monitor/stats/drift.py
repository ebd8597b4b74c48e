"""Drift methods computed from profiles, and their automatic selection (Evidently 0.7 defaults).

Methods: ``psi``, ``ks`` (p-value; the statistic is kept too), ``wasserstein`` (normed by the
reference's population std, floored at 0.001, as Evidently's ``wasserstein_distance_norm``),
``jensenshannon`` (distance, natural log, as scipy's default), ``chisquare`` (p-value) and ``z``
(two-proportion z-test p-value). Distances drift when ``score >= threshold`` (default 0.1);
``ks`` when ``p <= threshold``, ``chisquare`` and ``z`` when ``p < threshold`` (default 0.05) --
each exactly Evidently's rule. ``p_value_adjusted`` holds Benjamini-Hochberg adjusted p-values
across all p-value columns of one report; decisions use the raw p-value, as Evidently does.

Significant is not the same as large: at 200,000 rows a KS test finds a shift of 0.01 standard
deviations. A p-value method therefore also records an effect size and drifts only when the
change is significant *and* the effect is at least ``min_effect`` (``compute_drift``'s keyword,
the spec's ``drift.min_effect``, 0.1 there; 0 here, which is Evidently's rule exactly):
``ks``: the KS statistic D (the largest gap between the two CDFs); ``chisquare``: the
Jensen-Shannon distance between the two category distributions (the measure, and so the scale
of the 0.1 default, of the ``jensenshannon`` method that the automatic selection uses for the
same columns above 1,000 reference rows); ``z``: the absolute difference of the two proportions.
Distance methods (psi, wasserstein, jensenshannon) are effect sizes already and have no
``effect``; their rule is unchanged.

Automatic selection (evidently/legacy/calculations/stattests/registry.py:_get_default_stattest),
with ``n`` the reference's finite rows and ``k`` the distinct values of both sides together:
``n <= 1000``: numerical ``k > 5`` -> ks; otherwise ``k > 2`` -> chisquare, else z.
``n > 1000``: numerical ``k > 5`` -> wasserstein; otherwise (and categorical) -> jensenshannon.
A global ``method`` applies to the columns it is defined for (ks/wasserstein need numerical,
chisquare/z need value counts); per-column ``methods`` that do not fit are a ``SpecError``.

Parity with Evidently 0.7 / scipy on the raw frames (asserted in tests/stats/test_drift_parity.py,
measured at 1,000 and 1,000,000 rows, drifted and undrifted):

- chisquare, z, and psi / jensenshannon on categorical or <= 20-value numerical columns: the
  same value counts, so equal to 1e-9 (relative).
- ks: exact (scipy ``ks_2samp`` on the value counts) when both sides have <= 10,000 rows and
  <= 10,000 distinct values. Otherwise the statistic comes from the fine histogram (CDFs at the
  reference quantile edges): |D - D_scipy| <= 0.002 (bound: the largest bin mass, 0.16 % of
  the reference at 1,000 bins with the sketch edges of ``stats.sketch``; 0.1 % with exact
  quantiles) and the p-value is scipy's asymptotic one for that D.
- wasserstein: exact (scipy with weights) when both sides have exact value counts; otherwise from
  per-bin counts and sums, exact except in bins where the CDFs cross: |delta| <= 0.002 (normed).
- psi / jensenshannon on continuous columns: Evidently bins the pooled data on Sturges
  equal-width bins; the profile uses as many (capped by ``bins``) *reference-quantile* bins (the
  textbook PSI), so the numbers are a different estimator of the same quantity. On a symmetric
  column (normal): |delta| <= 0.015 (psi) and <= 0.01 (jensenshannon). On a skewed column
  (log-normal) Evidently's equal-width bins put most of the mass into 2-3 bins and under-read a
  shift; there ``Evidently - 0.015 <= psi <= 3.5 x Evidently + 0.015`` and
  ``Evidently - 0.01 <= jensenshannon <= 2 x Evidently + 0.01`` (measured up to 3.2x and 1.8x
  at 1,000,000 rows). Evidently's auto selection never picks these two for such columns.
- ks p-value above 10,000 rows: within 0.1 absolute of scipy's (the small error in D moves the
  asymptotic p-value by up to ~0.05 at 1,000,000 undrifted rows; drifted p-values are ~0).

Defined results where Evidently/scipy give NaN or fail: an empty or all-missing side is
``insufficient_data`` (score None); chisquare/z with a single value on both sides is p = 1;
chisquare with current rows in values the reference never had is p = 0 (scipy: inf statistic).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

import numpy as np
from scipy import stats
from scipy.spatial import distance

from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.stats._binning import FloatArray, IntArray
from mlflow_monitor.stats.profile import (
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    NumericProfile,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "P_VALUE_METHODS",
    "ColumnDrift",
    "DriftReport",
    "compute_drift",
    "select_method",
]

Method = Literal["psi", "ks", "wasserstein", "jensenshannon", "chisquare", "z"]
Status = Literal["ok", "insufficient_data"]

P_VALUE_METHODS: frozenset[str] = frozenset({"ks", "chisquare", "z"})
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "psi": 0.1,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
}
_METHODS: frozenset[str] = frozenset(DEFAULT_THRESHOLDS)
_NUMERICAL_ONLY: frozenset[str] = frozenset({"ks", "wasserstein"})
_COUNTS_ONLY: frozenset[str] = frozenset({"chisquare", "z"})
_SMALL_REFERENCE = 1000
_FEW_VALUES = 5
_VALUE_COUNT_BINNING = 20
_SCIPY_EXACT_KS = 10_000
_WASSERSTEIN_MIN_NORM = 0.001
_EFFECT_NAMES: Mapping[str, str] = {
    "ks": "ks_statistic",
    "chisquare": "jensenshannon",
    "z": "proportion_difference",
}


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column. ``score`` is None (never NaN) when ``status`` is insufficient_data.

    A p-value method also has ``effect`` (named by ``effect_name``: ``ks_statistic``,
    ``jensenshannon``, ``proportion_difference``) and the ``min_effect`` it had to reach.
    """

    column: str
    method: str
    score: float | None
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    p_value_adjusted: float | None = None
    status: Status = "ok"
    note: str = ""
    statistic: float | None = None
    effect: float | None = None
    effect_name: str = ""
    min_effect: float = 0.0

    @property
    def significant(self) -> bool:
        """A p-value method's test alone (False for distances and insufficient data)."""
        if self.method not in P_VALUE_METHODS or self.score is None:
            return False
        return _drifted(self.method, self.score, self.threshold)

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "method": self.method,
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "p_value_adjusted": self.p_value_adjusted,
            "status": self.status,
            "note": self.note,
            "statistic": self.statistic,
            "effect": self.effect,
            "effect_name": self.effect_name,
            "min_effect": self.min_effect,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ColumnDrift:
        status = str(data["status"])
        if status not in ("ok", "insufficient_data"):
            raise DataError(f"drift result: unknown status {status!r}")
        return cls(
            column=str(data["column"]),
            method=str(data["method"]),
            score=_optional_float(data.get("score")),
            threshold=float(str(data["threshold"])),
            drifted=bool(data["drifted"]),
            reference_rows=int(str(data["reference_rows"])),
            current_rows=int(str(data["current_rows"])),
            p_value_adjusted=_optional_float(data.get("p_value_adjusted")),
            status="ok" if status == "ok" else "insufficient_data",
            note=str(data.get("note", "")),
            statistic=_optional_float(data.get("statistic")),
            effect=_optional_float(data.get("effect")),
            effect_name=str(data.get("effect_name") or ""),
            min_effect=float(str(data.get("min_effect", 0.0))),
        )


@dataclass(frozen=True)
class DriftReport:
    """Per-column drift and the dataset-level share of drifted columns.

    ``share_drifted`` is over the columns with status ``ok``; ``status`` is insufficient_data
    when no column could be evaluated (then the share is 0.0 and must not be read as a pass).
    """

    columns: tuple[ColumnDrift, ...]

    @property
    def evaluated(self) -> tuple[ColumnDrift, ...]:
        return tuple(c for c in self.columns if c.status == "ok")

    @property
    def number_drifted(self) -> int:
        return sum(1 for c in self.columns if c.drifted)

    @property
    def share_drifted(self) -> float:
        evaluated = len(self.evaluated)
        return self.number_drifted / evaluated if evaluated else 0.0

    @property
    def status(self) -> Status:
        return "ok" if self.evaluated else "insufficient_data"

    def get(self, column: str) -> ColumnDrift:
        for result in self.columns:
            if result.column == column:
                return result
        raise KeyError(column)

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "share_drifted": self.share_drifted,
            "number_drifted": self.number_drifted,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> DriftReport:
        raw = data.get("columns")
        if not isinstance(raw, list):
            raise DataError("drift report: 'columns' must be a list")
        return cls(tuple(ColumnDrift.from_dict(item) for item in raw))


def compute_drift(
    reference: DatasetProfile,
    current: DatasetProfile,
    columns: Sequence[str] | None = None,
    *,
    method: str = "auto",
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    min_effect: float = 0.0,
    skip: Mapping[str, str] | None = None,
) -> DriftReport:
    """Drift of every column in ``columns`` (default: all of the reference's) from two profiles.

    ``skip`` maps a column to why it is not tested (an id-like column: every value distinct);
    it stays in the report as ``insufficient_data`` with that note, outside the drifted share.

    ``method`` is the default for all columns (``auto`` = Evidently's selection), ``methods``
    and ``thresholds`` override it per column (the spec's ``drift.methods`` / ``thresholds``).
    A p-value method drifts only when its effect is also at least ``min_effect`` (0: any
    significant change, Evidently's rule; the spec's ``drift.min_effect`` is 0.1).
    """
    if not (math.isfinite(min_effect) and min_effect >= 0):
        raise SpecError("drift.min_effect: must be a finite number >= 0")
    names = list(reference.columns) if columns is None else list(columns)
    methods, thresholds = dict(methods or {}), dict(thresholds or {})
    _check_overrides(names, method, methods, thresholds)
    results = [
        _column_drift(
            _pair(reference, current, name),
            methods.get(name, method),
            thresholds.get(name),
            explicit=name in methods,
            bins=reference.bins,
            min_effect=min_effect,
            skip=(skip or {}).get(name, ""),
        )
        for name in names
    ]
    return DriftReport(_with_adjusted_p_values(results))


def select_method(reference: ColumnProfile, current: ColumnProfile) -> Method:
    """Evidently 0.7's default stattest for this column (see the module docstring)."""
    distinct = _distinct_values(reference, current)
    few = distinct is not None and distinct <= _FEW_VALUES
    numerical = isinstance(reference, NumericProfile)
    if reference.count <= _SMALL_REFERENCE:
        if numerical and not few:
            return "ks"
        return "chisquare" if distinct is None or distinct > 2 else "z"
    if numerical and not few:
        return "wasserstein"
    return "jensenshannon"


# --- per column -------------------------------------------------------------------------------


def _pair(
    reference: DatasetProfile, current: DatasetProfile, name: str
) -> tuple[ColumnProfile, ColumnProfile]:
    for label, profile in (("reference", reference), ("current", current)):
        if name not in profile.columns:
            raise DataError(f"column {name!r} is not in the {label} profile")
    ref, cur = reference.columns[name], current.columns[name]
    if ref.kind != cur.kind:
        raise DataError(f"column {name!r} is {ref.kind} in the reference, {cur.kind} now")
    return ref, cur


def _column_drift(
    pair: tuple[ColumnProfile, ColumnProfile],
    requested: str,
    threshold: float | None,
    *,
    explicit: bool,
    bins: int,
    min_effect: float,
    skip: str = "",
) -> ColumnDrift:
    ref, cur = pair
    empty = f"not drift-tested: {skip}" if skip else _insufficient(ref, cur)
    chosen = _resolve_method(ref, cur, requested, explicit=explicit) if not empty else requested
    limit = DEFAULT_THRESHOLDS.get(chosen, 0.05) if threshold is None else threshold
    base = ColumnDrift(ref.name, chosen, None, limit, False, ref.count, cur.count)
    if chosen in P_VALUE_METHODS:
        base = _replace(base, effect_name=_EFFECT_NAMES[chosen], min_effect=min_effect)
    if empty:
        return _replace(base, status="insufficient_data", note=empty)
    scored = _score(chosen, ref, cur, bins)
    drifted = _drifted(chosen, scored.score, limit)
    if scored.effect is not None:
        drifted = drifted and scored.effect >= min_effect
    return _replace(
        base, score=scored.score, statistic=scored.statistic, note=scored.note,
        effect=scored.effect, drifted=drifted,
    )  # fmt: skip


def _insufficient(ref: ColumnProfile, cur: ColumnProfile) -> str:
    """Why drift cannot be computed (empty string when it can)."""
    for label, profile in (("reference", ref), ("current window", cur)):
        if profile.count == 0:
            infinite = getattr(profile, "infinite", 0)
            return (
                f"no usable values in the {label}: {profile.rows} rows, "
                f"{profile.missing} missing, {infinite} infinite"
            )
    return ""


def _resolve_method(
    ref: ColumnProfile, cur: ColumnProfile, requested: str, *, explicit: bool
) -> str:
    if requested == "auto":
        return select_method(ref, cur)
    problem = _unfit(ref, cur, requested)
    if not problem:
        return requested
    if explicit:
        raise SpecError(f"drift.methods.{ref.name}: {problem}")
    return select_method(ref, cur)


def _unfit(ref: ColumnProfile, cur: ColumnProfile, method: str) -> str:
    if method in _NUMERICAL_ONLY and not isinstance(ref, NumericProfile):
        return f"method {method!r} needs a numerical column; {ref.name!r} is categorical"
    if method in _COUNTS_ONLY and _distinct_values(ref, cur) is None:
        return (
            f"method {method!r} needs value counts; {ref.name!r} has more than "
            "10,000 distinct values"
        )
    return ""


def _drifted(method: str, score: float, threshold: float) -> bool:
    if method == "ks":
        return score <= threshold
    if method in P_VALUE_METHODS:
        return score < threshold
    return score >= threshold


class _Scored(NamedTuple):
    """One method's score, its test statistic, a note and (p-value methods) the effect size."""

    score: float
    statistic: float | None = None
    note: str = ""
    effect: float | None = None


def _score(method: str, ref: ColumnProfile, cur: ColumnProfile, bins: int) -> _Scored:
    if method == "ks":
        assert isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)
        p_value, statistic, note = _ks(ref, cur)
        return _Scored(p_value, statistic, note, statistic)
    if method == "wasserstein":
        assert isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)
        return _Scored(_wasserstein(ref, cur))
    ref_counts, cur_counts = _aligned_counts(ref, cur, bins)
    if method == "psi":
        return _Scored(_psi(ref_counts, cur_counts))
    if method == "jensenshannon":
        return _Scored(_jensenshannon(ref_counts, cur_counts))
    if method == "chisquare":
        return _Scored(*_chisquare(ref_counts, cur_counts), _jensenshannon(ref_counts, cur_counts))
    return _Scored(*_z_test(ref_counts, cur_counts), _proportion_difference(ref_counts, cur_counts))


# --- value counts and binning -----------------------------------------------------------------


def _distinct_values(ref: ColumnProfile, cur: ColumnProfile) -> int | None:
    """Distinct non-missing values of both sides together, None when not known (continuous)."""
    if isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
        keys = set(ref.categories) | set(cur.categories)
        return len(keys) + (1 if ref.other or cur.other else 0)
    assert isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)
    if ref.exact is None or cur.exact is None:
        return None
    return int(np.union1d(ref.exact.values, cur.exact.values).size)


def _aligned_counts(
    ref: ColumnProfile, cur: ColumnProfile, bins: int
) -> tuple[FloatArray, FloatArray]:
    """Counts of both sides on the same keys: categories, distinct values, or coarse bins."""
    if isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
        joined = ref.as_series().to_frame("r").join(cur.as_series().to_frame("c"), how="outer")
        counts = joined.fillna(0).to_numpy(np.float64)
        tail = np.array([[ref.other, cur.other]], dtype=np.float64)
        counts = np.vstack([counts, tail]) if ref.other or cur.other else counts
        return counts[:, 0], counts[:, 1]
    assert isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)
    if (
        ref.exact is not None
        and cur.exact is not None
        and ref.exact.distinct <= _VALUE_COUNT_BINNING
    ):
        return _exact_on_union(ref, cur)
    return _coarse_bins(ref, cur, bins)


def _exact_on_union(ref: NumericProfile, cur: NumericProfile) -> tuple[FloatArray, FloatArray]:
    assert ref.exact is not None and cur.exact is not None
    union = np.union1d(ref.exact.values, cur.exact.values)
    return _spread(union, ref.exact.values, ref.exact.counts), _spread(
        union, cur.exact.values, cur.exact.counts
    )


def _spread(union: FloatArray, values: FloatArray, counts: IntArray) -> FloatArray:
    out = np.zeros(union.size, dtype=np.float64)
    out[np.searchsorted(union, values)] = counts
    return out


def _coarse_bins(
    ref: NumericProfile, cur: NumericProfile, bins: int
) -> tuple[FloatArray, FloatArray]:
    """Group fine bins into at most Sturges(n_ref + n_cur) (<= ``bins``) reference quantiles.

    The overflow bin (above the reference maximum) stays a bin of its own.
    """
    total = ref.count + cur.count
    groups = max(1, min(bins, math.ceil(math.log2(total) + 1)))
    counts_r = ref.histogram.counts.astype(np.float64)
    cdf = np.cumsum(counts_r)[:-1] / ref.count
    cuts = np.unique(np.searchsorted(cdf, np.arange(1, groups) / groups, side="left"))
    starts = np.unique(np.r_[0, cuts + 1, counts_r.size - 1])
    counts_c = cur.histogram.counts.astype(np.float64)
    return np.add.reduceat(counts_r, starts), np.add.reduceat(counts_c, starts)


# --- the methods --------------------------------------------------------------------------------


def _ks(ref: NumericProfile, cur: NumericProfile) -> tuple[float, float, str]:
    if ref.exact is not None and cur.exact is not None:
        if max(ref.count, cur.count) <= _SCIPY_EXACT_KS:
            sample_r = np.repeat(ref.exact.values, ref.exact.counts)
            sample_c = np.repeat(cur.exact.values, cur.exact.counts)
            result = stats.ks_2samp(sample_r, sample_c)
            return float(result.pvalue), float(result.statistic), ""
        union = np.union1d(ref.exact.values, cur.exact.values)
        cdf_r = _cdf_at(union, ref.exact.values, ref.exact.counts)
        cdf_c = _cdf_at(union, cur.exact.values, cur.exact.counts)
        note = "exact statistic, asymptotic p-value"
    else:
        cdf_r = np.cumsum(ref.histogram.counts)[:-1] / ref.count
        cdf_c = np.cumsum(cur.histogram.counts)[:-1] / cur.count
        note = "statistic at reference quantile edges, asymptotic p-value"
    statistic = float(np.max(np.abs(cdf_r - cdf_c))) if cdf_r.size else 0.0
    return _ks_asymptotic_p(statistic, ref.count, cur.count), statistic, note


def _cdf_at(points: FloatArray, values: FloatArray, counts: IntArray) -> FloatArray:
    cumulative = np.r_[0, np.cumsum(counts)].astype(np.float64)
    shares: FloatArray = cumulative[np.searchsorted(values, points, side="right")] / cumulative[-1]
    return shares


def _ks_asymptotic_p(statistic: float, n_ref: int, n_cur: int) -> float:
    """scipy.stats.ks_2samp's 'asymp' p-value (two-sided) for a given statistic."""
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    effective = m * n / (m + n)
    return float(np.clip(stats.kstwo.sf(statistic, np.round(effective)), 0.0, 1.0))


def _wasserstein(ref: NumericProfile, cur: NumericProfile) -> float:
    norm = max(ref.moments.std, _WASSERSTEIN_MIN_NORM)
    if ref.exact is not None and cur.exact is not None:
        raw = stats.wasserstein_distance(
            ref.exact.values, cur.exact.values, ref.exact.counts, cur.exact.counts
        )
        return float(raw) / norm
    return _wasserstein_from_bins(ref, cur) / norm


def _wasserstein_from_bins(ref: NumericProfile, cur: NumericProfile) -> float:
    """W1 = sum over bins |integral of (F_ref - F_cur)|, each integral exact from counts + sums.

    Over a bin (a, b]: integral of F = b F(b) - a F(a) - (sum of values in the bin) / n. Values
    are centred on the reference mean against cancellation.
    """
    centre = ref.moments.mean
    edges = ref.histogram.edges - centre
    hist_r, hist_c = ref.histogram, cur.histogram
    delta_cdf = (
        np.cumsum(hist_r.counts)[:-1] / ref.count - np.cumsum(hist_c.counts)[:-1] / cur.count
    )
    delta_sum = (hist_r.sums - centre * hist_r.counts) / ref.count - (
        hist_c.sums - centre * hist_c.counts
    ) / cur.count
    boundary = edges * delta_cdf
    per_bin = np.r_[boundary, 0.0] - np.r_[0.0, boundary] - delta_sum
    return float(np.abs(per_bin).sum())


def _shares_with_floor(counts: FloatArray) -> FloatArray:
    """Evidently's ``feel_zeroes``: empty bins get min(share)/1e6 (or 1e-4)."""
    shares = counts / counts.sum()
    nonzero = shares[shares > 0]
    smallest = float(nonzero.min())
    floor = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(shares == 0, floor, shares)


def _psi(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    ref_share, cur_share = _shares_with_floor(ref_counts), _shares_with_floor(cur_counts)
    return float(np.sum((ref_share - cur_share) * np.log(ref_share / cur_share)))


def _jensenshannon(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    value = distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
    return float(value)


def _chisquare(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, float, str]:
    """Evidently's chi-square goodness of fit of the current counts to the scaled reference."""
    expected = ref_counts * (cur_counts.sum() / ref_counts.sum())
    unseen = (expected == 0) & (cur_counts > 0)
    if unseen.any():
        rows = int(cur_counts[unseen].sum())
        return 0.0, float("inf"), f"{rows} current rows in values unseen in the reference"
    keep = expected > 0
    if int(keep.sum()) < 2:
        return 1.0, 0.0, "a single value on both sides"
    result = stats.chisquare(cur_counts[keep], expected[keep])
    return float(result.pvalue), float(result.statistic), ""


def _z_test(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, float, str]:
    """Two-proportion z-test on the share of the first key, as Evidently's ``z`` stattest."""
    present = (ref_counts + cur_counts) > 0
    ref_counts, cur_counts = ref_counts[present], cur_counts[present]
    if ref_counts.size == 1:
        return 1.0, 0.0, "a single value on both sides"
    n_ref, n_cur = ref_counts.sum(), cur_counts.sum()
    p_ref, p_cur = ref_counts[0] / n_ref, cur_counts[0] / n_cur
    pooled = (ref_counts[0] + cur_counts[0]) / (n_ref + n_cur)
    z = (p_ref - p_cur) / math.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
    return float(2 * stats.norm.sf(abs(z))), float(z), ""


def _proportion_difference(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    """|share of the first key in the reference - in the window|: the z-test's effect size."""
    present = (ref_counts + cur_counts) > 0
    ref_counts, cur_counts = ref_counts[present], cur_counts[present]
    if ref_counts.size == 1:
        return 0.0
    return float(abs(ref_counts[0] / ref_counts.sum() - cur_counts[0] / cur_counts.sum()))


# --- report level -----------------------------------------------------------------------------


def _with_adjusted_p_values(results: list[ColumnDrift]) -> tuple[ColumnDrift, ...]:
    """Benjamini-Hochberg adjusted p-values across the report's p-value columns."""
    tested = [
        i
        for i, r in enumerate(results)
        if r.method in P_VALUE_METHODS and r.status == "ok" and r.score is not None
    ]
    if not tested:
        return tuple(results)
    raw = np.array([results[i].score for i in tested], dtype=np.float64)
    adjusted = stats.false_discovery_control(raw, method="bh")
    for position, value in zip(tested, adjusted, strict=True):
        results[position] = _replace(results[position], p_value_adjusted=float(value))
    return tuple(results)


def _check_overrides(
    names: Sequence[str],
    method: str,
    methods: Mapping[str, str],
    thresholds: Mapping[str, float],
) -> None:
    if method != "auto" and method not in _METHODS:
        raise SpecError(f"drift.method: unknown method {method!r}; known: {sorted(_METHODS)}")
    for key, mapping in (("methods", methods), ("thresholds", thresholds)):
        for column in mapping:
            if column not in names:
                raise SpecError(f"drift.{key}.{column}: not a monitored column")
    for column, chosen in methods.items():
        if chosen != "auto" and chosen not in _METHODS:
            raise SpecError(
                f"drift.methods.{column}: unknown method {chosen!r}; known: {sorted(_METHODS)}"
            )
    for column, value in thresholds.items():
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise SpecError(f"drift.thresholds.{column}: must be a finite number >= 0")


def _replace(result: ColumnDrift, **changes: object) -> ColumnDrift:
    return replace(result, **changes)  # type: ignore[arg-type]


def _optional_float(value: object) -> float | None:
    return None if value is None else float(str(value))
