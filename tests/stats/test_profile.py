"""DatasetProfile: counts, moments, histograms, exact counts, merge, chunks, JSON, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.errors import DataError
from mlflow_monitor.stats._binning import EXACT_CAP
from mlflow_monitor.stats.profile import (
    CategoricalProfile,
    DatasetProfile,
    NumericProfile,
)
from tests.stats.conftest import CATEGORICAL, NUMERICAL, make_pair


def _profile(frame: pd.DataFrame, **kwargs: object) -> DatasetProfile:
    return DatasetProfile.from_frame(
        frame,
        numerical=NUMERICAL,
        categorical=CATEGORICAL,
        **kwargs,  # type: ignore[arg-type]
    )


def _numeric(profile: DatasetProfile, name: str) -> NumericProfile:
    column = profile.columns[name]
    assert isinstance(column, NumericProfile)
    return column


def _categorical(profile: DatasetProfile, name: str) -> CategoricalProfile:
    column = profile.columns[name]
    assert isinstance(column, CategoricalProfile)
    return column


def test_numeric_counts_and_moments_match_numpy_with_missing_and_infinite() -> None:
    values = np.array([1.5, np.nan, 2.0, np.inf, -3.0, 7.25, -np.inf, np.nan, 2.0])
    frame = pd.DataFrame({"x": values})
    column = _numeric(DatasetProfile.from_frame(frame, numerical=["x"], categorical=[]), "x")
    finite = values[np.isfinite(values)]
    assert (column.rows, column.missing, column.infinite, column.count) == (9, 2, 2, 5)
    assert column.moments.mean == pytest.approx(finite.mean(), rel=1e-15)
    assert column.moments.variance == pytest.approx(finite.var(), rel=1e-12)
    assert (column.moments.minimum, column.moments.maximum) == (-3.0, 7.25)
    assert int(column.histogram.counts.sum()) == 5
    assert column.exact is not None
    assert column.exact.values.tolist() == [-3.0, 1.5, 2.0, 7.25]
    assert column.exact.counts.tolist() == [1, 1, 2, 1]


def test_histogram_bins_are_right_closed_on_quantile_edges() -> None:
    frame = pd.DataFrame({"x": np.arange(1000, dtype=float)})
    column = _numeric(
        DatasetProfile.from_frame(frame, numerical=["x"], categorical=[], bins=10), "x"
    )
    edges, counts = column.histogram.edges, column.histogram.counts
    assert edges.size == 101  # bins * 10 fine bins -> 101 quantile edges
    assert edges[0] == 0.0 and edges[-1] == 999.0
    cumulative = np.cumsum(counts)[:-1]
    assert cumulative.tolist() == [int(np.sum(frame["x"] <= e)) for e in edges]
    assert counts[-1] == 0  # nothing above the reference maximum
    sums = column.histogram.sums
    assert sums.sum() == pytest.approx(frame["x"].sum())


def test_window_is_binned_on_reference_edges_with_under_and_overflow() -> None:
    reference = DatasetProfile.from_frame(
        pd.DataFrame({"x": np.linspace(0.0, 1.0, 501)}), numerical=["x"], categorical=[]
    )
    window = pd.DataFrame({"x": [-5.0, -1.0, 0.5, 2.0, 3.0, 4.0]})
    profile = DatasetProfile.from_frame(
        window, numerical=["x"], categorical=[], reference=reference
    )
    column = _numeric(profile, "x")
    assert np.array_equal(column.histogram.edges, _numeric(reference, "x").histogram.edges)
    assert column.histogram.counts[0] == 2  # at or below the reference minimum
    assert column.histogram.counts[-1] == 3  # above the reference maximum
    assert column.histogram.sums[-1] == pytest.approx(9.0)


def test_exact_counts_are_dropped_above_the_cap() -> None:
    frame = pd.DataFrame({"x": np.arange(EXACT_CAP + 1, dtype=float), "y": np.zeros(EXACT_CAP + 1)})
    profile = DatasetProfile.from_frame(frame, numerical=["x", "y"], categorical=[])
    assert _numeric(profile, "x").exact is None
    exact = _numeric(profile, "y").exact
    assert exact is not None and exact.counts.tolist() == [EXACT_CAP + 1]


def test_categorical_counts_missing_and_other_bucket() -> None:
    frame = pd.DataFrame({"c": ["a", "b", "a", None, "c", "a", "b", np.nan, "d"]})
    profile = DatasetProfile.from_frame(frame, numerical=[], categorical=["c"], max_categories=2)
    column = _categorical(profile, "c")
    assert column.categories == ("a", "b")
    assert column.counts.tolist() == [3, 2]
    assert (column.other, column.missing, column.count, column.rows) == (2, 2, 7, 9)


def test_categorical_pandas_category_dtype_and_numbers_use_string_keys() -> None:
    frame = pd.DataFrame(
        {"c": pd.Categorical(["x", "y", "x"], categories=["x", "y", "z"]), "n": [1, 2, 2]}
    )
    profile = DatasetProfile.from_frame(frame, numerical=[], categorical=["c", "n"])
    assert _categorical(profile, "c").categories == ("x", "y")  # unused level dropped
    assert _categorical(profile, "n").categories == ("2", "1")


@pytest.mark.parametrize(("rows", "chunk_rows"), [(40, 1), (2500, 333), (2500, 2500)])
def test_merged_chunks_equal_the_whole_frame(rows: int, chunk_rows: int) -> None:
    frame, _ = make_pair(rows, 0.0)
    frame.loc[::7, "normal"] = np.nan
    frame.loc[::11, "skewed"] = np.inf
    whole = _profile(frame)
    chunks = (frame.iloc[i : i + chunk_rows] for i in range(0, len(frame), chunk_rows))
    merged = DatasetProfile.from_chunks(
        chunks, numerical=NUMERICAL, categorical=CATEGORICAL, reference=whole
    )
    reprofiled = _profile(frame, reference=whole)
    assert merged.rows == whole.rows
    for name in NUMERICAL:
        a, b = _numeric(merged, name), _numeric(reprofiled, name)
        assert (a.rows, a.missing, a.infinite, a.count) == (b.rows, b.missing, b.infinite, b.count)
        assert a.histogram.counts.tolist() == b.histogram.counts.tolist()
        np.testing.assert_allclose(a.histogram.sums, b.histogram.sums, rtol=1e-9, atol=1e-9)
        assert a.moments.mean == pytest.approx(b.moments.mean, rel=1e-12)
        assert a.moments.m2 == pytest.approx(b.moments.m2, rel=1e-12)
        assert (a.exact is None) == (b.exact is None)
        if a.exact is not None and b.exact is not None:
            assert a.exact.counts.tolist() == b.exact.counts.tolist()
    for name in CATEGORICAL:
        a_cat, b_cat = _categorical(merged, name), _categorical(reprofiled, name)
        assert dict(zip(a_cat.categories, a_cat.counts.tolist(), strict=True)) == dict(
            zip(b_cat.categories, b_cat.counts.tolist(), strict=True)
        )


def test_from_chunks_without_reference_gives_the_whole_frames_edges() -> None:
    """Edges no longer come from the first chunk: chunked or whole, the same reference profile."""
    frame, _ = make_pair(3000, 0.0)
    chunks = [frame.iloc[:1000], frame.iloc[1000:]]
    merged = DatasetProfile.from_chunks(chunks, numerical=NUMERICAL, categorical=CATEGORICAL)
    whole, first = _profile(frame), _profile(frame.iloc[:1000])
    for name in NUMERICAL:
        a, b = _numeric(merged, name).histogram, _numeric(whole, name).histogram
        assert np.array_equal(a.edges, b.edges)
        assert a.counts.tolist() == b.counts.tolist()
        np.testing.assert_allclose(a.sums, b.sums, rtol=1e-12)
    assert not np.array_equal(
        _numeric(merged, "normal").histogram.edges, _numeric(first, "normal").histogram.edges
    )
    assert int(_numeric(merged, "normal").histogram.counts.sum()) == 3000
    assert merged.rows == 3000


def test_merge_without_sketches_requires_equal_edges() -> None:
    """Profiles read back from JSON carry no sketch: they merge only on the same edges."""

    def read_back(values: list[float]) -> DatasetProfile:
        built = DatasetProfile.from_frame(
            pd.DataFrame({"x": values}), numerical=["x"], categorical=[]
        )
        return DatasetProfile.from_dict(built.to_dict())

    with pytest.raises(DataError, match=r"'x'.*different bin edges"):
        read_back([1.0, 2.0]).merge(read_back([5.0, 9.0]))


def test_column_without_values_adopts_the_other_chunks_edges() -> None:
    empty = DatasetProfile.from_frame(
        pd.DataFrame({"x": [np.nan]}), numerical=["x"], categorical=[]
    )
    full = DatasetProfile.from_frame(
        pd.DataFrame({"x": [1.0, 2.0, 3.0]}), numerical=["x"], categorical=[]
    )
    merged = _numeric(empty.merge(full), "x")
    assert (merged.rows, merged.missing, merged.count) == (4, 1, 3)
    assert np.array_equal(merged.histogram.edges, _numeric(full, "x").histogram.edges)


def test_json_round_trip_is_lossless_and_json_safe() -> None:
    frame, _ = make_pair(500, 0.0)
    frame["empty"] = np.nan
    profile = DatasetProfile.from_frame(
        frame, numerical=[*NUMERICAL, "empty"], categorical=CATEGORICAL
    )
    text = json.dumps(profile.to_dict(), allow_nan=False)
    restored = DatasetProfile.from_dict(json.loads(text))
    assert restored.to_dict() == profile.to_dict()
    assert restored.schema_version == 2
    assert json.loads(text)["columns"]["empty"]["min"] is None


def test_unknown_schema_version_is_a_clear_error() -> None:
    data = _profile(make_pair(50, 0.0)[0]).to_dict()
    data["schema_version"] = 99
    with pytest.raises(DataError, match=r"schema_version 99.*upgrade"):
        DatasetProfile.from_dict(data)


def test_version_1_profile_reads_with_its_edges_as_stored() -> None:
    """A baseline written before the sketch keeps its first-chunk edges; windows bin on them."""
    data = _profile(make_pair(500, 0.0)[0]).to_dict()
    data["schema_version"] = 1
    columns = data["columns"]
    assert isinstance(columns, dict)
    stored = [0.5 * i - 1.0 for i in range(7)]  # edges no sketch would pick
    columns["normal"] = {**columns["normal"], "edges": stored, "bin_counts": [0] * 8,
                         "bin_sums": [0.0] * 8}  # fmt: skip
    legacy = DatasetProfile.from_dict(data)
    assert legacy.schema_version == 1
    assert _numeric(legacy, "normal").histogram.edges.tolist() == stored
    window = _profile(make_pair(500, 0.0)[1], reference=legacy)
    assert _numeric(window, "normal").histogram.edges.tolist() == stored
    assert legacy.to_dict()["schema_version"] == 1


def test_strings_in_a_numerical_column_name_the_column() -> None:
    frame = pd.DataFrame({"age": [1, "forty", 3]})
    with pytest.raises(DataError, match=r"column 'age'.*non-numeric.*'forty'"):
        DatasetProfile.from_frame(frame, numerical=["age"], categorical=[])


def test_numeric_strings_and_nullable_integers_are_accepted() -> None:
    frame = pd.DataFrame(
        {
            "a": pd.array([1, None, 3], dtype="Int64"),
            "b": ["1.5", None, "2"],
            "c": [True, False, True],
        }
    )
    profile = DatasetProfile.from_frame(frame, numerical=["a", "b", "c"], categorical=[])
    assert (_numeric(profile, "a").count, _numeric(profile, "a").missing) == (2, 1)
    assert _numeric(profile, "b").moments.mean == pytest.approx(1.75)
    assert _numeric(profile, "c").moments.mean == pytest.approx(2 / 3)


def test_missing_column_and_duplicate_listing_are_errors() -> None:
    frame = pd.DataFrame({"x": [1.0]})
    with pytest.raises(DataError, match="column 'y' is missing"):
        DatasetProfile.from_frame(frame, numerical=["y"], categorical=[])
    with pytest.raises(DataError, match="column 'x' is listed twice"):
        DatasetProfile.from_frame(frame, numerical=["x"], categorical=["x"])


def test_empty_frame_gives_an_empty_profile() -> None:
    frame = pd.DataFrame({"x": pd.Series([], dtype=float), "c": pd.Series([], dtype=object)})
    profile = DatasetProfile.from_frame(frame, numerical=["x"], categorical=["c"])
    assert profile.rows == 0
    assert _numeric(profile, "x").count == 0 and _categorical(profile, "c").count == 0
    assert json.dumps(profile.to_dict(), allow_nan=False)


def test_an_integer_category_read_as_float_keeps_its_key() -> None:
    """A 0/1 prediction that became float (a missing value, a CSV) must not drift: "1.0" is "1"."""
    from mlflow_monitor.stats.profile import CategoricalProfile, category_text

    assert [category_text(t) for t in ("1.0", "-3.00", "1.5", "a.0", "10")] == [
        "1", "-3", "1.5", "a.0", "10",
    ]  # fmt: skip
    ints = pd.DataFrame({"p": [0, 1, 1, 0, 1]})
    floats = pd.DataFrame({"p": [0.0, 1.0, 1.0, None, 1.0]})
    assert CategoricalProfile.build("p", ints, 100).categories == ("1", "0")
    assert set(CategoricalProfile.build("p", floats, 100).categories) == {"0", "1"}
    old = {"kind": "categorical", "rows": 4, "missing": 0, "categories": ["1.0", "1", "0.0"],
           "counts": [2, 1, 1], "other": 0}  # fmt: skip
    read = CategoricalProfile.from_dict("p", old)
    assert dict(zip(read.categories, read.counts.tolist(), strict=True)) == {"1": 3, "0": 1}
