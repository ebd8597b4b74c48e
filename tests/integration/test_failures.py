"""Failures end cleanly: exit 2 with one line naming the cause, no RUNNING run, no verdict lost.

Bad input found before any work creates no run and changes no tag. A run that fails later ends
FAILED with its notebooks as far as they ran and ``error.json``; the version records the failure
beside its verdict (``monitor.last_error``) and never gets a health it did not earn.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import psutil
import pytest
from mlflow.tracking import MlflowClient

from tests.integration.conftest import ChurnData, Registered, Server, register, write_spec
from tests.integration.flow import EXECUTABLE, MODEL, attach_baseline, cli, run_args

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _runs(uri: str) -> list[object]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(f"monitor/{MODEL}")
    return [] if experiment is None else list(client.search_runs([experiment.experiment_id]))


def _run(reg: Registered, current: Path, *extra: str) -> tuple[int, str]:
    result = cli(*run_args(reg, current, *extra))
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return result.exit_code, lines[0]


def _assert_nothing_changed(reg: Registered, before: dict[str, str]) -> None:
    """Bad input: no window run was created and the version's tags are as they were."""
    tags = MlflowClient(reg.uri).get_model_version(MODEL, reg.version).tags
    assert tags == before
    assert all(r.data.tags["monitor.kind"] != "window" for r in _runs(reg.uri))  # type: ignore[attr-defined]


def _assert_failure_recorded(reg: Registered, text: str) -> None:
    """A failed attempt: recorded beside the verdict, never as a health."""
    tags = MlflowClient(reg.uri).get_model_version(MODEL, reg.version).tags
    assert "monitor.health" not in tags  # the first attempt failed: no verdict yet
    assert text in tags["monitor.last_error"]
    assert tags["monitor.last_error_run_id"]
    assert all(r.info.status != "RUNNING" for r in _runs(reg.uri))  # type: ignore[attr-defined]


def _tags(reg: Registered) -> dict[str, str]:
    return dict(MlflowClient(reg.uri).get_model_version(MODEL, reg.version).tags)


def _left_behind() -> list[str]:
    """Processes this test process started and did not stop (kernels, report children).

    Python's own multiprocessing resource tracker (started once per process by the first
    ``spawn`` pool of any earlier test) lives as long as the test process: not ours.
    """
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            found.append(" ".join(child.cmdline()[:4]))
        except psutil.ZombieProcess:  # exited, not yet reaped by its parent: not left running
            continue
        except psutil.NoSuchProcess:
            continue
    return [c for c in found if "multiprocessing.resource_tracker" not in c]


def test_missing_column_in_the_window(with_baseline: Registered, tmp_path: Path) -> None:
    frame = pd.read_parquet(with_baseline.data.windows["stable"]).drop(columns=["age"])
    path = tmp_path / "no_age.parquet"
    frame.to_parquet(path)
    before = _tags(with_baseline)
    code, line = _run(with_baseline, path)
    assert code == 2
    assert line == "error: no_age.parquet: missing column 'age' (columns.numerical)"
    _assert_nothing_changed(with_baseline, before)
    assert _left_behind() == []  # the warm kernel and the report child are gone


def test_a_spec_the_baseline_does_not_match(with_baseline: Registered, tmp_path: Path) -> None:
    text = with_baseline.spec.read_text()
    assert "numerical: [tenure_months, monthly_charges, support_calls, age]" in text
    with_baseline.spec.write_text(text.replace("support_calls, age]", "support_calls, age, calls]"))
    frame = pd.read_parquet(with_baseline.data.windows["stable"])
    path = tmp_path / "window.parquet"
    frame.assign(calls=frame["support_calls"]).to_parquet(path)
    before = _tags(with_baseline)
    code, line = _run(with_baseline, path)
    assert code == 2
    assert line == (
        "error: column 'calls' is in the spec but not in the baseline (built from a spec without "
        "it): rebuild the baseline with this spec"
    )
    _assert_nothing_changed(with_baseline, before)


def test_empty_window(with_baseline: Registered, tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pd.read_parquet(with_baseline.data.windows["stable"]).iloc[0:0].to_parquet(path)
    before = _tags(with_baseline)
    code, line = _run(with_baseline, path)
    assert code == 2
    assert line == "error: empty.parquet: the window is empty (0 rows)"
    _assert_nothing_changed(with_baseline, before)


def test_empty_time_range(with_baseline: Registered) -> None:
    data = with_baseline.data
    code, line = _run(
        with_baseline,
        data.windows["stable"],
        "--window-start",
        "2030-01-01T00:00:00Z",
        "--window-end",
        "2030-01-08T00:00:00Z",
    )
    assert code == 2
    assert line.startswith("error: monitor.ipynb cell ")
    assert line.endswith(
        "DataError: window_stable.parquet: the window is empty (0 rows in "
        "[2030-01-01T00:00:00Z, 2030-01-08T00:00:00Z))"
    )
    _assert_failure_recorded(with_baseline, "the window is empty")
    [run] = _runs(with_baseline.uri)[:1]
    assert run.info.status == "FAILED"  # type: ignore[attr-defined]


def test_unknown_model_version(with_baseline: Registered) -> None:
    reg = Registered(with_baseline.uri, with_baseline.spec, "99", with_baseline.data)
    code, line = _run(reg, with_baseline.data.windows["stable"])
    assert code == 2
    assert line == (
        f"error: model version {MODEL}/99 not found in the registry at {with_baseline.uri}"
    )
    assert all(r.data.tags["monitor.kind"] == "baseline" for r in _runs(reg.uri))  # type: ignore[attr-defined]


def test_version_without_baseline(registered: Registered) -> None:
    before = _tags(registered)
    code, line = _run(registered, registered.data.windows["stable"])
    assert code == 2
    assert line == (
        f"error: model version {MODEL}/{registered.version} has no baseline: "
        "run `mlflow-monitor baseline` first"
    )
    _assert_nothing_changed(registered, before)


def test_broken_extra_notebook(with_baseline: Registered, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "broken.ipynb", with_baseline.spec.parent / "broken.ipynb")
    write_spec(with_baseline.spec.parent, extra=["broken.ipynb"])
    code, line = _run(with_baseline, with_baseline.data.windows["stable"])
    assert code == 2
    assert line == "error: broken.ipynb cell 4: ZeroDivisionError: division by zero"
    assert _left_behind() == []
    _assert_failure_recorded(with_baseline, "broken.ipynb cell 4: ZeroDivisionError")
    [run] = [r for r in _runs(with_baseline.uri) if r.data.tags["monitor.kind"] == "window"]  # type: ignore[attr-defined]
    assert run.info.status == "FAILED"  # type: ignore[attr-defined]
    assert run.data.tags["monitor.health"] == "error"  # type: ignore[attr-defined]
    client = MlflowClient(with_baseline.uri)
    kept = {f.path for f in client.list_artifacts(run.info.run_id, "notebooks")}  # type: ignore[attr-defined]
    assert {"notebooks/monitor.ipynb", "notebooks/broken.ipynb"} <= kept  # the audit trail
    folder = client.download_artifacts(run.info.run_id, "error.json", str(tmp_path))  # type: ignore[attr-defined]
    error = json.loads(Path(folder).read_text())
    assert error["error"] == "broken.ipynb cell 4: ZeroDivisionError: division by zero"
    table = cli("status", "--model", MODEL, "--tracking-uri", with_baseline.uri)
    assert "broken.ipynb cell 4" in table.stdout


def test_tracking_server_stopped_midway(
    start_server: Callable[[str], Server], churn: ChurnData, tmp_path: Path
) -> None:
    backend = f"sqlite:///{tmp_path / 'server.db'}"
    server = start_server(backend)
    reg = register(server.uri, churn, tmp_path)
    attach_baseline(reg)
    shutil.copy(FIXTURES / "kill_server.ipynb", tmp_path / "kill_server.ipynb")
    write_spec(tmp_path, extra=["kill_server.ipynb"])
    env = {
        **os.environ,
        "MM_TEST_SERVER_PGID": str(server.process.pid),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    assert reg.uri == server.uri
    command = [EXECUTABLE, *run_args(reg, churn.windows["stable"])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: MLflow unreachable at {server.uri} while logging metrics"]
    assert server.process.poll() is not None

    # The server comes back on the same store: the next run ends the abandoned run FAILED.
    revived = start_server(backend)
    write_spec(tmp_path)
    reg = Registered(revived.uri, reg.spec, reg.version, churn)
    result = cli(*run_args(reg, churn.windows["stable"]))
    assert result.exit_code == 0, result.stderr
    assert "ended abandoned run" in result.stderr
    runs = _runs(revived.uri)
    assert all(r.info.status != "RUNNING" for r in runs)  # type: ignore[attr-defined]
    statuses = sorted(r.info.status for r in runs)  # type: ignore[attr-defined]
    assert statuses == ["FAILED", "FINISHED", "FINISHED"]


def test_a_deleted_baseline_is_no_baseline_for_run_and_gate(with_baseline: Registered) -> None:
    client = MlflowClient(with_baseline.uri)
    baseline = client.get_model_version(MODEL, with_baseline.version).tags[
        "monitor.baseline_run_id"
    ]
    client.delete_run(baseline)
    before = _tags(with_baseline)
    code, line = _run(with_baseline, with_baseline.data.windows["stable"])
    assert code == 2
    assert line == (
        f"error: model version {MODEL}/{with_baseline.version}: its baseline run {baseline} "
        "was deleted; run `mlflow-monitor baseline` again"
    )
    _assert_nothing_changed(with_baseline, before)
    gate = cli(
        "promote", "--model", MODEL, "--version", with_baseline.version, "--alias", "champion",
        "--tracking-uri", with_baseline.uri,
    )  # fmt: skip
    assert gate.exit_code == 1 and "baseline" in gate.stderr
