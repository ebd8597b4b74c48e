"""ValueSketch: one sketch and one set of edges whatever the split; exact bins; resolution."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.stats import _binning
from mlflow_monitor.stats.drift import compute_drift
from mlflow_monitor.stats.profile import DatasetProfile, Histogram, NumericProfile
from mlflow_monitor.stats.sketch import BUCKETS_PER_BIN, ValueSketch
from tests.stats.conftest import CATEGORICAL, NUMERICAL, make_pair

RESOLUTION = 1000


def _sketch(values: np.ndarray, resolution: int = RESOLUTION) -> ValueSketch:
    finite = np.sort(values[np.isfinite(values)])
    return ValueSketch.of_sorted(finite, resolution=resolution)


def _mixed_values(rows: int, seed: int) -> np.ndarray:
    """Negatives, both zeros, ties, a heavy tail and values far from zero in one column."""
    rng = np.random.default_rng(seed)
    parts = [
        rng.normal(0.0, 1.0, rows),
        np.round(rng.normal(0.0, 3.0, rows // 4)),  # ties, integers
        np.full(rows // 20, -0.0),
        np.zeros(rows // 20),
        rng.standard_cauchy(rows // 10) * 1e6,
        1.7e9 + rng.uniform(0.0, 2.6e6, rows // 4),  # epoch seconds
    ]
    values = np.concatenate(parts)
    return values[rng.permutation(values.size)]


def _assert_same(a: ValueSketch, b: ValueSketch) -> None:
    assert (a.shift, a.resolution) == (b.shift, b.resolution)
    assert a.keys.tolist() == b.keys.tolist()
    assert a.counts.tolist() == b.counts.tolist()
    assert a.maxima.tolist() == b.maxima.tolist()  # exact: a maximum does not round
    np.testing.assert_allclose(a.sums, b.sums, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("parts", [1, 2, 7, 50])
def test_any_split_and_merge_order_gives_the_same_sketch(parts: int) -> None:
    values = _mixed_values(40_000, seed=1)
    whole = _sketch(values, resolution=100)
    assert whole.shift > 0 and whole.keys.size <= 100 * BUCKETS_PER_BIN  # it had to coarsen
    rng = np.random.default_rng(parts)
    cuts = np.sort(rng.choice(np.arange(1, values.size), parts - 1, replace=False))
    pieces = [_sketch(piece, resolution=100) for piece in np.split(values, cuts)]
    left_fold = pieces[0]
    for piece in pieces[1:]:
        left_fold = left_fold.merge(piece, "x")
    shuffled = [pieces[i] for i in rng.permutation(len(pieces))]
    while len(shuffled) > 1:  # a tree, in another order
        shuffled = [
            shuffled[i].merge(shuffled[i + 1], "x") if i + 1 < len(shuffled) else shuffled[i]
            for i in range(0, len(shuffled), 2)
        ]
    for merged in (left_fold, shuffled[0]):
        _assert_same(merged, whole)
        edges, counts, _ = merged.histogram()
        assert edges.tolist() == whole.histogram()[0].tolist()
        assert counts.tolist() == whole.histogram()[1].tolist()


def test_bins_are_exact_and_right_closed_on_the_sketch_edges() -> None:
    values = _mixed_values(20_000, seed=2)
    finite = np.sort(values)
    edges, counts, sums = _sketch(values).histogram()
    assert np.all(np.diff(edges) > 0)
    assert np.isin(edges, finite).all()  # every edge is a data value (a bucket's maximum)
    assert edges[-1] == finite[-1]
    assert np.cumsum(counts)[:-1].tolist() == [int(np.sum(finite <= e)) for e in edges]
    assert counts[-1] == 0
    expected_sums, _ = np.histogram(finite, bins=np.r_[-np.inf, edges, np.inf])
    assert int(counts.sum()) == finite.size == int(expected_sums.sum())
    assert sums.sum() == pytest.approx(finite.sum(), rel=1e-9)


def test_few_distinct_values_keep_one_bucket_each() -> None:
    values = np.repeat(np.arange(-20.0, 30.0), 37)
    sketch = _sketch(values)
    assert sketch.shift == 0 and sketch.keys.size == 50
    assert sketch.counts.tolist() == [37] * 50
    edges, counts, _ = sketch.histogram()
    assert edges.tolist() == np.arange(-20.0, 30.0).tolist()
    assert counts[:-1].tolist() == [37] * 50


def test_negative_and_positive_zero_share_a_bucket() -> None:
    sketch = _sketch(np.array([-0.0, 0.0, -0.0, 1.0, -1.0]))
    assert sketch.counts.tolist() == [1, 3, 1]


def test_a_narrow_column_far_from_zero_keeps_its_resolution() -> None:
    """Relative-accuracy buckets alone would put 1e9 + N(0, 0.01) into one bucket."""
    values = 1e9 + np.random.default_rng(3).normal(0.0, 0.01, 50_000)
    edges, counts, _ = _sketch(values).histogram()
    assert edges.size >= 0.95 * (RESOLUTION + 1)
    assert counts.max() <= 3 * values.size / RESOLUTION


def test_merging_sketches_of_another_resolution_is_refused() -> None:
    values = np.arange(10.0)
    with pytest.raises(Exception, match=r"'x'.*resolution"):
        _sketch(values, 10).merge(_sketch(values, 20), "x")


def test_empty_sketch_has_no_edges_and_merges() -> None:
    empty, full = _sketch(np.array([])), _sketch(np.array([1.0, 2.0]))
    assert empty.histogram()[0].size == 0 and empty.histogram()[1].tolist() == [0]
    _assert_same(empty.merge(full, "x"), full)


@pytest.mark.parametrize("chunk_rows", [997, 5000, 17_000])
def test_reference_profile_is_the_same_whatever_the_chunks(chunk_rows: int) -> None:
    frame, _ = make_pair(20_000, 0.0)
    frame.loc[::13, "normal"] = np.nan
    whole = DatasetProfile.from_frame(frame, numerical=NUMERICAL, categorical=CATEGORICAL)
    chunks = [frame.iloc[i : i + chunk_rows] for i in range(0, len(frame), chunk_rows)]
    forward = DatasetProfile.from_chunks(chunks, numerical=NUMERICAL, categorical=CATEGORICAL)
    backward = DatasetProfile.from_chunks(
        chunks[::-1], numerical=NUMERICAL, categorical=CATEGORICAL
    )
    for merged in (forward, backward):
        for name in NUMERICAL:
            a, b = merged.columns[name], whole.columns[name]
            assert isinstance(a, NumericProfile) and isinstance(b, NumericProfile)
            assert a.histogram.edges.tolist() == b.histogram.edges.tolist()
            assert a.histogram.counts.tolist() == b.histogram.counts.tolist()
            np.testing.assert_allclose(a.histogram.sums, b.histogram.sums, rtol=1e-9, atol=1e-9)


def test_a_profile_with_sketches_pickles_and_merges_after() -> None:
    frame, _ = make_pair(4000, 0.0)
    halves = [
        pickle.loads(pickle.dumps(DatasetProfile.from_frame(part, numerical=NUMERICAL,
                                                            categorical=CATEGORICAL)))
        for part in (frame.iloc[:1500], frame.iloc[1500:])
    ]  # fmt: skip
    merged = halves[0].merge(halves[1])
    whole = DatasetProfile.from_frame(frame, numerical=NUMERICAL, categorical=CATEGORICAL)
    assert (
        merged.to_dict()["columns"]["normal"]["edges"]
        == (  # type: ignore[index]
            whole.to_dict()["columns"]["normal"]["edges"]  # type: ignore[index]
        )
    )


def _exact_quantile_reference(frame: pd.DataFrame) -> DatasetProfile:
    """The previous release's reference: edges at the exact quantiles of all the rows."""
    profile = DatasetProfile.from_frame(frame, numerical=NUMERICAL, categorical=CATEGORICAL)
    columns = dict(profile.columns)
    for name in NUMERICAL:
        column = columns[name]
        assert isinstance(column, NumericProfile)
        values = _binning.numeric_column(frame, name).values
        edges = _binning.quantile_edges(values, profile.bins * 10)
        columns[name] = replace(column, histogram=Histogram.of(values, edges), sketch=None)
    return replace(profile, columns=columns)


TOLERANCE = {"ks": 0.002, "wasserstein": 0.002, "psi": 0.005}


@pytest.mark.parametrize("shift", [0.0, 0.3])
def test_drift_on_sketch_edges_is_within_the_stated_tolerance_of_exact_quantiles(
    shift: float,
) -> None:
    """The tolerance stated in stats/sketch.py, at 50,000 rows (bench_spark.py --edges: 1M)."""
    reference, current = make_pair(50_000, shift)
    sketched = DatasetProfile.from_frame(reference, numerical=NUMERICAL, categorical=CATEGORICAL)
    exact = _exact_quantile_reference(reference)
    for method, tolerance in TOLERANCE.items():
        columns = ["normal", "skewed"]
        got = compute_drift(
            sketched,
            DatasetProfile.from_frame(
                current, numerical=NUMERICAL, categorical=CATEGORICAL, reference=sketched
            ),
            columns,
            method=method,
        )
        want = compute_drift(
            exact,
            DatasetProfile.from_frame(
                current, numerical=NUMERICAL, categorical=CATEGORICAL, reference=exact
            ),
            columns,
            method=method,
        )
        for a, b in zip(got.columns, want.columns, strict=True):
            value_a = a.statistic if method == "ks" else a.score
            value_b = b.statistic if method == "ks" else b.score
            assert value_a is not None and value_b is not None
            assert abs(value_a - value_b) <= tolerance, (method, a.column, value_a, value_b)
