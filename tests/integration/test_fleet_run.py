"""``fleet run`` on a real small fleet: SQLite MLflow, the embedded prediction log, papermill.

The fleet (built once per module): model ``fleet-a`` with version 1 (``@champion``) and
version 2 (``@challenger``), both read from the log (the default selection: every version
holding an alias); model ``fleet-b`` version 1, which already has a verdict, named by number and
given a broken window file (a feature column missing); model ``fleet-c``, whose spec has an
unknown key.
One run of the fleet with ``--concurrency 2``: A's windows run, B and C fail, each named, and B
keeps its verdict. A second run (A only, ``--concurrency 1``, ``--fail-on warning``) shows one
worker taking both windows, each on a kernel started ahead.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.models import register_sklearn_model
from mlflow_monitor.adapters.prediction_log import open_log
from mlflow_monitor.contract import TAG_HEALTH, TAG_LAST_RUN, utc_text
from mlflow_monitor.workflows import fleet_run
from mlflow_monitor.workflows.build_baseline import build_baseline_run
from mlflow_monitor.workflows.log_windows import latest_window
from mlflow_monitor.workflows.monitor_window import run_window
from tests.integration.conftest import ChurnData, write_spec
from tests.integration.flow import cli

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Fleet:
    uri: str
    folder: Path
    window: tuple[str, str]
    b_run: str  # fleet-b v1's verdict before the fleet ran
    first: Result  # the fleet with failures
    first_report: dict[str, object]
    second: Result  # fleet-a alone, one worker, --fail-on warning
    second_report: dict[str, object]
    hooked: list[tuple[object, ...]]


def _spec(folder: Path, model: str) -> Path:
    path = write_spec(folder)
    path.write_text(path.read_text().replace("model: churn-classifier", f"model: {model}"))
    return path


def _log_version(log: object, data: ChurnData, name: str, model: str, version: str) -> None:
    """The window's rows as served by ``version`` in the latest complete day, labels added."""
    frame = pd.read_parquet(data.windows[name])
    start, end = latest_window(86400, now=datetime.now(timezone.utc))
    span = (end - start).total_seconds() - 1
    times = pd.Timestamp(start) + pd.to_timedelta(
        [span * i / len(frame) for i in range(len(frame))], unit="s"
    )
    logged = frame.drop(columns=["churned"]).assign(
        mm_request_id=[f"{model}-{version}-{i}" for i in range(len(frame))],
        mm_model=model,
        mm_version=version,
        mm_time=times,
    )
    meta = ["mm_request_id", "mm_model", "mm_version", "mm_time"]
    log.append(logged[meta + [c for c in logged.columns if c not in meta]])  # type: ignore[attr-defined]
    labels = pd.DataFrame({"id": frame["customer_id"].astype(str), "label": frame["churned"]})
    log.add_labels(model=model, labels=labels.assign(event_time=times))  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path, churn: ChurnData) -> Fleet:
    folder = tmp_path_factory.mktemp("fleet")
    shutil.copyfile(_empty_store, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(uri)
    log = open_log(str(folder / "log"))
    artifacts = folder / "mlartifacts"
    spec_a, spec_b = _spec(folder / "a", "fleet-a"), _spec(folder / "b", "fleet-b")
    (folder / "c").mkdir()
    (folder / "c" / "monitor.yaml").write_text(
        _spec(folder / "tmp", "fleet-c").read_text() + "colums: {}\n"
    )
    for model, spec in (("fleet-a", spec_a), ("fleet-b", spec_b)):
        register_sklearn_model(churn.model, model, tracking_uri=uri, artifact_root=artifacts)
        build_baseline_run(spec, "1", churn.reference, tracking_uri=uri)
    first = client.get_model_version("fleet-a", "1")
    with pytest.MonkeyPatch.context() as env:  # MLflow resolves the logged model globally
        env.setenv("MLFLOW_TRACKING_URI", uri)
        client.create_model_version("fleet-a", first.source, run_id=first.run_id)
    baseline = first.tags["monitor.baseline_run_id"]
    client.set_model_version_tag("fleet-a", "2", "monitor.baseline_run_id", baseline)
    client.set_registered_model_alias("fleet-a", "champion", "1")
    client.set_registered_model_alias("fleet-a", "challenger", "2")
    _log_version(log, churn, "stable", "fleet-a", "1")
    _log_version(log, churn, "drifted", "fleet-a", "2")
    verdict = run_window(
        spec_b,
        "1",
        churn.windows["stable"],
        tracking_uri=uri,
        window_start=churn.starts["stable"],
        window_end=churn.ends["stable"],
    )
    broken = folder / "b" / "broken.parquet"
    pd.read_parquet(churn.windows["stable"]).drop(columns=["contract"]).to_parquet(broken)
    (folder / "fleet.yaml").write_text(
        "log: log\nperiod: 1d\ngrace: 1h\nconcurrency: 3\nmodels:\n"
        "  - spec: a/monitor.yaml\n"
        "  - spec: b/monitor.yaml\n    versions: ['1']\n    current: b/broken.parquet\n"
        "  - spec: c/monitor.yaml\n"
    )
    (folder / "only-a.yaml").write_text(
        "log: log\nmodels:\n  - spec: a/monitor.yaml\n"
        "    versions: ['@champion', '@challenger', '2']\n"
    )
    window = tuple(utc_text(t) for t in latest_window(86400, now=datetime.now(timezone.utc)))
    run = ["fleet", "run", "--tracking-uri", uri]
    report_1, report_2 = folder / "first.json", folder / "second.json"
    hooked: list[tuple[object, ...]] = []
    with pytest.MonkeyPatch.context() as patch:  # the hook the fleet's later steps plug into
        patch.setattr(fleet_run, "_after_fleet", lambda *args: hooked.append(args))
        result_1 = cli(
            *run, str(folder / "fleet.yaml"), "--concurrency", "2", "--report", str(report_1)
        )
    result_2 = cli(
        *run, str(folder / "only-a.yaml"), "--concurrency", "1", "--fail-on", "warning",
        "--report", str(report_2),
    )  # fmt: skip
    return Fleet(
        uri,
        folder,
        (window[0], window[1]),
        verdict.run_id,
        result_1,
        json.loads(report_1.read_text()),
        result_2,
        json.loads(report_2.read_text()),
        hooked,
    )


def _windows(report: dict[str, object]) -> list[dict[str, object]]:
    windows = report["windows"]
    assert isinstance(windows, list)
    return windows


def test_the_versions_holding_an_alias_run_their_latest_complete_window(fleet: Fleet) -> None:
    client = MlflowClient(fleet.uri)
    done = {(w["model"], w["version"]): w for w in _windows(fleet.first_report)}
    a1, a2 = done[("fleet-a", "1")], done[("fleet-a", "2")]
    assert (a1["named"], a2["named"]) == ("@champion", "@challenger")
    for window in (a1, a2):
        assert window["error"] is None and window["health"] in ("healthy", "warning", "critical")
        run = client.get_run(str(window["run_id"]))
        assert run.info.status == "FINISHED"
        tags = run.data.tags
        assert (tags["monitor.window_start"], tags["monitor.window_end"]) == fleet.window
        assert tags["monitor.model_version"] == window["version"]
        # the second fleet ran the same window again: its run is the verdict now
        (again,) = [w for w in _windows(fleet.second_report) if w["version"] == window["version"]]
        assert tags.get("monitor.superseded_by") == again["run_id"]
        mv = client.get_model_version("fleet-a", str(window["version"]))
        assert mv.tags[TAG_LAST_RUN] == again["run_id"]
        assert mv.tags[TAG_HEALTH] == window["health"] == again["health"]
    # the drifted rows served by @challenger read worse than @champion's stable rows
    assert (a1["health"], a2["health"]) == ("healthy", "warning")


def test_the_summary_lists_every_window_and_a_failure_exits_2_naming_it(fleet: Fleet) -> None:
    result = fleet.first
    assert result.exit_code == 2, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "MODEL",
        "VERSION",
        "WINDOW",
        "END",
        "HEALTH",
        "SECONDS",
        "RUN",
        "/",
        "ERROR",
    ]
    done = {(w["model"], w["version"]): w for w in _windows(fleet.first_report)}
    a1 = done[("fleet-a", "1")]
    assert any(
        line.split()[:2] == ["fleet-a", "1"] and a1["health"] in line and str(a1["run_id"]) in line
        for line in lines
    )
    b1 = done[("fleet-b", "1")]
    assert "broken.parquet" in str(b1["error"]) and "contract" in str(b1["error"])
    assert any(line.startswith("fleet-b") and "FAILED" in line for line in lines)
    c = done[("c/monitor.yaml", "")]
    assert "unknown key 'colums'" in str(c["error"])
    assert lines[-1] == "4 windows: 1 healthy, 1 warning; 2 failed"
    assert result.stderr.strip().splitlines()[-1] == (
        "error: 2 of 4 windows failed: c/monitor.yaml, fleet-b 1"
    )


def test_a_failed_window_keeps_the_versions_last_verdict(fleet: Fleet) -> None:
    mv = MlflowClient(fleet.uri).get_model_version("fleet-b", "1")
    assert mv.tags[TAG_LAST_RUN] == fleet.b_run
    assert mv.tags[TAG_HEALTH] == "healthy"


def test_no_more_windows_overlap_than_the_concurrency(fleet: Fleet) -> None:
    for report, limit in ((fleet.first_report, 2), (fleet.second_report, 1)):
        ran = [w for w in _windows(report) if w["started"]]
        assert ran
        edges = sorted(
            [(float(w["started"]), 1) for w in ran] + [(float(w["ended"]), -1) for w in ran]
        )
        overlap = peak = 0
        for _, step in edges:
            overlap += step
            peak = max(peak, overlap)
        assert peak <= limit
        assert len({w["pid"] for w in ran}) <= limit
    # one window per model at a time: its versions' verdicts rewrite the model's health tags
    a1, a2 = sorted(
        (w for w in _windows(fleet.first_report) if w["model"] == "fleet-a"),
        key=lambda w: float(w["started"]),  # type: ignore[arg-type]
    )
    assert float(a2["started"]) >= float(a1["ended"])  # type: ignore[arg-type]


def test_one_worker_runs_window_after_window_on_kernels_started_ahead(fleet: Fleet) -> None:
    result = fleet.second
    assert result.exit_code == 1, result.stderr  # --fail-on warning: @challenger is warning
    windows = _windows(fleet.second_report)
    assert [(w["version"], w["named"]) for w in windows] == [
        ("1", "@champion"),
        ("2", "@challenger,2"),
    ]
    assert len({w["pid"] for w in windows}) == 1
    # monitor.ipynb of each window ran in a kernel started ahead, fairness_audit.ipynb in that
    # same kernel (the pool starts monitor.ipynb kernels only: the second claim is the reuse)
    assert [w["kernels_claimed"] for w in windows] == [2, 2]
    first, second = windows
    assert float(second["started"]) >= float(first["ended"])
    notes = [line for _, line in second["timeline"]]  # type: ignore[misc]
    assert any("executing monitor.ipynb" in line for line in notes)
    # the worker's one Evidently child wrote both windows' reports, one job after the other
    client = MlflowClient(fleet.uri)
    for window in windows:
        reports = {f.path for f in client.list_artifacts(str(window["run_id"]), "reports")}
        assert "reports/data_drift.html" in reports
        # the reused kernel's namespace and cell counter were reset: each notebook reads as if
        # run alone, its cells numbered from 1 on
        for name in ("monitor", "fairness_audit"):
            local = client.download_artifacts(str(window["run_id"]), f"notebooks/{name}.ipynb")
            cells = json.loads(Path(local).read_text())["cells"]
            counts = [c["execution_count"] for c in cells if c["cell_type"] == "code"]
            assert counts == list(range(1, len(counts) + 1)), (name, counts)


def test_after_the_windows_the_fleet_hook_gets_the_specs_and_every_outcome(fleet: Fleet) -> None:
    ((uri, specs, outcomes, now),) = fleet.hooked
    assert uri == fleet.uri
    assert sorted(s.model for s in specs.values()) == ["fleet-a", "fleet-b"]  # type: ignore[attr-defined]
    ran = sorted((o.job.model, o.job.version, o.ok) for o in outcomes)  # type: ignore[attr-defined]
    assert ran == [
        ("c/monitor.yaml", "", False), ("fleet-a", "1", True), ("fleet-a", "2", True),
        ("fleet-b", "1", False),
    ]  # fmt: skip
    assert isinstance(now, datetime) and now.tzinfo is not None
