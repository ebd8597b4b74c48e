"""Data quality: injected defects are found exactly, counted here independently of the fixture."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import QualitySpec
from mlflow_monitor.stats.profile import DatasetProfile
from mlflow_monitor.stats.quality import (
    ID_LIKE_MIN_VALUES,
    QualityReport,
    compute_quality,
)
from mlflow_monitor.verdicts.window_checks import quality_outcomes

NUMERICAL = ["age", "income"]
CATEGORICAL = ["city", "plan"]


@pytest.fixture(scope="module")
def reference_frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 2_000
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.normal(50_000, 8_000, n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "plan": rng.choice([1, 2, 3], n),
        }
    )


@pytest.fixture(scope="module")
def reference(reference_frame: pd.DataFrame) -> DatasetProfile:
    return DatasetProfile.from_frame(
        reference_frame, numerical=NUMERICAL, categorical=CATEGORICAL, bins=20
    )


@pytest.fixture(scope="module")
def window(reference_frame: pd.DataFrame) -> pd.DataFrame:
    """A window with missing values, out-of-range and infinite values, unseen categories."""
    rng = np.random.default_rng(9)
    frame = reference_frame.sample(1_000, random_state=1).reset_index(drop=True)
    frame.loc[rng.choice(1_000, 70, replace=False), "age"] = np.nan
    frame.loc[rng.choice(1_000, 25, replace=False), "age"] = 150.0
    frame.loc[rng.choice(1_000, 12, replace=False), "age"] = -3.0
    frame.loc[rng.choice(1_000, 4, replace=False), "income"] = np.inf
    frame.loc[rng.choice(1_000, 33, replace=False), "city"] = "marseille"
    frame.loc[rng.choice(1_000, 8, replace=False), "city"] = None
    frame.loc[rng.choice(1_000, 5, replace=False), "plan"] = 4
    return frame


def _expected_outside(values: pd.Series, ref: pd.Series) -> int:
    low, high = ref.min(), ref.max()
    return sum(1 for v in values if not math.isnan(v) and (v < low or v > high))


def test_missing_out_of_range_and_unseen_are_exact(
    window: pd.DataFrame, reference: DatasetProfile, reference_frame: pd.DataFrame
) -> None:
    report = compute_quality(window, reference, numerical=NUMERICAL, categorical=CATEGORICAL)
    assert report.rows == len(window) == 1_000
    age, income = report.get("age"), report.get("income")
    assert age.missing == sum(1 for v in window["age"] if math.isnan(v))
    assert age.missing_share == age.missing / 1_000
    assert age.out_of_range == _expected_outside(window["age"], reference_frame["age"])
    assert income.infinite == sum(1 for v in window["income"] if math.isinf(v))
    assert income.out_of_range == _expected_outside(window["income"], reference_frame["income"])
    seen_cities = set(reference_frame["city"])
    city = report.get("city")
    assert city.unseen == sum(1 for v in window["city"] if v is not None and v not in seen_cities)
    assert city.unseen_values == ("marseille",)
    assert city.missing == sum(1 for v in window["city"] if v is None)
    plan = report.get("plan")
    assert plan.unseen == sum(1 for v in window["plan"] if v not in {1, 2, 3})
    assert plan.unseen_share == plan.unseen / 1_000
    assert report.missing_columns == () and report.wrong_type == ()


def test_reference_against_itself_is_clean(
    reference_frame: pd.DataFrame, reference: DatasetProfile
) -> None:
    report = compute_quality(
        reference_frame, reference, numerical=NUMERICAL, categorical=CATEGORICAL
    )
    metrics = report.metrics()
    assert metrics["quality/rows"] == len(reference_frame)
    shares = {k: v for k, v in metrics.items() if k != "quality/rows"}
    assert len(shares) == 2 * 2 + 2 * 2 + 1 and set(shares.values()) == {0.0}
    assert metrics["quality/duplicate_row_share"] == 0.0 and report.id_like == ()


def test_missing_column_and_wrong_type_are_reported(
    window: pd.DataFrame, reference: DatasetProfile
) -> None:
    frame = window.drop(columns=["city"]).assign(age=window["age"].astype(object))
    frame.loc[[0, 1, 2], "age"] = "unknown"
    report = compute_quality(frame, reference, numerical=NUMERICAL, categorical=CATEGORICAL)
    assert report.missing_columns == ("city",)
    city = report.get("city")
    assert city.missing_share is None and "'city' is missing" in city.note
    assert report.wrong_type == ("age",)
    age = report.get("age")
    assert age.non_numeric == 3 and age.dtype == "object"
    assert "3 values are not numbers" in age.note
    assert "quality/city/missing_share" not in report.metrics()


def test_empty_window_gives_no_shares_not_nan(reference: DatasetProfile) -> None:
    empty = pd.DataFrame({c: pd.Series([], dtype=float) for c in NUMERICAL + CATEGORICAL})
    report = compute_quality(empty, reference, numerical=NUMERICAL, categorical=CATEGORICAL)
    assert report.rows == 0
    assert all(c.missing_share is None and c.out_of_range_share is None for c in report.columns)
    assert report.metrics() == {"quality/rows": 0.0}


def test_all_missing_column_is_fully_missing(
    window: pd.DataFrame, reference: DatasetProfile
) -> None:
    frame = window.assign(income=np.nan)
    report = compute_quality(frame, reference, numerical=NUMERICAL, categorical=CATEGORICAL)
    assert report.get("income").missing_share == 1.0
    assert report.get("income").out_of_range == 0


def test_column_kind_must_match_the_reference(
    window: pd.DataFrame, reference: DatasetProfile
) -> None:
    with pytest.raises(DataError, match="'city' is categorical in the reference"):
        compute_quality(window, reference, numerical=["city"], categorical=[])


def test_report_round_trips_through_json(window: pd.DataFrame, reference: DatasetProfile) -> None:
    report = compute_quality(window, reference, numerical=NUMERICAL, categorical=CATEGORICAL)
    again = QualityReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report


# -- duplicated rows and ids ---------------------------------------------------------------------


def _with_duplicates(window: pd.DataFrame) -> pd.DataFrame:
    """37 rows sent twice, 5 of them three times, and 20 rows equal to another but for one city."""
    frame = window.assign(customer=np.arange(len(window)) + 10_000)
    again = frame.iloc[:37]
    near = frame.iloc[100:120].assign(city="near-copy")  # same numbers, another category
    return pd.concat([frame, again, again.iloc[:5], near], ignore_index=True)


def _expected_duplicates(frame: pd.DataFrame, columns: list[str]) -> tuple[int, int]:
    """Repeats of an earlier row (and how many rows repeat), counted with plain Python."""
    seen: dict[tuple[object, ...], int] = {}
    for row in frame[columns].itertuples(index=False):
        key = tuple("<nan>" if isinstance(v, float) and math.isnan(v) else v for v in row)
        seen[key] = seen.get(key, 0) + 1
    return sum(n - 1 for n in seen.values()), sum(1 for n in seen.values() if n > 1)


@pytest.mark.parametrize("id_column", [None, "customer"])
def test_duplicated_rows_are_counted_exactly(
    window: pd.DataFrame, reference: DatasetProfile, id_column: str | None
) -> None:
    frame = _with_duplicates(window)
    report = compute_quality(
        frame, reference, numerical=NUMERICAL, categorical=CATEGORICAL, id_column=id_column
    )
    rows = report.duplicate_rows
    assert rows is not None and (rows.duplicates, rows.repeated) == (
        _expected_duplicates(frame, list(frame.columns))
    ) == (42, 37)  # the near copies differ in one column: not duplicates
    assert rows.share == 42 / len(frame)
    assert report.metrics()["quality/duplicate_row_share"] == rows.share


def test_repeated_ids_are_counted_and_missing_ids_apart(
    window: pd.DataFrame, reference: DatasetProfile
) -> None:
    frame = _with_duplicates(window)
    frame.loc[frame.index[-3:], "customer"] = np.nan  # three near copies lose their id
    report = compute_quality(
        frame, reference, numerical=NUMERICAL, categorical=CATEGORICAL, id_column="customer"
    )
    ids = report.duplicate_ids
    present = frame["customer"].dropna()
    assert ids is not None and ids.column == "customer" and ids.missing == 3
    assert ids.duplicates == int(present.duplicated().sum()) == 42 + 17
    assert ids.repeated == present[present.duplicated()].nunique() == 37 + 17
    assert ids.examples[:5] == tuple(str(float(10_000 + i)) for i in range(5))  # thrice first
    assert report.metrics()["quality/customer/duplicate_share"] == ids.duplicates / len(frame)


def test_rows_that_cannot_be_compared_are_a_note(reference: DatasetProfile) -> None:
    frame = pd.DataFrame({"age": [30.0, 30.0], "income": [1.0, 1.0], "city": ["lyon"] * 2})
    frame["tags"] = [[1, 2], [1, 2]]  # a list column (parquet arrays): unhashable
    report = compute_quality(frame, reference, numerical=NUMERICAL, categorical=["city"])
    rows = report.duplicate_rows
    assert rows is not None and rows.duplicates is None and rows.share is None
    assert rows.note.startswith("rows not compared: unhashable type")
    assert "quality/duplicate_row_share" not in report.metrics()


# -- id-like columns ------------------------------------------------------------------------------


def _id_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "ticket": [f"T-{seed}-{i}" for i in range(rows)],  # a category per row
            "number": rng.permutation(rows) + 1_000 * seed,  # row numbers, shuffled
            "cents": rng.integers(0, 10**9, rows),  # distinct by chance, not an id
            "city": rng.choice(["paris", "lyon"], rows),
            "age": rng.integers(18, 80, rows),
        }
    )


def _id_quality(frame: pd.DataFrame, reference: pd.DataFrame) -> QualityReport:
    numerical, categorical = ["number", "cents", "age"], ["ticket", "city"]
    profile = DatasetProfile.from_frame(reference, numerical=numerical, categorical=categorical)
    return compute_quality(frame, profile, numerical=numerical, categorical=categorical)


def test_id_like_columns_are_found_and_plain_ones_left_alone() -> None:
    window = _id_frame(500, seed=2)
    assert window["cents"].is_unique  # yet an amount, not an id
    report = _id_quality(window, _id_frame(2_000, seed=1))
    assert report.id_like == ("number", "ticket")
    ticket = report.get("ticket").id_like
    assert ticket == (
        "all 500 values in the window are distinct; all 2,000 values in the reference are distinct"
    )
    assert report.get("number").id_like == (
        "all 500 values in the window are distinct integers (a sequence)"
    )


def test_a_small_window_is_no_evidence_but_the_reference_is() -> None:
    small = _id_frame(ID_LIKE_MIN_VALUES - 1, seed=2)
    report = _id_quality(small, _id_frame(2_000, seed=1))
    assert report.id_like == ("ticket",)  # the reference says so; 99 row numbers do not
    assert report.get("ticket").id_like == "all 2,000 values in the reference are distinct"
    plain = _id_quality(small, _id_frame(2_000, seed=1).assign(ticket="same"))
    assert plain.id_like == ()


def test_new_fields_round_trip_and_older_results_still_read() -> None:
    report = _id_quality(_id_frame(500, seed=2), _id_frame(2_000, seed=1))
    body = json.loads(json.dumps(report.to_dict()))
    assert QualityReport.from_dict(body) == report and body["id_like"] == ["number", "ticket"]
    older = {**body, "columns": [{**c, "id_like": None} for c in body["columns"]]}
    for column in older["columns"]:
        del column["id_like"]
    del older["duplicate_rows"], older["duplicate_ids"]
    again = QualityReport.from_dict(older)
    assert again.duplicate_rows is None and again.id_like == ()


# -- their outcomes (verdicts.window_checks.quality_outcomes) -------------------------------------


def _outcomes(report: QualityReport, **limits: float) -> dict[str, object]:
    return {o.check_id: o for o in quality_outcomes(report, QualitySpec(**limits))}


def test_duplicates_warn_above_the_default_share(
    window: pd.DataFrame, reference: DatasetProfile
) -> None:
    frame = _with_duplicates(window)
    report = compute_quality(
        frame, reference, numerical=NUMERICAL, categorical=CATEGORICAL, id_column="customer"
    )
    outcomes = _outcomes(report)
    rows, ids = (
        outcomes["quality/duplicate_row_share"],
        outcomes["quality/customer/duplicate_share"],
    )
    assert QualitySpec().max_duplicate_share == 0.01 and 42 / len(frame) > 0.01
    assert (rows.status, rows.severity, rows.value) == ("warn", "warning", 42 / len(frame))
    assert rows.threshold is not None and rows.threshold.upper == 0.01
    assert rows.message.startswith(f"rows: 42 of {len(frame):,} rows (")
    assert "repeat an earlier row in every column (> 1.00%; 37 repeated)" in rows.message
    assert ids.status == "warn" and ids.value == 62 / len(frame)  # the near copies too
    assert ids.message.endswith("(> 1.00%; 57 repeated, e.g. 10000, 10001, 10002, 10003, 10004)")
    clean = _outcomes(compute_quality(window, reference, numerical=NUMERICAL, categorical=[]))
    assert clean["quality/duplicate_row_share"].status == "pass"
    assert "quality/customer/duplicate_share" not in clean  # no id column given: not counted


def test_an_id_like_column_is_reported_not_judged_on_range_or_categories() -> None:
    report = _id_quality(_id_frame(500, seed=2), _id_frame(2_000, seed=1))
    outcomes = _outcomes(report)
    ticket = outcomes["quality/ticket/id_like"]
    assert (ticket.status, ticket.severity, ticket.value) == ("insufficient_data", "info", None)
    assert ticket.message.startswith("ticket: id-like, not drift-tested (all 500 values")
    assert "quality/number/id_like" in outcomes and "quality/cents/id_like" not in outcomes
    # every window id is new (unseen) or beyond the reference's range: not findings of an id
    assert "quality/ticket/unseen_share" not in outcomes
    assert "quality/number/out_of_range_share" not in outcomes
    assert outcomes["quality/ticket/missing_share"].status == "pass"
    assert outcomes["quality/cents/out_of_range_share"].status == "pass"
    assert not any(o.firing for o in outcomes.values())  # type: ignore[attr-defined]
