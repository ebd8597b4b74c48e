"""`mlflow-monitor init`: roles guessed from names and dtypes, a spec that loads, no overwrite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mlflow_monitor.cli import main
from mlflow_monitor.spec import load_spec
from mlflow_monitor.workflows.init_spec import guess_roles


def _frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(rows),
            "event_time": pd.date_range("2025-01-01", periods=rows, freq="h"),
            "income": rng.normal(50, 10, rows),
            "plan": rng.choice(["a", "b", "c"], rows),
            "visits": rng.integers(0, 5, rows),
            "score": rng.uniform(0, 1, rows),
            "prediction": rng.integers(0, 2, rows),
            "label": rng.integers(0, 2, rows),
        }
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_init_writes_a_spec_that_loads(tmp_path: Path, suffix: str) -> None:
    data = tmp_path / f"sample{suffix}"
    frame = _frame()
    frame.to_parquet(data) if suffix == ".parquet" else frame.to_csv(data, index=False)
    out = tmp_path / "monitor.yaml"
    result = CliRunner().invoke(
        main, ["init", "--model", "churn", "--data", str(data), "--out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    spec = load_spec(out)
    assert spec.model == "churn"
    assert spec.task == "binary_classification"
    cols = spec.columns
    assert (cols.id, cols.target, cols.prediction, cols.score) == (
        "customer_id",
        "label",
        "prediction",
        "score",
    )
    assert cols.timestamp == "event_time"
    assert cols.numerical == ["income"]
    assert cols.categorical == ["plan", "visits"]
    assert "# Check every role below" in out.read_text()


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    data = tmp_path / "sample.parquet"
    _frame().to_parquet(data)
    out = tmp_path / "monitor.yaml"
    out.write_text("keep me")
    result = CliRunner().invoke(
        main, ["init", "--model", "m", "--data", str(data), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {out}: already exists (use --force to overwrite)"
    assert out.read_text() == "keep me"


def test_regression_target_is_recognised() -> None:
    frame = _frame().drop(columns=["score"])
    frame["label"] = np.linspace(0, 100, len(frame))
    frame["prediction"] = frame["label"] + 1.5
    assert guess_roles(frame).task == "regression"
