"""The Spark engine equals the pandas path on the same rows (a real local[2] session)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlflow_monitor.adapters.sources import spark as engine
from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.stats.profile import DatasetProfile, NumericProfile
from mlflow_monitor.verdicts.baseline_model import build_baseline_from_frame
from mlflow_monitor.verdicts.evaluation import evaluate_window

ROWS = 20_000
NUMERICAL = ["age", "income", "visits"]
CATEGORICAL = ["plan", "region"]


def _frame(rows: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + 5 * shift, 12, rows)
    income = rng.lognormal(10, 0.6 + 0.2 * shift, rows)
    income[rng.random(rows) < 0.02] = np.nan
    visits = rng.poisson(3 + shift, rows).astype(float)
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2])
    region = rng.choice([f"r{i}" for i in range(12 if shift else 10)], rows)
    logit = 0.04 * (age - 40) + 0.3 * (plan == "pro") - 0.2 + shift * rng.normal(0, 1, rows)
    score = 1 / (1 + np.exp(-logit))
    target = (rng.random(rows) < 1 / (1 + np.exp(-0.04 * (age - 40)))).astype(float)
    target[rng.random(rows) < 0.1] = np.nan  # labels not arrived yet
    ids = np.arange(rows) + seed * 1_000_000
    ids[5:9] = ids[0]  # a few repeated ids
    frame = pd.DataFrame(
        {
            "id": ids,
            "ts": pd.Timestamp("2026-11-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 7 * 86_400, rows), unit="s"),
            "age": age,
            "income": income,
            "visits": visits,
            "plan": plan,
            "region": region,
            "score": score,
            "prediction": (score >= 0.5).astype(int),
            "churned": target,
        }
    )
    # repeated rows, one of them with a missing value (pandas counts NaN rows as equal)
    missing = int(np.flatnonzero(np.isnan(income))[0])
    return pd.concat([frame, frame.iloc[[1, 2, 2, missing]]], ignore_index=True)


SPEC: MonitorSpec = parse_spec(
    {
        "task": "binary_classification",
        "positive_label": 1,
        "columns": {
            "id": "id",
            "timestamp": "ts",
            "target": "churned",
            "prediction": "prediction",
            "score": "score",
            "numerical": NUMERICAL,
            "categorical": CATEGORICAL,
        },
        "estimation": {"enabled": False},
    },
    source="test",
)


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _frame(ROWS, 1, 0.0), _frame(ROWS, 2, 0.4)


@pytest.fixture(scope="module")
def spark_frames(spark, frames, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Both frames as parquet read back by Spark in 5 partitions (more than one per core)."""
    folder = tmp_path_factory.mktemp("spark-data")
    read = []
    for name, frame in zip(("reference", "window"), frames, strict=True):
        path = folder / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        read.append(engine.read_spark_source(spark, str(path)).repartition(5))
    return read


def test_reference_profile_equals_the_pandas_profile(frames, spark_frames) -> None:  # type: ignore[no-untyped-def]
    reference, _ = frames
    numerical, categorical = [*NUMERICAL, "score"], [*CATEGORICAL, "prediction", "churned"]
    want = DatasetProfile.from_frame(reference, numerical=numerical, categorical=categorical)
    got = engine.profile_spark(spark_frames[0], numerical=numerical, categorical=categorical)
    assert got.rows == want.rows == ROWS + 4  # with the repeated rows
    for name in numerical:
        a, b = got.columns[name], want.columns[name]
        assert isinstance(a, NumericProfile) and isinstance(b, NumericProfile)
        assert a.histogram.edges.tolist() == b.histogram.edges.tolist()  # split-independent
        assert a.histogram.counts.tolist() == b.histogram.counts.tolist()
        assert (a.missing, a.count, a.moments.minimum) == (b.missing, b.count, b.moments.minimum)
        np.testing.assert_allclose(a.histogram.sums, b.histogram.sums, rtol=1e-9, atol=1e-9)
        assert a.moments.mean == pytest.approx(b.moments.mean, rel=1e-12)
    for name in categorical:
        assert got.columns[name].to_dict() == want.columns[name].to_dict()


@pytest.fixture(scope="module")
def baselines(frames, spark_frames):  # type: ignore[no-untyped-def]
    return build_baseline_from_frame(SPEC, frames[0]), engine.baseline_from_spark(
        SPEC, spark_frames[0]
    )


def test_baseline_equals_the_pandas_baseline(baselines) -> None:  # type: ignore[no-untyped-def]
    want, got = baselines
    assert got.rows == want.rows and got.notes == want.notes == ()
    assert got.performance is not None and want.performance is not None
    assert got.performance.metrics == pytest.approx(want.performance.metrics, rel=1e-12)
    a, b = got.profile.to_dict(), want.profile.to_dict()
    for name, column in b["columns"].items():  # type: ignore[union-attr]
        other = a["columns"][name]  # type: ignore[index]
        assert other.get("edges") == column.get("edges")
        assert other.get("bin_counts", other.get("counts")) == column.get(
            "bin_counts", column.get("counts")
        )


def test_window_results_equal_the_pandas_path(frames, spark_frames, baselines) -> None:  # type: ignore[no-untyped-def]
    baseline = baselines[0]
    start, end = pd.Timestamp("2026-11-02", tz="UTC"), pd.Timestamp("2026-11-06", tz="UTC")
    window = frames[1]
    inside = window[(window["ts"] >= start) & (window["ts"] < end)].reset_index(drop=True)
    want = evaluate_window(SPEC, baseline, inside, window_start=start, window_end=end)
    got = engine.evaluate_spark_window(
        SPEC, baseline, spark_frames[1], window_start=start, window_end=end
    )
    assert got.rows == want.rows == len(inside)
    assert (got.window_start, got.window_end, got.health) == (
        want.window_start,
        want.window_end,
        want.health,
    )
    # every outcome: same check, status and severity; values within the stated tolerances
    assert [(o.check_id, o.status, o.severity) for o in got.outcomes] == [
        (o.check_id, o.status, o.severity) for o in want.outcomes
    ]
    for a, b in zip(got.outcomes, want.outcomes, strict=True):
        if isinstance(b.value, float):
            assert a.value == pytest.approx(b.value, rel=1e-6, abs=1e-6), a.check_id
    wanted = {m.name: m.value for m in want.metrics}
    found = {m.name: m.value for m in got.metrics}
    assert set(found) == set(wanted)
    for name, value in wanted.items():
        tolerance = 1e-4 if name.startswith("perf/pr_auc") else 1e-6
        assert found[name] == pytest.approx(value, rel=tolerance, abs=tolerance), name
    # counts exactly
    assert got.quality.to_dict() == want.quality.to_dict()
    assert want.quality.duplicate_rows.duplicates >= 2  # repeats inside the window
    assert got.performance is not None and want.performance is not None
    for key in ("tp", "fp", "tn", "fn"):
        assert got.performance.metrics[key] == want.performance.metrics[key]
    assert got.performance.counts == want.performance.counts
    assert got.performance.note == want.performance.note
    for a_drift, b_drift in zip(got.drift.columns, want.drift.columns, strict=True):
        assert (a_drift.method, a_drift.current_rows) == (b_drift.method, b_drift.current_rows)


def test_unsupported_features_are_refused_in_one_line(spark_frames, baselines) -> None:  # type: ignore[no-untyped-def]
    with_estimation = SPEC.model_copy(update={"estimation": SPEC.estimation.model_copy(
        update={"enabled": True})})  # fmt: skip
    with pytest.raises(SpecError, match=r"Spark engine.*estimation\.enabled: false"):
        engine.evaluate_spark_window(with_estimation, baselines[0], spark_frames[1])
    segmented = SPEC.model_copy(
        update={"columns": SPEC.columns.model_copy(update={"segments": ["plan"]})}
    )
    with pytest.raises(SpecError, match=r"Spark engine.*columns\.segments"):
        engine.baseline_from_spark(segmented, spark_frames[0])


def test_bad_input_names_the_column_or_source(spark, spark_frames, baselines) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=r"window: column 'age' is missing"):
        engine.evaluate_spark_window(SPEC, baselines[0], spark_frames[1].drop("age"))
    with pytest.raises(DataError, match="no such parquet file"):
        engine.read_spark_source(spark, "/nonexistent/window.parquet")
    with pytest.raises(DataError, match="empty"):
        engine.evaluate_spark_window(
            SPEC,
            baselines[0],
            spark_frames[1],
            window_start=pd.Timestamp("2030-01-01", tz="UTC").to_pydatetime(),
        )


def test_importing_the_package_and_a_pandas_evaluate_start_no_jvm(tmp_path: Path) -> None:
    """A JVM starts only when Spark is asked for (a child process, counted by psutil)."""
    code = (
        "import sys, psutil, mlflow_monitor as mm\n"
        "print('pyspark' in sys.modules)\n"  # MLflow itself imports pyspark: the JVM is the cost
        "from tests.adapters.sources.test_spark import SPEC, _frame\n"
        "b = mm.build_baseline(spec=SPEC, reference=_frame(500, 1, 0.0))\n"
        "mm.evaluate(spec=SPEC, baseline=b, current=_frame(500, 2, 0.3))\n"
        "kids = [p.name() for p in psutil.Process().children(recursive=True)]\n"
        "print('java' in ' '.join(kids))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    assert done.stdout.split() == ["False", "False"]
