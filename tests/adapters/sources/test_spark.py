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
from mlflow_monitor.stats.fairness import FairnessReport
from mlflow_monitor.stats.profile import DatasetProfile, NumericProfile
from mlflow_monitor.verdicts.baseline_model import build_baseline_from_frame
from mlflow_monitor.verdicts.evaluation import WindowResult, evaluate_window

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
    window = frames[1]
    inside = window[(window["ts"] >= START) & (window["ts"] < END)].reset_index(drop=True)
    want = evaluate_window(SPEC, baseline, inside, window_start=START, window_end=END)
    got = engine.evaluate_spark_window(
        SPEC, baseline, spark_frames[1], window_start=START, window_end=END
    )
    assert got.rows == want.rows == len(inside)
    _assert_same_window(got, want)
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


START, END = pd.Timestamp("2026-11-02", tz="UTC"), pd.Timestamp("2026-11-06", tz="UTC")
AUC_TOLERANCE = 1e-4  # binned ROC AUC (BinaryCounts.auc_tolerance), PR AUC measured


def _assert_same_window(got: WindowResult, want: WindowResult) -> None:
    """Bounds, health, every outcome (id, status, severity) and metric within the tolerances."""
    assert (got.window_start, got.window_end, got.health) == (
        want.window_start,
        want.window_end,
        want.health,
    )
    assert [(o.check_id, o.status, o.severity) for o in got.outcomes] == [
        (o.check_id, o.status, o.severity) for o in want.outcomes
    ]
    for a, b in zip(got.outcomes, want.outcomes, strict=True):
        if isinstance(b.value, float):
            binned = b.check_id.startswith("segment/")  # a segment's ROC AUC, from binned scores
            tolerance = AUC_TOLERANCE if binned else 1e-6
            assert a.value == pytest.approx(b.value, rel=tolerance, abs=tolerance), a.check_id
    wanted = {m.name: m.value for m in want.metrics}
    found = {m.name: m.value for m in got.metrics}
    assert set(found) == set(wanted)
    for name, value in wanted.items():
        binned = "pr_auc" in name or (name.startswith("segment/") and "auc" in name)
        tolerance = AUC_TOLERANCE if binned else 1e-6
        assert found[name] == pytest.approx(value, rel=tolerance, abs=tolerance), name


def test_unsupported_features_are_refused_in_one_line(spark_frames, baselines) -> None:  # type: ignore[no-untyped-def]
    with_estimation = SPEC.model_copy(update={"estimation": SPEC.estimation.model_copy(
        update={"enabled": True})})  # fmt: skip
    with pytest.raises(SpecError, match=r"Spark engine.*estimation\.enabled: false"):
        engine.evaluate_spark_window(with_estimation, baselines[0], spark_frames[1])
    multiclass = SPEC.model_copy(update={"task": "multiclass_classification"})
    with pytest.raises(SpecError, match=r"Spark engine.*multiclass_classification performance"):
        engine.baseline_from_spark(multiclass, spark_frames[0])


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


# -- fairness and segments -----------------------------------------------------------------------

TIER_MISSING_BEFORE = pd.Timestamp("2026-11-03", tz="UTC")
SPEC_FAIR: MonitorSpec = parse_spec(
    {
        **SPEC.model_dump(mode="json", exclude_defaults=True),
        "columns": {
            **SPEC.columns.model_dump(mode="json", exclude_defaults=True),
            "protected": ["plan", "tier"],
            "segments": ["plan", "region"],
        },
        "fairness": {
            "intersections": [["plan", "tier"]],
            "policies": ["four_fifths_rule", "equal_opportunity"],
        },
    },
    source="test",
)


def _with_tier(frame: pd.DataFrame) -> pd.DataFrame:
    """A nullable integer protected attribute, missing only early in the week."""
    tier = (frame["visits"] % 3).astype("Int64")
    return frame.assign(tier=tier.mask(frame["ts"] < TIER_MISSING_BEFORE))


@pytest.fixture(scope="module")
def fair_frames(frames):  # type: ignore[no-untyped-def]
    return tuple(_with_tier(frame) for frame in frames)


@pytest.fixture(scope="module")
def spark_fair(spark_frames):  # type: ignore[no-untyped-def]
    """The same rows in 4 partitions by time: ``tier`` is missing in the first one only, so
    its Arrow batches are float64 (``1.0``) and the others' int64 (``1``): one group text."""
    from pyspark.sql import functions as F

    nanos = int(TIER_MISSING_BEFORE.value)
    tier = F.when(F.col("ts") < F.lit(nanos), F.lit(None)).otherwise(F.col("visits") % 3)
    return [
        frame.repartitionByRange(4, "ts").withColumn("tier", tier.cast("bigint"))
        for frame in spark_frames
    ]


def test_fairness_and_segments_equal_the_pandas_path(fair_frames, spark_fair) -> None:  # type: ignore[no-untyped-def]
    """Baseline from Spark and window in Spark (4 partitions) against the pandas path."""
    reference, window = fair_frames
    want_baseline = build_baseline_from_frame(SPEC_FAIR, reference)
    got_baseline = engine.baseline_from_spark(SPEC_FAIR, spark_fair[0])
    assert got_baseline.fairness is not None and want_baseline.fairness is not None
    _assert_same_groups(got_baseline.fairness, want_baseline.fairness)
    assert got_baseline.segments is not None and want_baseline.segments is not None
    assert [(s.column, s.segment, s.rows) for s in got_baseline.segments.segments] == [
        (s.column, s.segment, s.rows) for s in want_baseline.segments.segments
    ]

    inside = window[(window["ts"] >= START) & (window["ts"] < END)].reset_index(drop=True)
    want = evaluate_window(SPEC_FAIR, want_baseline, inside, window_start=START, window_end=END)
    got = engine.evaluate_spark_window(
        SPEC_FAIR, want_baseline, spark_fair[1], window_start=START, window_end=END
    )
    assert spark_fair[1].rdd.getNumPartitions() >= 3
    assert got.rows == want.rows == len(inside)
    _assert_same_window(got, want)
    assert any(o.kind == "policy" for o in want.outcomes)
    assert any(o.check_id.startswith("segment/") for o in want.outcomes)

    assert got.fairness is not None and want.fairness is not None
    assert got.fairness.decision == want.fairness.decision  # agreement: under AGREEMENT_ROWS
    _assert_same_groups(got.fairness.report, want.fairness.report)
    tiers = want.fairness.report.attribute("tier")
    assert tiers is not None and {g.group for g in tiers.groups} == {"0", "1", "2", "(missing)"}
    assert [(o.check_id, o.status, o.value) for o in got.fairness.outcomes] == [
        (o.check_id, o.status, o.value) for o in want.fairness.outcomes
    ]
    assert [r.to_dict() for r in got.fairness.policies] == [
        r.to_dict() for r in want.fairness.policies
    ]

    assert got.segments is not None and want.segments is not None
    assert got.segments.notes == want.segments.notes
    key = [(r.column, r.segment, r.rows, r.labelled_rows, r.status) for r in want.segments.results]
    assert [
        (r.column, r.segment, r.rows, r.labelled_rows, r.status) for r in got.segments.results
    ] == key
    assert {("region", "r10"), ("region", "r11")} <= {(c, s) for c, s, *_ in key}  # new values
    for a, b in zip(got.segments.results, want.segments.results, strict=True):
        assert (a.value is None) == (b.value is None), (b.column, b.segment)
        if b.value is not None:
            assert a.value == pytest.approx(b.value, abs=AUC_TOLERANCE)
        assert a.share_drifted == pytest.approx(b.share_drifted, abs=1e-9)


def _assert_same_groups(got: FairnessReport, want: FairnessReport) -> None:
    """Every group's counts exactly; disparities and their intervals to 1e-9."""
    assert (got.rows, got.labeled, got.metrics) == (want.rows, want.labeled, want.metrics)
    assert [a.attribute for a in got.attributes] == [a.attribute for a in want.attributes]
    assert "plan:tier" in [a.attribute for a in want.attributes]
    for a, b in zip(got.attributes, want.attributes, strict=True):
        assert a.reference_group == b.reference_group
        assert [g.to_dict() for g in a.groups] == [g.to_dict() for g in b.groups]
        for x, y in zip(a.disparities, b.disparities, strict=True):
            assert (x.group, x.metric, x.reference_group) == (y.group, y.metric, y.reference_group)
            for field in ("ratio", "difference", "difference_interval", "ratio_interval"):
                left, right = getattr(x, field), getattr(y, field)
                assert (left is None) == (right is None)
                if right is not None:
                    assert left == pytest.approx(right, abs=1e-9)
