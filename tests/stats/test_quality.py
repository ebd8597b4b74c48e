"""Data quality: injected defects are found exactly, counted here independently of the fixture."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.errors import DataError
from mlflow_monitor.stats.profile import DatasetProfile
from mlflow_monitor.stats.quality import QualityReport, compute_quality

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
    assert len(shares) == 2 * 2 + 2 * 2 and set(shares.values()) == {0.0}


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
