"""Static figures for the audit trail: drift per column, performance and group rates with their
intervals, and the trends of the last windows.

Why matplotlib: the figures are PNG images, which MLflow's artifact viewer, nbconvert's HTML of
the executed notebook and the self-contained, sandboxed card HTML all show as they are, without
JavaScript (an interactive chart is blank in two of the three). It is installed with MLflow
already. Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas, never pyplot:
no global state, no GUI backend, safe in a kernel or a worker thread.

Every figure comes back as a ``Plot``: its PNG bytes *and the numbers drawn* (``Plot.data``),
so a reader or a test can check them. Drift shares come from profiles of all rows, never a
sample: the baseline's profile and the window's profile on the baseline's bin edges
(``profile_window``, the same binning ``evaluate_window`` uses). ``window_plots`` draws the set
of one window; a figure that fails is a note, never an error (optional outputs never fail a
window).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar, cast

import numpy as np

from mlflow_monitor.contract import CheckOutcome, WindowResults
from mlflow_monitor.stats.drift import P_VALUE_METHODS, ColumnDrift
from mlflow_monitor.stats.profile import (
    CategoricalProfile,
    ColumnProfile,
    DatasetProfile,
    NumericProfile,
)
from mlflow_monitor.verdicts.trends import TrendSeries, VersionTrends

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "MAX_DRIFT_PLOTS",
    "GroupRate",
    "IntervalRow",
    "Plot",
    "PlotSet",
    "Shares",
    "TrendLines",
    "column_shares",
    "drift_plots",
    "group_rate_plots",
    "key_metrics",
    "performance_plot",
    "profile_window",
    "trend_plot",
    "window_plots",
    "write_plots",
]

T = TypeVar("T", covariant=True)  # a Plot[Shares] is a Plot[object]
DPI = 100
SIZE = (7.0, 3.0)  # inches
MAX_DRIFT_PLOTS = 8  # the worst drifted columns first
SHARE_BINS = 10  # reference-quantile bins of a continuous column
TOP_CATEGORIES = 8  # categories drawn by name; the rest are "other"
EXACT_VALUES = 20  # a numerical column with at most this many values is drawn per value
TREND_PANELS = 3
MAX_GROUPS = 8
# healthy green, warning amber, critical red, as the inline views (views._format); the amber is
# their check amber, lighter than their badge's, so a bar or a strip reads as amber
HEALTH_COLOURS = {
    "healthy": "#1a7f37",
    "warning": "#d4a72c",
    "critical": "#cf222e",
    "error": "#6e2c2c",
}
STATUS_COLOURS = {"pass": "#1a7f37", "warn": "#d4a72c", "fail": "#cf222e", "error": "#6e2c2c"}
REFERENCE = "#8c959f"  # the baseline side
NEUTRAL = "#57606a"  # a value not judged
BAND = "#dafbe1"  # the allowed band
GROUP_RATES = ("selection_rate", "tpr", "fpr", "fnr", "precision", "prevalence", "fdr", "for")
DEFAULT_TRENDS = (("perf/roc_auc", "perf/accuracy", "perf/rmse"), ("drift/share_drifted",))


_Drawn = TypeVar("_Drawn", bound=Callable[..., bytes])


def _styled(draw: _Drawn) -> _Drawn:
    """Run a drawing function under the figures' style (matplotlib's ``rc_context``): set once
    per figure, not per axis (``tick_params`` re-creates every tick: measured 30% slower)."""

    @functools.wraps(draw)
    def styled(*args: object, **kwargs: object) -> bytes:
        import matplotlib

        with matplotlib.rc_context(
            {
                "xtick.labelsize": 7,
                "ytick.labelsize": 7,
                "axes.labelsize": 8,
                "axes.titlesize": 9,
                "legend.fontsize": 7,
                "legend.frameon": False,
                "axes.spines.top": False,
                "axes.spines.right": False,
            }
        ):
            return draw(*args, **kwargs)

    return cast("_Drawn", styled)


@dataclass(frozen=True)
class Plot(Generic[T]):
    """One figure: a file stem (``drift_age``), its title, the PNG, and the numbers drawn."""

    name: str
    title: str
    png: bytes
    data: T


@dataclass(frozen=True)
class PlotSet:
    """The figures of one window and the notes of those that could not be drawn."""

    plots: tuple[Plot[object], ...] = ()
    notes: tuple[str, ...] = ()


# -- drift: the two profiles on the same bins -----------------------------------------------------
@dataclass(frozen=True)
class Shares:
    """Both sides of one column on the same bins (or categories): counts and their totals.

    ``reference_total`` / ``current_total`` are the profiles' counts (finite values of a
    numerical column, non-missing values of a categorical one): the rows drift is computed on.
    """

    column: str
    kind: str  # "numerical" | "categorical"
    labels: tuple[str, ...]
    reference_counts: tuple[int, ...]
    current_counts: tuple[int, ...]
    reference_total: int
    current_total: int
    # a numerical column's bins are right-closed: each one's upper edge (inf: above the
    # baseline's maximum), or each value drawn; empty for a categorical column
    uppers: tuple[float, ...] = ()

    @property
    def reference(self) -> tuple[float, ...]:
        """Share of the baseline's values per bin."""
        return tuple(c / self.reference_total if self.reference_total else 0.0
                     for c in self.reference_counts)  # fmt: skip

    @property
    def current(self) -> tuple[float, ...]:
        """Share of the window's values per bin."""
        return tuple(c / self.current_total if self.current_total else 0.0
                     for c in self.current_counts)  # fmt: skip


def profile_window(
    *, reference: DatasetProfile, frame: pd.DataFrame, columns: Iterable[str]
) -> DatasetProfile:
    """The window's profile of ``columns`` on the baseline's edges and categories (all rows)."""
    names = [c for c in dict.fromkeys(columns) if c in reference.columns and c in frame.columns]
    kinds = {name: reference.columns[name].kind for name in names}
    return DatasetProfile.from_frame(
        frame,
        numerical=[n for n in names if kinds[n] == "numerical"],
        categorical=[n for n in names if kinds[n] == "categorical"],
        reference=reference,
    )


def column_shares(
    reference: ColumnProfile,
    current: ColumnProfile,
    *,
    bins: int = SHARE_BINS,
    top: int = TOP_CATEGORIES,
) -> Shares:
    """Both profiles of a column on the same keys: per value (few values), on ``bins`` of the
    baseline's quantile-edged bins (a continuous column: the fine bins grouped at reference
    quantiles, the values above the baseline's maximum apart), or per category (the ``top``
    categories of either side, the rest as ``other``)."""
    if isinstance(reference, CategoricalProfile) and isinstance(current, CategoricalProfile):
        return _category_shares(reference, current, top)
    if isinstance(reference, NumericProfile) and isinstance(current, NumericProfile):
        exact_r, exact_c = reference.exact, current.exact
        if exact_r is not None and exact_c is not None and exact_r.distinct <= EXACT_VALUES:
            return _value_shares(reference, current)
        return _bin_shares(reference, current, bins)
    raise ValueError(f"column {reference.name!r}: {reference.kind} in one profile only")


def _category_shares(ref: CategoricalProfile, cur: CategoricalProfile, top: int) -> Shares:
    counts_r = dict(zip(ref.categories, ref.counts.tolist(), strict=True))
    counts_c = dict(zip(cur.categories, cur.counts.tolist(), strict=True))
    weight = {
        key: max(counts_r.get(key, 0) / max(ref.count, 1), counts_c.get(key, 0) / max(cur.count, 1))
        for key in {*counts_r, *counts_c}
    }
    shown = sorted(weight, key=lambda k: (-weight[k], k))[:top]
    side_r = [counts_r.get(k, 0) for k in shown]
    side_c = [counts_c.get(k, 0) for k in shown]
    other = (ref.count - sum(side_r), cur.count - sum(side_c))  # the profile's other included
    folded = any(other)
    return Shares(
        column=ref.name,
        kind="categorical",
        labels=(*shown, *(["other"] if folded else [])),
        reference_counts=(*side_r, *([other[0]] if folded else [])),
        current_counts=(*side_c, *([other[1]] if folded else [])),
        reference_total=ref.count,
        current_total=cur.count,
    )


def _value_shares(ref: NumericProfile, cur: NumericProfile) -> Shares:
    assert ref.exact is not None and cur.exact is not None
    union = np.union1d(ref.exact.values, cur.exact.values)
    counts_r = np.zeros(union.size, np.int64)
    counts_c = np.zeros(union.size, np.int64)
    counts_r[np.searchsorted(union, ref.exact.values)] = ref.exact.counts
    counts_c[np.searchsorted(union, cur.exact.values)] = cur.exact.counts
    return _numeric(ref, cur, counts_r, counts_c, union.tolist())


def _bin_shares(ref: NumericProfile, cur: NumericProfile, bins: int) -> Shares:
    """The fine bins (``len(edges) + 1``, right-closed, see ``stats._binning``) grouped at the
    baseline's quantiles; the overflow bin (above the baseline's maximum) stays apart."""
    edges = ref.histogram.edges
    if edges.size == 0 or ref.count == 0:
        raise ValueError(f"column {ref.name!r}: the baseline has no values to bin")
    fine_r = ref.histogram.counts
    cdf = np.cumsum(fine_r)[:-1] / ref.count
    cuts = np.searchsorted(cdf, np.arange(1, bins) / bins, side="left")
    starts = np.unique(np.r_[0, cuts + 1, fine_r.size - 1])
    starts = starts[starts < fine_r.size]
    counts_r = np.add.reduceat(fine_r, starts)
    counts_c = np.add.reduceat(cur.histogram.counts, starts)
    ends = np.r_[starts[1:], fine_r.size] - 1  # last fine bin of each group
    uppers = [float(edges[end]) for end in ends[:-1]] + [math.inf]  # the last: the overflow
    labels = [f"≤ {_number(u)}" for u in uppers[:-1]] + [f"> {_number(float(edges[-1]))}"]
    return _numeric(ref, cur, counts_r, counts_c, uppers, labels)


def _numeric(
    ref: NumericProfile,
    cur: NumericProfile,
    counts_r: np.ndarray,
    counts_c: np.ndarray,
    uppers: list[float],
    labels: list[str] | None = None,
) -> Shares:
    return Shares(
        column=ref.name,
        kind="numerical",
        labels=tuple(labels if labels is not None else (_number(u) for u in uppers)),
        reference_counts=tuple(int(c) for c in counts_r),
        current_counts=tuple(int(c) for c in counts_c),
        reference_total=ref.count,
        current_total=cur.count,
        uppers=tuple(uppers),
    )


def _number(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)


def drift_plots(
    *,
    reference: DatasetProfile,
    current: DatasetProfile,
    drift: Iterable[ColumnDrift],
    statuses: Mapping[str, str] | None = None,
    limit: int = MAX_DRIFT_PLOTS,
) -> list[Plot[Shares]]:
    """One figure per drifted column (the worst ``limit`` first), baseline vs window.

    ``statuses`` maps a column to its drift check's status (colours the window's bars).
    """
    drifted = sorted((c for c in drift if c.drifted), key=_drift_excess, reverse=True)
    plots = []
    for column in drifted[:limit]:
        if column.column not in reference.columns or column.column not in current.columns:
            continue
        shares = column_shares(reference.columns[column.column], current.columns[column.column])
        status = (statuses or {}).get(column.column, "fail")
        title = _drift_title(column)
        png = _draw_shares(shares, title, STATUS_COLOURS.get(status, STATUS_COLOURS["fail"]))
        plots.append(Plot(f"drift_{_stem(column.column)}", title, png, shares))
    return plots


def _drift_excess(c: ColumnDrift) -> float:
    """How far past its line a column drifted (comparable across methods, roughly): a distance
    over its threshold; a p-value method's effect over its minimum effect (0.1 when none)."""
    if c.method in P_VALUE_METHODS:
        return (c.effect or 0.0) / (c.min_effect or 0.1)
    return (c.score or 0.0) / c.threshold if c.threshold else 0.0


def _drift_title(c: ColumnDrift) -> str:
    if c.method in P_VALUE_METHODS:
        rule = "≤" if c.method == "ks" else "<"
        text = f"{c.column}: {c.method} p={_number(c.score or 0.0)} {rule} {c.threshold:g}"
        if c.effect is not None:
            text += f", {c.effect_name} {_number(c.effect)} (min {c.min_effect:g})"
        return text + " — drifted"
    return f"{c.column}: {c.method} {_number(c.score or 0.0)} ≥ {c.threshold:g} — drifted"


@_styled
def _draw_shares(shares: Shares, title: str, colour: str) -> bytes:
    fig, ax = _figure()
    x = np.arange(len(shares.labels))
    width = 0.4
    ax.bar(x - width / 2, shares.reference, width, color=REFERENCE,
           label=f"baseline (n={shares.reference_total:,})")  # fmt: skip
    ax.bar(x + width / 2, shares.current, width, color=colour,
           label=f"window (n={shares.current_total:,})")  # fmt: skip
    ax.set_xticks(x, [_short(label, 14) for label in shares.labels], fontsize=7, rotation=30,
                  ha="right")  # fmt: skip
    ax.set_ylabel("share of values", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig, ax, title)


# -- performance and group rates with their intervals ---------------------------------------------
@dataclass(frozen=True)
class IntervalRow:
    """One value with its confidence interval, the baseline's value and the allowed bound."""

    label: str
    value: float
    low: float | None
    high: float | None
    baseline: float | None
    lower: float | None
    upper: float | None
    status: str
    level: float | None = None


def performance_plot(results: WindowResults) -> Plot[tuple[IntervalRow, ...]] | None:
    """Each measured overall performance metric with its interval, baseline and allowed bound.

    None when the window has no such value (no labels yet).
    """
    rows = tuple(_interval_row(o) for o in results.outcomes if _is_performance(o))
    if not rows:
        return None
    level = next((r.level for r in rows if r.level), None)
    title = "performance with " + (f"{level:.0%} " if level else "") + "intervals"
    return Plot("performance", title, _draw_intervals(rows, title), rows)


def _is_performance(o: CheckOutcome) -> bool:
    return o.kind == "performance" and o.basis == "measured" and _finite(o.value) is not None


def _interval_row(o: CheckOutcome) -> IntervalRow:
    interval, threshold = o.interval, o.threshold
    return IntervalRow(
        label=o.metric or o.check_id.rsplit("/", 1)[-1],
        value=float(o.value or 0.0),
        low=_finite(interval.low) if interval else None,
        high=_finite(interval.high) if interval else None,
        baseline=_finite(o.baseline),
        lower=_finite(threshold.lower) if threshold else None,
        upper=_finite(threshold.upper) if threshold else None,
        status=o.status,
        level=interval.level if interval else None,
    )


@_styled
def _draw_intervals(rows: Sequence[IntervalRow], title: str) -> bytes:
    """Small multiples, one metric each on its own scale: the value with its interval (coloured
    by status), the baseline (grey diamond) and the allowed bound (red dashes)."""
    fig = _new_figure(SIZE)
    axes = fig.subplots(1, len(rows), squeeze=False)[0]
    for ax, row in zip(axes, rows, strict=True):
        colour = STATUS_COLOURS.get(row.status, NEUTRAL)
        low = row.value - row.low if row.low is not None else 0.0
        high = row.high - row.value if row.high is not None else 0.0
        ax.errorbar([0], [row.value], yerr=[[low], [high]], fmt="o", color=colour, capsize=4)
        if row.baseline is not None:
            ax.plot([0], [row.baseline], marker="D", color=REFERENCE, linestyle="none")
        for bound in (row.lower, row.upper):
            if bound is not None:
                ax.axhline(bound, color=STATUS_COLOURS["fail"], linestyle="--", linewidth=1)
        ax.set_xticks([0], [row.label], fontsize=8)
        ax.set_xlim(-1, 1)
    fig.suptitle(title + " (◆ baseline, -- allowed bound)", fontsize=9)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.85, bottom=0.12, wspace=0.6)
    return _save(fig)


@dataclass(frozen=True)
class GroupRate:
    """One group's rate with its Wilson interval, denominator and the baseline's rate."""

    attribute: str
    group: str
    metric: str
    value: float
    low: float | None
    high: float | None
    denominator: int | None
    baseline: float | None = None


def group_rate_plots(results: WindowResults) -> list[Plot[tuple[GroupRate, ...]]]:
    """Per protected attribute, each group's rates (those present) with their intervals."""
    report = _mapping(_mapping(results.statistics().get("fairness")).get("report"))
    baselines = _bias_baselines(results.outcomes)
    plots = []
    for raw in _list(report.get("attributes")):
        attribute = _mapping(raw)
        name = str(attribute.get("attribute"))
        rates = _group_rates(name, attribute, baselines)
        if not rates:
            continue
        level = report.get("level")
        title = f"{name}: group rates with " + (
            f"{level:.0%} Wilson intervals" if isinstance(level, float) else "Wilson intervals"
        )
        plots.append(Plot(f"groups_{_stem(name)}", title, _draw_groups(rates, title), rates))
    return plots


def _group_rates(
    name: str, attribute: Mapping[str, object], baselines: Mapping[str, float]
) -> tuple[GroupRate, ...]:
    groups = [_mapping(g) for g in _list(attribute.get("groups"))]
    groups.sort(key=lambda g: -_int(g.get("size")))
    found = []
    for group in groups[:MAX_GROUPS]:
        label = str(group.get("group"))
        values, intervals = _mapping(group.get("rates")), _mapping(group.get("intervals"))
        denominators = _mapping(group.get("denominators"))
        for metric in GROUP_RATES:
            value = _finite(values.get(metric))
            if value is None:
                continue
            bounds = _list(intervals.get(metric))
            low, high = (
                (_finite(bounds[0]), _finite(bounds[1])) if len(bounds) == 2 else (None,) * 2
            )
            n = denominators.get(metric)
            found.append(GroupRate(
                name, label, metric, value, low, high, n if isinstance(n, int) else None,
                baselines.get(f"bias_drift/{name}={label}/{metric}"),
            ))  # fmt: skip
    return tuple(found)


def _bias_baselines(outcomes: Iterable[CheckOutcome]) -> dict[str, float]:
    """The baseline's rate of each group and metric, from the bias-drift outcomes."""
    found = {}
    for o in outcomes:
        if o.kind != "bias_drift":
            continue
        value = _finite(o.baseline) if o.baseline is not None else None
        value = value if value is not None else _finite(o.evidence.get("baseline_value"))
        if value is not None:
            found[o.check_id] = value
    return found


@_styled
def _draw_groups(rates: Sequence[GroupRate], title: str) -> bytes:
    fig, ax = _figure()
    _group_axes(ax, rates)
    return _png(fig, ax, title + " (◆ baseline)")


def _group_axes(ax: Axes, rates: Sequence[GroupRate]) -> None:
    """Each group's rates side by side per metric, a fixed colour per group name."""
    metrics = list(dict.fromkeys(r.metric for r in rates))
    groups = list(dict.fromkeys(r.group for r in rates))
    step = 0.8 / max(len(groups), 1)
    colours = _group_colours(groups)
    for i, group in enumerate(groups):
        mine = [r for r in rates if r.group == group]
        x = np.array([metrics.index(r.metric) for r in mine]) - 0.4 + step * (i + 0.5)
        y = np.array([r.value for r in mine])
        low = np.array([r.value - r.low if r.low is not None else 0.0 for r in mine])
        high = np.array([r.high - r.value if r.high is not None else 0.0 for r in mine])
        ax.errorbar(x, y, yerr=[low, high], fmt="o", color=colours[group], capsize=3, markersize=4,
                    label=_short(group, 20))  # fmt: skip
        based = [(xi, r.baseline) for xi, r in zip(x, mine, strict=True) if r.baseline is not None]
        if based:
            ax.plot(*zip(*based, strict=True), marker="D", markersize=3, linestyle="none",
                    color=REFERENCE)  # fmt: skip
    ax.set_xticks(range(len(metrics)), metrics, fontsize=8)
    ax.set_xlim(-0.5, len(metrics) - 0.5)  # one metric: its groups centred, not at the edges
    ax.set_ylabel("rate", fontsize=8)
    ax.legend(fontsize=7, frameon=False, ncol=min(len(groups), 4))


def _group_colours(groups: Sequence[str]) -> dict[str, str]:
    """A fixed colour per group name (its place in sorted order), the same in every window
    that has the same groups; drawn in size order regardless."""
    return {group: f"C{i % 10}" for i, group in enumerate(sorted(groups))}


# -- trends of the last windows -------------------------------------------------------------------
@dataclass(frozen=True)
class TrendLines:
    """What a trend figure drew: the metrics, the windows (by end), health and crossed points."""

    metrics: tuple[str, ...]
    windows: tuple[str, ...]
    healths: tuple[str, ...]
    crossed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # metric -> ends
    partial: tuple[bool, ...] = ()  # per window: hatched on the health strip
    gaps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # metric -> ends, no value


def key_metrics(trends: VersionTrends, *, limit: int = TREND_PANELS) -> tuple[str, ...]:
    """The series that crossed (latest first), then a performance metric and the drifted share."""
    chosen = [s.metric for s in trends.failing[:limit]]
    for names in DEFAULT_TRENDS:
        found = next((n for n in names if trends.series_for(n) is not None), None)
        if found is not None and found not in chosen:
            chosen.append(found)
    return tuple(chosen[:limit])


def trend_plot(
    trends: VersionTrends, *, metrics: Sequence[str] = (), limit: int = TREND_PANELS
) -> Plot[TrendLines] | None:
    """The key metrics per window with their bands, crossings in red, and the health strip.

    None when there is no window or none of the metrics was logged.
    """
    names = tuple(metrics) or key_metrics(trends, limit=limit)
    series = [s for s in (trends.series_for(n) for n in names) if s is not None]
    if not trends.windows or not series:
        return None
    lines = TrendLines(
        metrics=tuple(s.metric for s in series),
        windows=tuple(w.window_end for w in trends.windows),
        healths=tuple(w.health for w in trends.windows),
        crossed={s.metric: tuple(p.window_end for p in s.crossings) for s in series},
        partial=tuple(w.partial for w in trends.windows),
        gaps={s.metric: _missing(trends, s) for s in series},
    )
    title = f"{trends.model}: last {_windows(len(trends.windows))}"
    return Plot("trends", title, _draw_trends(trends, series, title), lines)


@_styled
def _draw_trends(trends: VersionTrends, series: Sequence[TrendSeries], title: str) -> bytes:
    ratios = [3.0] * len(series) + [0.6]
    fig = _new_figure((SIZE[0], 1.1 * len(series) + 1.3))
    axes = fig.subplots(len(series) + 1, 1, sharex=True, gridspec_kw={"height_ratios": ratios})
    index = {w.run_id: i for i, w in enumerate(trends.windows)}
    for ax, s in zip(axes, series, strict=False):
        _draw_series(ax, s, index)
    _draw_strip(axes[-1], trends)
    fig.suptitle(title + " (band: allowed; red: crossed)", fontsize=9)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.15, hspace=0.45)
    return _save(fig)


def _draw_series(ax: Axes, s: TrendSeries, index: Mapping[str, int]) -> None:
    """The series over every window slot: a window without a value (no labels yet) is a gap in
    the line (NaN), never a straight line across it."""
    points = [p for p in s.points if p.run_id in index and _finite(p.value) is not None]
    x = np.array([index[p.run_id] for p in points], dtype=float)
    y = np.array([float(p.value or 0.0) for p in points])
    bounds = [b for p in points for b in (p.lower, p.upper) if _finite(b) is not None]
    seen = [*y.tolist(), *(float(b or 0.0) for b in bounds)]
    low, high = (min(seen), max(seen)) if seen else (0.0, 1.0)
    pad = (high - low) * 0.15 or abs(high) * 0.1 or 0.1
    bottom, top = low - pad, high + pad
    slots, line = _gapped(x, y, len(index))
    if s.banded:  # each window's own band, as wide as its slot; none where the line has a gap
        lower = [bottom if _finite(p.lower) is None else float(p.lower or 0.0) for p in points]
        upper = [top if _finite(p.upper) is None else float(p.upper or 0.0) for p in points]
        edges = np.column_stack([slots - 0.5, slots + 0.5]).ravel()
        ax.fill_between(
            edges,
            np.repeat(_gapped(x, np.array(lower), len(index))[1], 2),
            np.repeat(_gapped(x, np.array(upper), len(index))[1], 2),
            color=BAND,
            linewidth=0,
        )
    ax.plot(slots, line, color=NEUTRAL, marker="o", markersize=3, linewidth=1)
    crossed = [i for i, p in enumerate(points) if p.crossed]
    if crossed:
        ax.plot(x[crossed], y[crossed], "o", color=STATUS_COLOURS["fail"], markersize=6)
    ax.set_ylim(bottom, top)
    ax.set_title(s.metric, fontsize=8, loc="left", pad=2)


def _missing(trends: VersionTrends, s: TrendSeries) -> tuple[str, ...]:
    """The ends of the windows where ``s`` has no finite value (a gap in its line)."""
    valued = {p.run_id for p in s.points if _finite(p.value) is not None}
    return tuple(w.window_end for w in trends.windows if w.run_id not in valued)


def _gapped(x: np.ndarray, y: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window slot ``0..count-1`` with its value, NaN where the window has none."""
    line = np.full(count, np.nan)
    line[x.astype(int)] = y
    return np.arange(count, dtype=float), line


def _draw_strip(ax: Axes, trends: VersionTrends) -> None:
    """One bar per window in its health's colour; a partial window (not every check ran) is
    hatched and labelled ``partial``."""
    count = len(trends.windows)
    colours = [HEALTH_COLOURS.get(w.health, NEUTRAL) for w in trends.windows]
    bars = ax.bar(range(count), [1] * count, width=0.95, color=colours)
    for bar, window in zip(bars, trends.windows, strict=True):
        if window.partial:
            bar.set_hatch("///")
            bar.set_edgecolor("white")
    ax.set_yticks([])
    ax.set_title("health", fontsize=8, loc="left", pad=2)
    labels = [
        _window_label(w.window_end) + ("\npartial" if w.partial else "") for w in trends.windows
    ]
    ax.set_xticks(range(count), labels, fontsize=7, rotation=30, ha="right")
    ax.set_xlim(-0.5, count - 0.5)


def _windows(count: int) -> str:
    return f"{count} window" if count == 1 else f"{count} windows"


def _window_label(end: str) -> str:
    """A window end as a short date (``2026-11-30``), or with the time when it is not midnight."""
    day, _, time = end.partition("T")
    return day if time.startswith("00:00:00") or not time else f"{day} {time[:5]}"


# -- one window's set -----------------------------------------------------------------------------
def window_plots(
    *,
    results: WindowResults,
    reference: DatasetProfile,
    frame: pd.DataFrame | None = None,
    drift: Iterable[ColumnDrift] = (),
    trends: VersionTrends | None = None,
    limit: int = MAX_DRIFT_PLOTS,
) -> PlotSet:
    """Every figure of one window; a figure that cannot be drawn is a note naming it and why.

    ``drift`` is the window's column drift (feature and prediction); its drifted columns are
    re-profiled from ``frame`` (all rows) on ``reference``'s edges.
    """
    drifted = sorted((c for c in drift if c.drifted), key=_drift_excess, reverse=True)
    statuses = _drift_statuses(results.outcomes)
    steps: list[tuple[str, Callable[[], Sequence[Plot[object]]]]] = []
    if frame is not None:
        steps += [
            (
                f"drift_{_stem(c.column)}",
                functools.partial(_column_plot, c, reference, frame, statuses),
            )
            for c in drifted[:limit]
        ]
    steps += [
        ("performance", lambda: [p for p in (performance_plot(results),) if p is not None]),
        ("groups", lambda: group_rate_plots(results)),
        ("trends", lambda: [p for p in (trend_plot(trends),) if p is not None] if trends else []),
    ]
    plots: list[Plot[object]] = []
    notes: list[str] = []
    for name, draw in steps:
        try:
            plots += draw()
        except Exception as exc:  # optional output: a note, never a failed window
            notes.append(f"plots: {name} not drawn ({type(exc).__name__}: {exc})")
    return PlotSet(tuple(plots), tuple(notes))


def _drift_statuses(outcomes: Iterable[CheckOutcome]) -> dict[str, str]:
    """Each drifted column's drift status, by its exact name: a drift check id is
    ``drift/<column>``, the column being everything after the first ``/`` (``drift/x/y``: x/y)."""
    return {
        o.check_id.split("/", 1)[1]: o.status
        for o in outcomes
        if o.kind == "drift" and o.check_id != "drift/share_drifted" and "/" in o.check_id
    }


def _column_plot(
    column: ColumnDrift,
    reference: DatasetProfile,
    frame: pd.DataFrame,
    statuses: Mapping[str, str],
) -> list[Plot[Shares]]:
    """One drifted column: the window re-profiled (all rows) on the baseline's edges, drawn."""
    current = profile_window(reference=reference, frame=frame, columns=[column.column])
    return drift_plots(reference=reference, current=current, drift=[column], statuses=statuses)


def write_plots(
    plots: Iterable[Plot[object]], folder: str | Path, *, notes: list[str] | None = None
) -> list[Path]:
    """Write each figure as ``<folder>/<name>.png``; the paths written.

    Each figure is written on its own: one that cannot be written does not stop the others. Its
    failure is appended to ``notes`` when given; otherwise, once the others are written, an
    ``OSError`` names every figure not written. Two figures of one name (or of names equal but
    for case, one file on a case-insensitive disk) are both kept: the second gets a hash suffix.
    """
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failed: list[str] = []
    taken: set[str] = set()
    for plot in plots:
        name = _free_name(plot.name, taken)
        path = target / f"{name}.png"
        try:
            path.write_bytes(plot.png)
        except OSError as exc:
            failed.append(f"plots: {name} not written ({type(exc).__name__}: {exc})")
            continue
        written.append(path)
    if notes is not None:
        notes += failed
    elif failed:
        raise OSError("; ".join(failed))
    return written


def _free_name(name: str, taken: set[str]) -> str:
    """``name``, or with a hash suffix when a name equal to it but for case was taken."""
    free = name
    while free.casefold() in taken:
        free = f"{name}-{_digest(free)}"
    taken.add(free.casefold())
    return free


# -- drawing helpers ------------------------------------------------------------------------------
def _new_figure(size: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _figure() -> tuple[Figure, Axes]:
    fig = _new_figure(SIZE)
    return fig, fig.subplots()


def _png(fig: Figure, ax: Axes, title: str) -> bytes:
    ax.set_title(_short(title, 110), fontsize=9)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.88, bottom=0.25)
    return _save(fig)


def _save(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


_UNSAFE = re.compile(r"[^A-Za-z0-9_.]+")
_CLEAN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]*")
STEM_CHARS = 64  # a stem's sanitized part at most: file names stay far below 255 bytes


def _stem(name: str) -> str:
    """A file-name-safe form of a column or attribute name, one per name and bounded in length.

    A short name of letters, digits, ``_`` and ``.`` is its own stem; any other (sanitized,
    cut, or with a ``-``) becomes its sanitized form, cut to ``STEM_CHARS``, then ``-`` and a
    hash of the real name. A clean stem has no ``-``, so it never equals a hashed one: ``x/y``
    is ``x_y-<hash>`` and ``x_y`` stays ``x_y``; ``*c*`` is ``c-<hash>`` and ``c`` stays ``c``.
    """
    if _CLEAN.fullmatch(name) and len(name) <= STEM_CHARS:
        return name
    safe = _UNSAFE.sub("_", name).strip("_")[:STEM_CHARS] or "column"
    return f"{safe}-{_digest(name)}"


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
