"""adapters.plots: the numbers drawn come from the profiles of all rows; the figures are PNGs;
the trend figure marks the windows where a check fired; a figure that fails is a note."""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.colors import to_hex

from mlflow_monitor.adapters import plots
from mlflow_monitor.adapters.notebook_parameters import read_trends, write_trends
from mlflow_monitor.contract import (
    AppliedThreshold,
    CheckOutcome,
    Interval,
    MetricValue,
    Status,
    WindowResults,
)
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.stats.profile import CategoricalProfile, DatasetProfile, NumericProfile
from mlflow_monitor.verdicts.baseline_model import Baseline, build_baseline_from_frame
from mlflow_monitor.verdicts.evaluation import WindowResult, evaluate_window
from mlflow_monitor.verdicts.trends import WindowRecord, build_trends
from mlflow_monitor.workflows import demo, notebook_trends

PNG = b"\x89PNG\r\n\x1a\n"


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    frame["churn_score"] = 1 / (1 + np.exp(-0.05 * (frame["monthly_charges"] - 70)))
    frame["prediction"] = (frame["churn_score"] >= 0.5).astype(np.int64)
    return frame


@dataclass(frozen=True)
class Judged:
    spec: MonitorSpec
    baseline: Baseline
    frame: pd.DataFrame
    result: WindowResult


@pytest.fixture(scope="module")
def judged() -> Judged:
    """A drifted churn window judged against its baseline (real statistics, no MLflow)."""
    body = yaml.safe_load(demo.CHURN_SPEC.format(model="churn"))
    del body["card"]
    spec = parse_spec(body)
    baseline = build_baseline_from_frame(spec, _scored(demo.make_churn(2_000, seed=1)))
    frame = _scored(demo.make_churn(1_500, seed=2, drift=0.8))
    return Judged(spec, baseline, frame, evaluate_window(spec, baseline, frame, model_version="1"))


def _size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG)
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _window_profile(judged: Judged, column: str) -> DatasetProfile:
    return plots.profile_window(
        reference=judged.baseline.profile, frame=judged.frame, columns=[column]
    )


def test_numerical_shares_are_the_profiles_counts_on_the_baselines_quantile_bins(
    judged: Judged,
) -> None:
    reference = judged.baseline.profile.columns["monthly_charges"]
    current = _window_profile(judged, "monthly_charges").columns["monthly_charges"]
    assert isinstance(reference, NumericProfile) and isinstance(current, NumericProfile)
    shares = plots.column_shares(reference, current)
    # every row of both sides, binned on the same edges: the totals are the profiles' counts
    assert shares.reference_total == reference.count == 2_000
    assert shares.current_total == current.count == 1_500
    assert sum(shares.reference_counts) == 2_000 and sum(shares.current_counts) == 1_500
    assert shares.current == tuple(c / 1_500 for c in shares.current_counts)
    # the baseline's quantile bins: about a tenth of the baseline each, nothing above its maximum
    assert all(0.08 <= s <= 0.12 for s in shares.reference[:-1])
    assert shares.labels[-1].startswith(">") and shares.reference_counts[-1] == 0
    # each bin's window count is the raw frame's count of values in that bin (all rows)
    values = judged.frame["monthly_charges"].to_numpy()
    assert shares.uppers[-1] == np.inf
    assert set(shares.uppers[:-1]) <= set(reference.histogram.edges.tolist())
    lower = -np.inf
    for upper, count in zip(shares.uppers, shares.current_counts, strict=True):
        assert count == int(((values > lower) & (values <= upper)).sum())
        lower = upper


def test_categorical_shares_are_category_counts_with_the_rest_as_other(judged: Judged) -> None:
    reference = judged.baseline.profile.columns["contract"]
    current = _window_profile(judged, "contract").columns["contract"]
    assert isinstance(reference, CategoricalProfile) and isinstance(current, CategoricalProfile)
    shares = plots.column_shares(reference, current)
    counted = judged.frame["contract"].value_counts()
    assert dict(zip(shares.labels, shares.current_counts, strict=True)) == counted.to_dict()
    assert shares.current_total == 1_500
    few = plots.column_shares(reference, current, top=1)
    assert few.labels == ("month-to-month", "other")
    assert few.current_counts == (counted["month-to-month"], 1_500 - counted["month-to-month"])


def test_a_column_with_few_values_is_drawn_per_value(judged: Judged) -> None:
    reference = judged.baseline.profile.columns["support_calls"]
    current = _window_profile(judged, "support_calls").columns["support_calls"]
    shares = plots.column_shares(reference, current)
    counted = judged.frame["support_calls"].value_counts()
    drawn = dict(zip(shares.labels, shares.current_counts, strict=True))
    assert {label: n for label, n in drawn.items() if n} == {
        str(value): int(n) for value, n in counted.items()
    }


def test_drift_figures_for_the_drifted_columns_worst_first_with_method_and_threshold(
    judged: Judged,
) -> None:
    drift = judged.result.drift
    drifted = [c for c in drift.columns if c.drifted]
    assert len(drifted) >= 2
    current = plots.profile_window(
        reference=judged.baseline.profile,
        frame=judged.frame,
        columns=[c.column for c in drift.columns],
    )
    found = plots.drift_plots(
        reference=judged.baseline.profile, current=current, drift=drift.columns, limit=2
    )
    assert len(found) == 2
    assert [p.data.column for p in found] == [
        c.column
        for c in sorted(drifted, key=lambda c: (c.score or 0) / c.threshold, reverse=True)[:2]
    ]
    first = next(c for c in drifted if c.column == found[0].data.column)
    assert found[0].title.startswith(f"{first.column}: {first.method} ")
    assert f"{first.threshold:g}" in found[0].title and "drifted" in found[0].title
    assert found[0].name == f"drift_{first.column}"
    assert _size(found[0].png) == (700, 300)


def test_performance_figure_draws_each_metric_with_its_interval_baseline_and_bound(
    judged: Judged,
) -> None:
    plot = plots.performance_plot(judged.result)
    assert plot is not None and _size(plot.png) == (700, 300)
    outcomes = {
        o.metric: o
        for o in judged.result.outcomes
        if o.kind == "performance" and o.basis == "measured"
    }
    assert {r.label for r in plot.data} == {"roc_auc", "recall", "f1"}
    for row in plot.data:
        o = outcomes[row.label]
        assert o.interval is not None and o.threshold is not None
        assert (row.value, row.low, row.high) == (o.value, o.interval.low, o.interval.high)
        assert (row.baseline, row.lower, row.status) == (o.baseline, o.threshold.lower, o.status)
        assert row.low is not None and row.high is not None and row.low <= row.value <= row.high


def test_group_rates_figure_draws_each_groups_rates_with_their_wilson_intervals(
    judged: Judged,
) -> None:
    (plot,) = plots.group_rate_plots(judged.result)
    assert plot.name == "groups_gender"
    report = judged.result.statistics()["fairness"]["report"]  # type: ignore[index]
    groups = {g["group"]: g for g in report["attributes"][0]["groups"]}
    assert {r.group for r in plot.data} == {"female", "male"}
    for rate in plot.data:
        group = groups[rate.group]
        assert rate.value == group["rates"][rate.metric]
        assert [rate.low, rate.high] == list(group["intervals"][rate.metric])
        assert rate.denominator == group["denominators"][rate.metric]
    selection = {r.group: r for r in plot.data if r.metric == "selection_rate"}
    assert {"tpr", "fpr"} <= {r.metric for r in plot.data}
    assert all(r.baseline is not None for r in selection.values())  # from the bias-drift checks


def _window(
    end: str, health: str, value: float, status: Status, *, share: float = 0.0
) -> WindowRecord:
    outcome = CheckOutcome(
        "performance/roc_auc",
        "performance",
        status,
        "critical",
        value,
        AppliedThreshold(0.75, None, "baseline"),
        "",
        metric="roc_auc",
        interval=Interval(value - 0.02, value + 0.02, 0.95, "delong"),
        baseline=0.8,
    )
    results = WindowResults(
        model="churn",
        model_version="1",
        window_start=None,
        window_end=end,
        rows=100,
        health=health,  # type: ignore[arg-type]
        outcomes=(outcome,),
        metrics=(MetricValue("perf/roc_auc", value), MetricValue("drift/share_drifted", share)),
    )
    return WindowRecord(f"run-{end[:10]}", results)


def test_trend_figure_marks_the_window_where_the_check_fired_and_each_windows_health() -> None:
    trends = build_trends(
        model="churn",
        windows=[
            _window("2025-01-06T00:00:00Z", "healthy", 0.80, "pass"),
            _window("2025-01-13T00:00:00Z", "healthy", 0.78, "pass", share=0.2),
            _window("2025-01-20T00:00:00Z", "critical", 0.70, "fail", share=0.5),
        ],
    )
    assert plots.key_metrics(trends) == ("perf/roc_auc", "drift/share_drifted")
    plot = plots.trend_plot(trends)
    assert plot is not None and plot.name == "trends"
    assert plot.data.metrics == ("perf/roc_auc", "drift/share_drifted")
    assert plot.data.healths == ("healthy", "healthy", "critical")
    assert plot.data.crossed == {
        "perf/roc_auc": ("2025-01-20T00:00:00Z",),
        "drift/share_drifted": (),
    }
    width, height = _size(plot.png)
    assert width == 700 and 300 <= height <= 400


def test_without_a_crossing_the_trends_show_performance_and_the_drifted_share() -> None:
    trends = build_trends(
        model="churn", windows=[_window("2025-01-06T00:00:00Z", "healthy", 0.8, "pass")]
    )
    plot = plots.trend_plot(trends)
    assert plot is not None
    assert plot.data.metrics == ("perf/roc_auc", "drift/share_drifted")
    assert plot.data.crossed == {"perf/roc_auc": (), "drift/share_drifted": ()}


def test_window_plots_draws_the_set_and_writes_pngs(judged: Judged, tmp_path: Path) -> None:
    drift = [*judged.result.drift.columns]
    drawn = plots.window_plots(
        results=judged.result, reference=judged.baseline.profile, frame=judged.frame, drift=drift
    )
    assert drawn.notes == ()
    names = [p.name for p in drawn.plots]
    drifted = sum(c.drifted for c in drift)
    assert len([n for n in names if n.startswith("drift_")]) == min(drifted, 8)
    assert {"performance", "groups_gender"} <= set(names)
    written = plots.write_plots(drawn.plots, tmp_path / "plots")
    assert [p.name for p in written] == [f"{n}.png" for n in names]
    assert all(p.read_bytes().startswith(PNG) for p in written)


def test_a_figure_that_cannot_be_drawn_is_a_note(judged: Judged) -> None:
    broken = judged.frame.assign(monthly_charges="not a number")
    drawn = plots.window_plots(
        results=judged.result,
        reference=judged.baseline.profile,
        frame=broken,
        drift=judged.result.drift.columns,
    )
    (note,) = drawn.notes
    assert note.startswith("plots: drift_monthly_charges not drawn (DataError: column ")
    names = {p.name for p in drawn.plots}
    assert {"performance", "groups_gender", "drift_contract"} <= names  # the others are drawn
    assert "drift_monthly_charges" not in names


def test_a_window_without_labels_has_no_performance_figure(judged: Judged) -> None:
    unlabelled = dataclasses.replace(
        judged.result, outcomes=tuple(o for o in judged.result.outcomes if o.kind != "performance")
    )
    assert plots.performance_plot(unlabelled) is None


def test_the_notebooks_trends_are_the_previous_windows_and_this_one(tmp_path: Path) -> None:
    this = _window("2025-01-20T00:00:00Z", "critical", 0.70, "fail").results
    previous = [
        _window("2025-01-06T00:00:00Z", "healthy", 0.80, "pass"),
        dataclasses.replace(_window("2025-01-20T00:00:00Z", "healthy", 0.79, "pass"), run_id="old"),
        _window("2025-01-27T00:00:00Z", "healthy", 0.80, "pass"),  # a backfill: later windows
    ]
    path = write_trends(previous, tmp_path / "trends.json")
    assert [r.run_id for r in read_trends(str(path))] == [r.run_id for r in previous]
    trends = notebook_trends.this_window_trends(str(path), this)
    # an earlier attempt at this window and a later window are left out
    assert [w.run_id for w in trends.windows] == ["run-2025-01-06", notebook_trends.THIS_WINDOW]
    plot = plots.trend_plot(trends)
    assert plot is not None and plot.data.crossed["perf/roc_auc"] == ("2025-01-20T00:00:00Z",)
    alone = notebook_trends.this_window_trends("", this)
    assert [w.run_id for w in alone.windows] == [notebook_trends.THIS_WINDOW]


def test_window_figures_writes_the_pngs_and_notes_what_it_could_not_read(
    judged: Judged, tmp_path: Path
) -> None:
    figures = notebook_trends.window_figures(
        judged.result,
        reference=judged.baseline.profile,
        frame=judged.frame,
        trends_path=str(tmp_path / "absent.json"),
        folder=tmp_path / "plots",
    )
    (note,) = figures.notes
    assert note.startswith("plots: previous windows not read (FileNotFoundError: ")
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == sorted(f"{p.name}.png" for p in figures.plots)
    assert "trends.png" not in names and "performance.png" in names


# -- file names, colours, gaps (found by a new user's trial) --------------------------------------
def test_each_column_has_its_own_bounded_file_name(tmp_path: Path) -> None:
    names = ["x/y", "x_y", "*c*", "c", "C", "é" * 200, "a" * 300, "b-c", "b_c", "_c"]
    stems = [plots._stem(n) for n in names]
    assert len(set(stems)) == len(names)
    assert stems[1] == "x_y" and stems[3] == "c" and stems[0].startswith("x_y-")
    assert all(len(f"drift_{s}.png".encode()) <= 100 for s in stems)
    assert plots._stem("x/y") == stems[0]  # the same column, the same file every window
    figures = [
        plots.Plot(f"drift_{s}", n, PNG + n.encode(), None)
        for s, n in zip(stems, names, strict=True)
    ]
    written = plots.write_plots(figures, tmp_path)
    assert len(written) == len(names) and len({p.name.casefold() for p in written}) == len(names)
    assert [p.read_bytes() for p in written] == [f.png for f in figures]  # none overwritten


def test_a_figure_that_cannot_be_written_is_a_note_and_the_others_are_written(
    tmp_path: Path,
) -> None:
    figures = [
        plots.Plot("first", "", PNG + b"1", None),
        plots.Plot("x" * 300, "", PNG + b"2", None),  # too long a file name: OSError
        plots.Plot("third", "", PNG + b"3", None),
    ]
    notes: list[str] = []
    written = plots.write_plots(figures, tmp_path / "a", notes=notes)
    assert [p.name for p in written] == ["first.png", "third.png"]
    (note,) = notes
    assert note.startswith("plots: xxx") and "not written (OSError" in note
    with pytest.raises(OSError, match="not written"):  # no notes list: raised after the others
        plots.write_plots(figures, tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["first.png", "third.png"]


def test_a_columns_colour_is_its_own_drift_status_even_with_a_slash_in_its_name() -> None:
    def drift(column: str, status: Status) -> CheckOutcome:
        return CheckOutcome(f"drift/{column}", "drift", status, "warning", 0.3, None, "")

    outcomes = [drift("x/y", "warn"), drift("y", "fail"), drift("share_drifted", "fail")]
    assert plots._drift_statuses(outcomes) == {"x/y": "warn", "y": "fail"}


def _axes() -> object:
    return plots._new_figure(plots.SIZE).subplots()


def test_a_window_without_a_value_is_a_gap_in_the_trend_line() -> None:
    unlabelled = _window("2025-01-13T00:00:00Z", "healthy", 0.78, "pass")
    no_labels = dataclasses.replace(
        unlabelled.results,
        outcomes=(),
        metrics=(MetricValue("drift/share_drifted", 0.1),),
    )
    trends = build_trends(
        model="churn",
        windows=[
            _window("2025-01-06T00:00:00Z", "healthy", 0.80, "pass"),
            dataclasses.replace(unlabelled, results=no_labels),
            _window("2025-01-20T00:00:00Z", "healthy", 0.79, "pass"),
        ],
    )
    plot = plots.trend_plot(trends, metrics=["perf/roc_auc"])
    assert plot is not None and plot.data.gaps == {"perf/roc_auc": ("2025-01-13T00:00:00Z",)}
    auc = trends.series_for("perf/roc_auc")
    assert auc is not None
    ax = _axes()
    plots._draw_series(ax, auc, {w.run_id: i for i, w in enumerate(trends.windows)})  # type: ignore[arg-type]
    (line,) = ax.lines  # type: ignore[attr-defined]
    assert list(line.get_xdata()) == [0.0, 1.0, 2.0]
    y = line.get_ydata()
    assert y[0] == 0.80 and np.isnan(y[1]) and y[2] == 0.79  # a gap, not a line across
    (band,) = ax.collections  # type: ignore[attr-defined]
    assert len(band.get_paths()) == 2  # the band too: one piece each side of the gap


def test_partial_windows_are_hatched_on_the_health_strip_and_titles_count_right() -> None:
    trends = build_trends(
        model="churn", windows=[_window("2025-01-06T00:00:00Z", "healthy", 0.8, "pass")]
    )
    plot = plots.trend_plot(trends)
    assert plot is not None and plot.title == "churn: last 1 window"
    marks = (dataclasses.replace(trends.windows[0], partial=True),)
    partial = dataclasses.replace(trends, windows=marks)
    ax = _axes()
    plots._draw_strip(ax, partial)  # type: ignore[arg-type]
    (bar,) = ax.patches  # type: ignore[attr-defined]
    assert bar.get_hatch() == "///"
    assert "partial" in ax.get_xticklabels()[0].get_text()  # type: ignore[attr-defined]
    drawn = plots.trend_plot(partial)
    assert drawn is not None and drawn.data.partial == (True,)


def test_a_group_keeps_its_colour_whatever_the_order_and_one_metric_is_centred() -> None:
    one = [plots.GroupRate("g", name, "selection_rate", 0.5, 0.4, 0.6, 100) for name in "ba"]
    assert plots._group_colours(["b", "a"]) == plots._group_colours(["a", "b"])
    assert plots._group_colours(["male", "female"])["female"] == "C0"
    ax = _axes()
    plots._group_axes(ax, one)  # type: ignore[arg-type]
    assert ax.get_xlim() == (-0.5, 0.5)  # type: ignore[attr-defined]
    xs = sorted(float(x) for line in ax.lines for x in line.get_xdata())  # type: ignore[attr-defined]
    assert -0.5 < xs[0] < xs[-1] < 0.5  # the groups beside each other, not at the edges
    drawn = _group_line_colours(ax)  # each group's errorbar: label -> colour
    assert drawn == {"b": to_hex("C1"), "a": to_hex("C0")}  # sorted order, not size order


def _group_line_colours(ax: object) -> dict[str, str]:
    return {
        str(c.get_label()): to_hex(c.lines[0].get_color())
        for c in ax.containers  # type: ignore[attr-defined]
    }
