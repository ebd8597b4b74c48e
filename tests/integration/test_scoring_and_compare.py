"""The version scores its own window; a shadow comparison gates a promotion (``must_beat``).

Real MLflow (SQLite), papermill executing ``monitor.ipynb``, the registered scikit-learn models
loaded in the notebook's kernel. A window that comes without the model's output is scored by
the version and judged exactly like the same window scored beforehand; a window missing a
feature the model needs is refused before any run. A weak and a strong version are compared
on the same rows: ``must_beat: champion`` grants the strong one and refuses the weak one, and
the paired test's numbers are in the audit record.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.contract import WindowResults
from mlflow_monitor.workflows import demo
from tests.integration.conftest import Registered
from tests.integration.flow import cli, run_args

MODEL = "churn-classifier"
OUTPUTS = ["churn_score", "prediction"]


def _results(client: MlflowClient, run_id: str, tmp: Path) -> dict[str, object]:
    local = client.download_artifacts(run_id, "results.json", str(tmp))
    body: dict[str, object] = json.loads(Path(local).read_text())
    return body


def _verdict_run(client: MlflowClient, version: str) -> str:
    return str(client.get_model_version(MODEL, version).tags["monitor.last_run_id"])


def _window(reg: Registered, name: str, path: Path, *extra: str) -> list[str]:
    times = ("--window-start", reg.data.starts[name], "--window-end", reg.data.ends[name])
    return run_args(reg, path, *times, *extra)


@pytest.mark.integration
def test_a_window_without_outputs_is_scored_by_the_version_and_judged_alike(
    with_baseline: Registered, tmp_path: Path
) -> None:
    reg = with_baseline
    client = MlflowClient(reg.uri)
    scored = reg.data.windows["degraded"]
    raw = tmp_path / "raw.parquet"
    pd.read_parquet(scored).drop(columns=OUTPUTS).to_parquet(raw, index=False)

    given = cli(*_window(reg, "degraded", scored))
    assert given.exit_code == 0, given.stderr
    before = _results(client, _verdict_run(client, reg.version), tmp_path / "a")

    result = cli(*_window(reg, "degraded", raw))
    assert result.exit_code == 0, result.stderr
    assert "outputs missing: downloading models:/churn-classifier/" in result.stderr
    run_id = _verdict_run(client, reg.version)
    after = _results(client, run_id, tmp_path / "b")

    record = WindowResults.from_dict(after).scoring
    assert record is not None and record.rows_scored == record.rows == 3000
    assert record.reason == "absent" and set(record.columns) == set(OUTPUTS)
    assert record.model_uri == f"models:/{MODEL}/{reg.version}" and record.seconds > 0
    assert after["metrics"]["scoring/rows_scored"] == 3000  # type: ignore[index]
    assert "scoring" not in before
    assert after["health"] == before["health"] == "critical"
    statuses = {o["check_id"]: (o["status"], o["value"]) for o in before["outcomes"]}  # type: ignore[attr-defined]
    again = {o["check_id"]: (o["status"], o["value"]) for o in after["outcomes"]}  # type: ignore[attr-defined]
    assert again.keys() == statuses.keys()
    for check, (status, value) in statuses.items():
        assert again[check][0] == status, check
        if isinstance(value, float):
            assert again[check][1] == pytest.approx(value, abs=1e-9), check
    local = client.download_artifacts(run_id, "notebooks/monitor.ipynb", str(tmp_path / "nb"))
    text = json.dumps(nbformat.read(local, as_version=4).cells)
    assert "scored 3,000 of 3,000 rows with models:/churn-classifier/" in text


@pytest.mark.integration
def test_a_window_missing_a_feature_the_model_needs_is_refused_before_any_run(
    with_baseline: Registered, tmp_path: Path
) -> None:
    reg = with_baseline
    client = MlflowClient(reg.uri)
    raw = tmp_path / "no-tenure.parquet"
    frame = pd.read_parquet(reg.data.windows["stable"]).drop(columns=OUTPUTS)
    frame.drop(columns=["support_calls"]).to_parquet(raw, index=False)
    runs_before = len(
        client.search_runs([client.get_experiment_by_name(f"monitor/{MODEL}").experiment_id])
    )

    result = cli(*_window(reg, "stable", raw))
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "support_calls" in lines[0] and "no-tenure.parquet" in lines[0]
    experiment = client.get_experiment_by_name(f"monitor/{MODEL}").experiment_id
    assert len(client.search_runs([experiment])) == runs_before
    assert "monitor.health" not in client.get_model_version(MODEL, reg.version).tags


def _weak_model(frame: pd.DataFrame) -> object:
    """A churn model that sees age and charges only: clearly worse than the demo's (ROC AUC
    about 0.60 against 0.78), its scores still on both sides of the 0.5 threshold."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    model = Pipeline(
        [
            ("pick", ColumnTransformer([("two", "passthrough", ["age", "monthly_charges"])])),
            ("model", LogisticRegression()),
        ]
    )
    model.fit(frame[demo.NUMERICAL + demo.CATEGORICAL], frame["churned"])
    return model


def _gate_spec(reg: Registered) -> Path:
    text = reg.spec.read_text()
    gate = (
        "gates:\n  champion:\n    must_beat: champion\n    allowed_health: [healthy, warning,"
        " critical]\n    max_age: null\n"
    )
    path = reg.spec.with_name("monitor.yaml")
    path.write_text(text + gate)
    return path


@pytest.mark.integration
def test_must_beat_grants_the_better_version_and_refuses_the_worse_with_paired_evidence(
    registered: Registered, tmp_path: Path
) -> None:
    from mlflow_monitor.adapters.mlflow.models import register_sklearn_model
    from mlflow_monitor.workflows.build_baseline import build_baseline_run

    reg, uri = registered, registered.uri
    client = MlflowClient(uri)
    spec = _gate_spec(reg)
    train = demo.make_churn(3000, seed=11, start=demo.START)
    weak = register_sklearn_model(
        _weak_model(train), MODEL, tracking_uri=uri, artifact_root=tmp_path / "mlartifacts"
    )
    strong = reg.version
    reference = demo.make_churn(4000, seed=2)
    for version, model in ((strong, reg.data.model), (weak, None)):
        scored = demo.score(model or _weak_model(train), reference)
        path = tmp_path / f"reference-{version}.parquet"
        scored.to_parquet(path, index=False)
        build_baseline_run(spec, version, path, tracking_uri=uri)
    client.set_registered_model_alias(MODEL, "champion", weak)
    raw = tmp_path / "stable-raw.parquet"
    pd.read_parquet(reg.data.windows["stable"]).drop(columns=OUTPUTS).to_parquet(raw, index=False)

    # the strong version, on the raw window, against the weak champion: both sides scored
    compared = cli(*_window(reg, "stable", raw, "--compare", "@champion"))
    assert compared.exit_code == 0, compared.stderr
    body = _results(client, _verdict_run(client, strong), tmp_path / "s")
    comparison = body["comparison"]
    assert comparison["against"] == "@champion" and comparison["against_version"] == weak  # type: ignore[index]
    assert comparison["scoring"]["reason"] == "comparison"  # type: ignore[index]
    paired = {t["metric"]: t for t in comparison["paired"]}  # type: ignore[index]
    assert (
        paired["roc_auc"]["method"] == "paired_delong" and paired["roc_auc"]["improvement"] > 0.05
    )
    assert paired["accuracy"]["method"] == "mcnemar" and paired["accuracy"]["discordant"]
    assert {"challenger", "champion"} <= set(comparison["performance"]["roc_auc"])  # type: ignore[index]
    rows = [r for r in comparison["fairness"] if r["metric"] == "tpr"]  # type: ignore[index]
    assert {r["group"] for r in rows} == {"female", "male"} and all(
        r["champion_interval"] for r in rows
    )
    assert (
        body["metrics"]["compare/champion/improvement/roc_auc"] == paired["roc_auc"]["improvement"]
    )  # type: ignore[index]

    granted = cli(
        "promote", "--model", MODEL, "--version", strong, "--alias", "champion",
        "--spec", str(spec), "--tracking-uri", uri,
    )  # fmt: skip
    assert granted.exit_code == 0, granted.stderr
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == strong

    # the weak version, against the strong one that now holds @champion: refused
    weak_reg = Registered(uri, spec, weak, reg.data)
    worse = cli(*_window(weak_reg, "stable", raw, "--compare", "@champion"))
    assert worse.exit_code == 0, worse.stderr
    refused = cli(
        "promote", "--model", MODEL, "--version", weak, "--alias", "champion",
        "--spec", str(spec), "--tracking-uri", uri,
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "must_beat @champion on roc_auc" in refused.stderr
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == strong

    history = cli("history", "--model", MODEL, "--json", "--tracking-uri", uri)
    records = [json.loads(line) for line in history.stdout.splitlines() if line.strip()]
    by_decision = {r["decision"]: r for r in records if r["alias"] == "champion"}
    won, lost = (
        by_decision["granted"]["evidence"]["beat"],
        by_decision["refused"]["evidence"]["beat"],
    )
    assert won["beats"] is True and won["lower_bound"] > 0 and won["against_version"] == weak
    assert lost["beats"] is False and lost["improvement"] < 0 and lost["against_version"] == strong
    assert lost["method"] == "paired_delong" and 0 <= lost["one_sided_p_value"] <= 1
    assert lost["n"] == 3000
