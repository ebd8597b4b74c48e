"""``workflows.rebaseline``: an accepted window becomes the baseline, audited; bad requests change
nothing.

Real MLflow (SQLite in ``tmp_path``): a registered churn version with a real baseline
(``baseline.ipynb`` executed), and window runs written through ``MonitorRuns`` with their
``results.json`` (the facts ``rebaseline`` reads: status, window tags, recorded rows), so each
refusal is checked without executing a monitoring notebook. The drift story end to end (a
window run by ``run``, then ``rebaseline``, then the same data judged again) is in
``tests/integration/test_rebaseline.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.adapters.prediction_log import open_log
from mlflow_monitor.errors import DataError, MonitorError
from mlflow_monitor.ui import create_app
from mlflow_monitor.workflows import demo
from mlflow_monitor.workflows.build_baseline import build_baseline_run
from mlflow_monitor.workflows.promote import history
from mlflow_monitor.workflows.rebaseline import (
    RebaselineInputError,
    WindowChoice,
    rebaseline,
)

MODEL = demo.MODEL_NAME
START = demo.START + timedelta(days=14)
END = START + timedelta(days=7)
WINDOW = ("2025-01-20T00:00:00Z", "2025-01-27T00:00:00Z")
ROWS = 1200


@dataclass(frozen=True)
class Data:
    spec: Path
    reference: Path
    window: pd.DataFrame  # scored, labelled, in [START, END)


@dataclass(frozen=True)
class Store:
    uri: str
    spec: Path
    window: pd.DataFrame
    baseline_run_id: str


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    folder = tmp_path_factory.mktemp("rebaseline-data")
    model = demo.train_churn_model(demo.make_churn(3000, seed=1))
    reference = folder / "reference.parquet"
    demo.score(model, demo.make_churn(2000, seed=2)).to_parquet(reference, index=False)
    window = demo.score(model, demo.make_churn(ROWS, seed=3, drift=0.7, start=START))
    spec = demo.write_demo_spec(folder / "monitor.yaml")
    spec.write_text(spec.read_text().replace("report_rows: 2000", "report_rows: 300"))
    return Data(spec, reference, window)


@pytest.fixture(scope="module")
def store(data: Data, _empty_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The version registered (no model files: nothing is scored) with a real baseline.

    One per module: a refusal writes nothing, so the tests share it (each makes its own newest
    window run); the re-baselines run after the refusals, in file order.
    """
    tmp_path = tmp_path_factory.mktemp("rebaseline-store")
    shutil.copyfile(_empty_store, tmp_path / "mlflow.db")
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri)
    client.create_registered_model(MODEL)
    client.create_model_version(MODEL, source=str(tmp_path / "model"))
    built = build_baseline_run(data.spec, "1", data.reference, tracking_uri=tracking_uri)
    return Store(tracking_uri, data.spec, data.window, built.run_id)


def window_run(
    uri: str,
    *,
    rows: int = ROWS,
    status: str = "FINISHED",
    window: tuple[str, str] = WINDOW,
    health: str = "critical",
) -> str:
    """A window run as ``run`` leaves one: tagged with its window, its results.json logged."""
    runs = MonitorRuns(uri)
    tags = {"monitor.window_start": window[0], "monitor.window_end": window[1]}
    run_id = runs.start_run(MODEL, "1", kind="window", run_name="v1 window", tags=tags)
    body = {"model": MODEL, "model_version": "1", "window_start": window[0]}
    body |= {"window_end": window[1], "rows": rows, "health": health, "outcomes": []}
    MlflowClient(uri).log_dict(run_id, body, "results.json")
    runs.set_run_tags(run_id, {"monitor.health": health})
    if status != "RUNNING":
        runs.end_run(run_id, status)  # type: ignore[arg-type]
    time.sleep(0.01)  # attempts are ordered by start time (ms): the next one is newer
    return run_id


def snapshot(uri: str) -> tuple[str, int]:
    """The version's baseline tag and how many runs the model's experiment holds."""
    client = MlflowClient(uri)
    tag = client.get_model_version(MODEL, "1").tags["monitor.baseline_run_id"]
    experiment = client.get_experiment_by_name(f"monitor/{MODEL}")
    assert experiment is not None
    return tag, len(client.search_runs([experiment.experiment_id], max_results=1000))


def refused(store: Store, tmp_path: Path, **kwargs: object) -> str:
    """Call ``rebaseline`` expecting a refusal; assert nothing was written; its message."""
    before = snapshot(store.uri)
    arguments: dict[str, object] = {"reason": "the market moved", "tracking_uri": store.uri}
    if "log_uri" not in kwargs:
        current = tmp_path / "window.parquet"
        store.window.to_parquet(current, index=False)
        arguments["current"] = current
    arguments.update(kwargs)
    with pytest.raises(MonitorError) as caught:
        rebaseline(store.spec, "1", **arguments)  # type: ignore[arg-type]
    assert snapshot(store.uri) == before
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)
    return str(caught.value)


# -- refusals: one line, nothing written ----------------------------------------------------------
def test_a_reason_is_required(store: Store, tmp_path: Path) -> None:
    run = window_run(store.uri)
    for reason in (None, "", "   "):
        message = refused(store, tmp_path, window=WindowChoice(run), reason=reason)
        assert message.startswith("--reason TEXT is required")


def test_only_a_finished_window_run_of_the_version_counts(store: Store, tmp_path: Path) -> None:
    running = window_run(store.uri, status="RUNNING")
    failed = window_run(
        store.uri, status="FAILED", window=("2025-01-27T00:00:00Z", "2025-02-03T00:00:00Z")
    )
    assert refused(store, tmp_path, window=WindowChoice(running)) == (
        f"--window-run {running}: the run is RUNNING; only a FINISHED window can become the "
        "baseline"
    )
    assert "the run is FAILED" in refused(store, tmp_path, window=WindowChoice(failed))
    assert refused(store, tmp_path, window=WindowChoice(store.baseline_run_id)) == (
        f"--window-run {store.baseline_run_id}: not a window run of {MODEL} version 1"
    )


def test_a_superseded_attempt_is_refused_naming_the_newer(store: Store, tmp_path: Path) -> None:
    older = window_run(store.uri)
    newer = window_run(store.uri)
    message = refused(store, tmp_path, window=WindowChoice(older))
    assert message.startswith(f"--window-run {older}: superseded by run {newer}")


def test_rows_that_are_not_the_windows_say_what_was_recorded(store: Store, tmp_path: Path) -> None:
    run = window_run(store.uri, rows=ROWS - 5)
    message = refused(store, tmp_path, window=WindowChoice(run))
    assert message == (
        f"window.parquet: {ROWS:,} rows ({ROWS:,} in the run's window [{WINDOW[0]}, "
        f"{WINDOW[1]})), but window run {run} recorded {ROWS - 5:,} rows in its results.json: "
        "not the same window"
    )


def test_a_window_without_labels_is_refused(store: Store, tmp_path: Path) -> None:
    run = window_run(store.uri)
    unlabelled = tmp_path / "unlabelled.parquet"
    store.window.drop(columns=["churned"]).to_parquet(unlabelled, index=False)
    message = refused(store, tmp_path, window=WindowChoice(run), current=unlabelled)
    assert message.startswith(
        f"window run {run}: the window has no labels in column 'churned' (columns.target)"
    )
    store.window.assign(churned=None).to_parquet(unlabelled, index=False)  # labels all missing
    assert "has no labels" in refused(store, tmp_path, window=WindowChoice(run), current=unlabelled)


def test_the_window_and_the_source_are_named_once_each(store: Store, tmp_path: Path) -> None:
    run = window_run(store.uri)
    both = WindowChoice(run, WINDOW[0], WINDOW[1])
    assert refused(store, tmp_path, window=both).startswith("name the accepted window with")
    assert refused(store, tmp_path, window=WindowChoice()).startswith("name the accepted window")
    two = {"log_uri": str(tmp_path / "log"), "current": tmp_path / "window.parquet"}
    none: dict[str, object] = {"log_uri": None, "current": None}
    for sources in (two, none):
        message = refused(store, tmp_path, window=WindowChoice(run), **sources)
        assert message.startswith("give the window's rows with exactly one of")
    missing = WindowChoice(None, "2024-01-01", "2024-01-08")
    assert refused(store, tmp_path, window=missing) == (
        f"no finished window [2024-01-01T00:00:00Z, 2024-01-08T00:00:00Z) of {MODEL} version 1 "
        f"(latest windows: [{WINDOW[0]}, {WINDOW[1]}))"
    )


# -- a re-baseline: the new baseline, the tags, the audit record, the card ------------------------
def test_rebaseline_from_the_file_then_from_the_log(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_MONITOR_USER", "dana")
    run = window_run(store.uri)
    wider = tmp_path / "wider.parquet"  # the window and rows after it: [start, end) is cut
    after = store.window.head(40).assign(event_time=pd.Timestamp(WINDOW[1]) + pd.Timedelta("1h"))
    pd.concat([store.window, after]).to_parquet(wider, index=False)
    client = MlflowClient(store.uri)
    said: list[str] = []

    done = rebaseline(
        store.spec,
        "1",
        window=WindowChoice(None, "2025-01-20", "2025-01-27T00:00:00+00:00"),
        reason="  prices rose\nfor good ",
        current=wider,
        tracking_uri=store.uri,
        echo=said.append,
    )
    assert not [line for line in said if "not refreshed" in line], said

    record = done.record
    assert (record.window_run_id, record.rows, record.user) == (run, ROWS, "dana")
    assert record.reason == "prices rose for good"
    assert record.previous_baseline_run_id == store.baseline_run_id
    tags = client.get_model_version(MODEL, "1").tags
    assert tags["monitor.baseline_run_id"] == record.baseline_run_id == done.baseline.run_id
    new = client.get_run(record.baseline_run_id)
    assert new.info.status == "FINISHED" and new.data.tags["monitor.kind"] == "baseline"
    assert new.data.tags["monitor.rebaseline.from_run"] == run
    assert new.data.tags["monitor.rebaseline.reason"] == "prices rose for good"
    assert new.data.tags["monitor.rebaseline.by"] == "dana"
    assert new.data.tags["monitor.rebaseline.previous_run"] == store.baseline_run_id
    assert new.data.params["reference_rows"] == str(ROWS)
    assert new.data.params["reference_path"] == f"window run {run} (file wider.parquet)"
    old = client.get_run(store.baseline_run_id)
    assert old.info.lifecycle_stage == "active" and old.info.status == "FINISHED"
    baseline = json.loads(
        Path(
            client.download_artifacts(new.info.run_id, "baseline/baseline.json", str(tmp_path))
        ).read_text()
    )
    assert baseline["rows"] == ROWS

    [stored] = history(MODEL, tracking_uri=store.uri)
    assert stored.decision == "rebaseline" and stored.alias == ""
    assert (stored.version, stored.user) == ("1", "dana")
    assert stored.run_id == done.audit_run_id
    assert stored.reasons == (
        "reason: prices rose for good",
        f"baseline run {store.baseline_run_id} -> {record.baseline_run_id}",
        f"from window run {run} [{WINDOW[0]} -> {WINDOW[1]}), {ROWS:,} rows (file wider.parquet)",
    )
    gates = create_app(tracking_uri=store.uri).test_client().get("/monitor/gates")
    [row] = re.findall(r'<tr class="gate-row"[^>]*>.*?</tr>', gates.get_data(as_text=True), re.S)
    assert 'data-decision="rebaseline"' in row and "reason: prices rose for good" in row
    assert "@" not in row and ">dana<" in row  # no alias: the baseline moved
    card = Path(client.download_artifacts(new.info.run_id, "model_card.md", str(tmp_path)))
    assert (
        f"Re-baselined from window run {run} ({WINDOW[0]} -> {WINDOW[1]}) by dana: "
        f"prices rose for good (previous baseline run {store.baseline_run_id})."
    ) in card.read_text()

    log = str(tmp_path / "log")  # the same rows, as a served model logged them, labels later
    logged = store.window.drop(columns=["churned"]).assign(
        mm_request_id=[f"r{i}" for i in range(ROWS)],
        mm_model=MODEL,
        mm_version="1",
        mm_time=pd.to_datetime(store.window["event_time"], utc=True),
    )
    open_log(log).append(logged)
    labels = pd.DataFrame(
        {"id": store.window["customer_id"].astype(str), "label": store.window["churned"]}
    ).assign(event_time=pd.NaT)
    open_log(log).add_labels(model=MODEL, labels=labels)
    again = rebaseline(
        store.spec,
        "1",
        window=WindowChoice(run),
        reason="the log holds it too",
        log_uri=log,
        tracking_uri=store.uri,
    )
    assert again.record.previous_baseline_run_id == record.baseline_run_id
    assert again.record.rows == ROWS and again.record.source == f"log {log}"
    tag = client.get_model_version(MODEL, "1").tags["monitor.baseline_run_id"]
    assert tag == again.record.baseline_run_id
    assert [r.decision for r in history(MODEL, tracking_uri=store.uri)] == ["rebaseline"] * 2
    assert history(MODEL, tracking_uri=store.uri, alias="champion") == []


def test_the_log_must_hold_the_recorded_rows(store: Store, tmp_path: Path) -> None:
    run = window_run(store.uri)
    log = str(tmp_path / "log")
    logged = store.window.head(1000).assign(
        mm_request_id=[f"r{i}" for i in range(1000)],
        mm_model=MODEL,
        mm_version="1",
        mm_time=pd.to_datetime(store.window["event_time"].head(1000), utc=True),
    )
    open_log(log).append(logged)
    message = refused(store, tmp_path, window=WindowChoice(run), log_uri=log, current=None)
    assert message == (
        f"{log}: 1,000 predictions of version 1 in [{WINDOW[0]}, {WINDOW[1]}), but window run "
        f"{run} recorded {ROWS:,} rows in its results.json"
    )


def test_data_errors_are_data_errors(store: Store, tmp_path: Path) -> None:
    """Refusals about rows are ``DataError`` (the CLI's exit 2 with the file named)."""
    run = window_run(store.uri, rows=3)
    current = tmp_path / "window.parquet"
    store.window.to_parquet(current, index=False)
    with pytest.raises(DataError):
        rebaseline(
            store.spec,
            "1",
            window=WindowChoice(run),
            reason="x",
            current=current,
            tracking_uri=store.uri,
        )
    with pytest.raises(RebaselineInputError):
        rebaseline(store.spec, "1", window=WindowChoice(run), reason="x", tracking_uri=store.uri)
