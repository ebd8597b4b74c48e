"""Windows assembled from the prediction log with labels added later, through the CLI.

A window captured into the log (no labels), labels added from a file a week later, then
``run --from-log``: the window gets the same results as the same rows run from a labelled file.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.prediction_log import open_log
from tests.integration.conftest import Registered
from tests.integration.flow import MODEL, cli

pytestmark = pytest.mark.integration
WINDOW = "drifted"
DROPPED = 7


def _capture(reg: Registered, log: Path | str, name: str = WINDOW) -> pd.DataFrame:
    """The window's rows as a served model would have logged them: no label, META columns."""
    frame = pd.read_parquet(reg.data.windows[name])
    logged = frame.drop(columns=["churned"]).assign(
        mm_request_id=[uuid.uuid4().hex for _ in range(len(frame))],
        mm_model=MODEL,
        mm_version=reg.version,
        mm_time=pd.to_datetime(frame["event_time"], utc=True),
        mm_dropped=[DROPPED] + [0] * (len(frame) - 1),  # the capture lost 7 before its batch
    )
    assert open_log(str(log)).append(logged) == len(frame)
    return frame


def _results(uri: str, run_id: str, folder: Path) -> dict[str, object]:
    local = MlflowClient(uri).download_artifacts(run_id, "results.json", str(folder))
    body: dict[str, object] = json.loads(Path(local).read_text())
    return body


@pytest.fixture(params=["embedded", "postgresql"])
def log_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The prediction log: a folder, or a fresh PostgreSQL database at 127.0.0.1:5432."""
    if request.param == "embedded":
        return str(tmp_path / "log")
    uri: str = request.getfixturevalue("postgres_uri")
    return uri.replace("postgresql+psycopg2://", "postgresql://")


def test_labels_added_later_join_and_the_window_matches_the_labelled_file(
    with_baseline: Registered, tmp_path: Path, log_uri: str
) -> None:
    reg, log = with_baseline, log_uri
    frame = _capture(reg, log)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": frame["customer_id"], "label": frame["churned"]}).assign(
        id=lambda f: f["id"].astype(str)
    ).to_csv(labels, index=False)
    pd.concat([pd.read_csv(labels), pd.DataFrame({"id": ["nobody"], "label": [1]})]).to_csv(
        labels, index=False
    )

    added = cli("labels", "add", "--spec", str(reg.spec), "--file", str(labels), "--log", str(log))
    assert added.exit_code == 0, added.stderr
    assert added.stdout.strip() == (
        f"stored {len(frame) + 1:,} labels for {MODEL}: 1 with an id the log never predicted, "
        "0 duplicates (the label added last wins)"
    )
    window = ["--window-start", reg.data.starts[WINDOW], "--window-end", reg.data.ends[WINDOW]]
    base = ["run", "--spec", str(reg.spec), "--version", reg.version, "--tracking-uri", reg.uri]
    from_log = cli(*base, "--from-log", str(log), *window)
    assert from_log.exit_code == 0, from_log.stderr
    assert f"{len(frame):,} labelled (coverage 100.0%)" in from_log.stderr
    # only predictions from the window's start on were read: "nobody" is said as such
    assert "1 matching no prediction made from 20" in from_log.stderr
    assert "(earlier ones, or none)" in from_log.stderr
    client = MlflowClient(reg.uri)
    log_run = client.get_model_version(MODEL, reg.version).tags["monitor.last_run_id"]
    from_file = cli(*base, "--current", str(reg.data.windows[WINDOW]), *window)
    assert from_file.exit_code == 0, from_file.stderr
    file_run = client.get_model_version(MODEL, reg.version).tags["monitor.last_run_id"]
    assert file_run != log_run
    by_log = _results(reg.uri, log_run, tmp_path / "a")
    by_file = _results(reg.uri, file_run, tmp_path / "b")
    assert by_log["health"] == by_file["health"] == reg.data.expected[WINDOW]
    assert by_log["outcomes"] == by_file["outcomes"]
    logged_metrics = dict(by_log["metrics"])  # type: ignore[call-overload]
    assert logged_metrics.pop("capture/dropped") == DROPPED  # served, never reached the log
    assert logged_metrics == by_file["metrics"]
    assert logged_metrics["labels/coverage"] == 1.0


def test_bad_labels_are_one_line_and_store_nothing(
    with_baseline: Registered, tmp_path: Path
) -> None:
    reg, log = with_baseline, tmp_path / "log"
    _capture(reg, log)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["1", "2"], "label": ["yes", "no"]}).to_csv(labels, index=False)
    added = cli("labels", "add", "--spec", str(reg.spec), "--file", str(labels), "--log", str(log))
    assert added.exit_code == 2
    assert added.stderr.strip() == (
        "error: labels.csv: column 'label' holds labels that are not numbers (e.g. 'yes'); "
        "binary_classification labels are numbers"
    )
    missing = tmp_path / "missing.csv"
    pd.DataFrame({"customer": ["1"], "label": [1]}).to_csv(missing, index=False)
    added = cli("labels", "add", "--spec", str(reg.spec), "--file", str(missing), "--log", str(log))
    assert added.exit_code == 2
    assert added.stderr.strip() == "error: missing.csv: missing column 'id' (--id-column)"
    assert len(open_log(str(log)).labels(model=MODEL)) == 0
    empty = cli(
        "run", "--spec", str(reg.spec), "--version", reg.version, "--tracking-uri", reg.uri,
        "--from-log", str(log), "--window-start", "2030-01-01T00:00:00Z",
        "--window-end", "2030-01-08T00:00:00Z",
    )  # fmt: skip
    assert empty.exit_code == 2
    assert "no predictions of churn-classifier version 1 in" in empty.stderr


def test_backfill_reruns_only_the_windows_whose_labels_arrived(
    with_baseline: Registered, tmp_path: Path
) -> None:
    reg, log = with_baseline, tmp_path / "log"
    store = open_log(str(log))
    frames = {}
    for name in ("stable", "drifted"):
        frame = pd.read_parquet(reg.data.windows[name])
        frames[name] = frame
        store.append(
            frame.drop(columns=["churned"]).assign(
                mm_request_id=[uuid.uuid4().hex for _ in range(len(frame))],
                mm_model=MODEL,
                mm_version=reg.version,
                mm_time=pd.to_datetime(frame["event_time"], utc=True),
            )
        )
    base = ["--spec", str(reg.spec), "--version", reg.version, "--tracking-uri", reg.uri]
    for name in ("stable", "drifted"):
        window = ["--window-start", reg.data.starts[name], "--window-end", reg.data.ends[name]]
        done = cli("run", *base, "--from-log", str(log), *window)
        assert done.exit_code == 0, done.stderr
        assert "0 labelled (coverage 0.0%)" in done.stderr
    client = MlflowClient(reg.uri)
    before = client.get_model_version(MODEL, reg.version).tags
    # a week later, the labels of the first window arrive
    stable = frames["stable"]
    store.add_labels(
        model=MODEL, labels=pd.DataFrame({"id": stable["customer_id"], "label": stable["churned"]})
    )
    done = cli("backfill", *base, "--from-log", str(log))
    assert done.exit_code == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{reg.data.starts['stable']} - {reg.data.ends['stable']}: ")
    assert "coverage 0.0% -> 100.0%, re-run: healthy" in lines[0]
    assert lines[1].endswith("coverage 0.0% -> 0.0%, unchanged")
    after = client.get_model_version(MODEL, reg.version).tags
    for tag in ("monitor.health", "monitor.last_run_id", "monitor.window_end"):
        assert after[tag] == before[tag], tag  # the latest window still holds the verdict
    rerun = lines[0].split("(run ")[1].rstrip(")")
    auc = client.get_metric_history(rerun, "perf/roc_auc")
    end_ms = int(pd.Timestamp(reg.data.ends["stable"]).timestamp() * 1000)
    assert [m.timestamp for m in auc] == [end_ms]  # logged at the window's end
    again = cli("backfill", *base, "--from-log", str(log))
    assert "re-run" not in again.stdout  # coverage did not rise since


def _artifact_text(uri: str, run_id: str, path: str) -> str:
    folder = tempfile.mkdtemp(prefix="mm-test-")
    return Path(MlflowClient(uri).download_artifacts(run_id, path, folder)).read_text()


def test_a_window_is_judged_on_estimates_until_its_labels_come_and_the_backfill_logs_the_error(
    with_baseline: Registered, tmp_path: Path
) -> None:
    """Run from the log before its labels exist, the window is judged on estimated performance
    (CBPE); once its labels are added, the backfill's re-run logs the realized metrics and how
    far the estimate was from them (``perf_est_error/<m>``), and the card shows both stages."""
    reg, log, name = with_baseline, tmp_path / "log", "stable"
    frame = _capture(reg, log, name)
    base = ["--spec", str(reg.spec), "--version", reg.version, "--tracking-uri", reg.uri]
    window = ["--window-start", reg.data.starts[name], "--window-end", reg.data.ends[name]]
    done = cli("run", *base, "--from-log", str(log), *window)
    assert done.exit_code == 0, done.stderr
    assert "0 labelled (coverage 0.0%)" in done.stderr
    client = MlflowClient(reg.uri)
    tags = client.get_model_version(MODEL, reg.version).tags
    blind_run = tags["monitor.last_run_id"]
    assert tags["monitor.partial"] == "true"  # the critical performance checks await labels
    assert client.get_run(blind_run).data.tags["monitor.partial"] == "true"
    blind = _results(reg.uri, blind_run, tmp_path / "blind")
    auc = {o["basis"]: o for o in blind["outcomes"] if o["check_id"] == "performance/roc_auc"}  # type: ignore[attr-defined, index]
    assert auc["measured"]["status"] == "not_evaluated"
    assert auc["estimated"]["status"] == "pass" and auc["estimated"]["severity"] == "warning"
    assert auc["estimated"]["message"].startswith("estimated before labels (cbpe): roc_auc ")
    estimation = blind["estimation"]
    assert isinstance(estimation, dict) and estimation["judged"] is True
    estimated_auc = estimation["performance"]["metrics"]["roc_auc"]
    assert estimated_auc["low"] <= estimated_auc["value"] <= estimated_auc["high"]
    logged = client.get_run(blind_run).data.metrics
    assert logged["perf_est/roc_auc"] == pytest.approx(estimated_auc["value"])
    assert "perf/roc_auc" not in logged
    assert not any(k.startswith("perf_est_error/") for k in logged)
    notebook = _artifact_text(reg.uri, blind_run, "notebooks/monitor.ipynb")
    assert "Estimated before labels (CBPE/DLE)" in notebook
    assert "judged on these estimates: no labels yet" in notebook  # the display cell ran
    card = _artifact_text(reg.uri, blind_run, "model_card.md")
    assert "- **Latest window:** performance estimated (CBPE) before labels: roc_auc " in card
    assert "No window with labels yet to compare the estimates with." in card

    # a week later the labels come, and the backfill re-runs the window
    store = open_log(str(log))
    store.add_labels(
        model=MODEL, labels=pd.DataFrame({"id": frame["customer_id"], "label": frame["churned"]})
    )
    done = cli("backfill", *base, "--from-log", str(log))
    assert done.exit_code == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    assert "coverage 0.0% -> 100.0%, re-run: healthy" in line
    rerun = line.split("(run ")[1].rstrip(")")
    assert client.get_run(blind_run).data.tags["monitor.superseded_by"] == rerun
    assert client.get_model_version(MODEL, reg.version).tags["monitor.partial"] == ""  # judged
    labelled = _results(reg.uri, rerun, tmp_path / "labelled")
    assert not [o for o in labelled["outcomes"] if o["basis"] == "estimated"]  # type: ignore[attr-defined, index]
    estimation = labelled["estimation"]
    assert isinstance(estimation, dict) and estimation["judged"] is False
    metrics = client.get_run(rerun).data.metrics
    error = metrics["perf_est_error/roc_auc"]
    assert error == pytest.approx(estimation["error"]["roc_auc"])
    assert abs(error) < 0.05  # the demo's stable window: estimation tracks the realized AUC
    assert metrics["perf/roc_auc"] > 0.7 and metrics["labels/coverage"] == 1.0
    end_ms = int(pd.Timestamp(reg.data.ends[name]).timestamp() * 1000)
    points = client.get_metric_history(rerun, "perf_est_error/roc_auc")
    assert [p.timestamp for p in points] == [end_ms]  # logged at the window's end, as perf/*
    notebook = _artifact_text(reg.uri, rerun, "notebooks/monitor.ipynb")
    assert "the window has labels, judged on them: error = estimated - realized" in notebook
    card = _artifact_text(reg.uri, rerun, "model_card.md")
    assert "- **Latest window:** performance estimated" not in card
    realized = metrics["perf/roc_auc"]
    row = (
        f"| {reg.data.ends[name]} | roc_auc | {realized + error:.4g} | {realized:.4g} | "
        f"{error:+.3f} | 100% |"
    )
    assert row in card
    trend = [ln for ln in card.split("## Monitoring")[1].splitlines() if rerun in ln]
    assert len(trend) == 1 and "| healthy |" in trend[0]  # the re-run's row of the trend
