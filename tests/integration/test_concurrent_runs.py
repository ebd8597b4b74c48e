"""`mlflow-monitor run` processes at once on one SQLite store: both finish, nothing RUNNING, and
the version's state is the same whichever finishes last (windows order it, not completion)."""

from __future__ import annotations

import subprocess

import pytest
from mlflow.tracking import MlflowClient

from tests.integration.conftest import Registered
from tests.integration.flow import EXECUTABLE, MODEL, window_args

pytestmark = pytest.mark.integration


def _start(reg: Registered, window: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [EXECUTABLE, *window_args(reg, window)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_windows_run_at_once_on_sqlite(with_baseline: Registered) -> None:
    windows = ("stable", "degraded")
    processes = {name: _start(with_baseline, name) for name in windows}
    finished = {name: p.communicate(timeout=600) for name, p in processes.items()}

    client = MlflowClient(with_baseline.uri)
    run_ids = set()
    for name, (out, err) in finished.items():
        assert processes[name].returncode == 0, err
        expected = with_baseline.data.expected[name]
        assert f": {expected} (run " in out
        run_id = out.split("(run ")[1].split(",")[0]
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags["monitor.health"] == expected
        assert run.data.tags["monitor.window_end"] == with_baseline.data.ends[name]
        assert "without encryption" not in err  # kernels talk over local sockets
        run_ids.add(run_id)
    assert len(run_ids) == 2
    tags = client.get_model_version(MODEL, with_baseline.version).tags
    degraded = _run_id(finished["degraded"][0])
    assert tags["monitor.last_run_id"] == degraded  # the later window, whoever finished last
    assert tags["monitor.health"] == "critical"
    experiment = client.get_experiment_by_name(f"monitor/{MODEL}")
    assert experiment is not None
    running = client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'")
    assert running == []


def _run_id(out: str) -> str:
    return out.split("(run ")[1].split(",")[0]


def test_two_attempts_of_one_window_at_once_leave_one_result(with_baseline: Registered) -> None:
    first = _start(with_baseline, "degraded")
    second = _start(with_baseline, "degraded")
    outs = [p.communicate(timeout=600)[0] for p in (first, second)]
    client = MlflowClient(with_baseline.uri)
    runs = sorted((client.get_run(_run_id(o)) for o in outs), key=lambda r: r.info.start_time)
    older, newer = runs
    assert older.info.status == newer.info.status == "FINISHED"
    assert older.data.tags["monitor.superseded_by"] == newer.info.run_id
    assert "monitor.superseded_by" not in newer.data.tags
    tags = client.get_model_version(MODEL, with_baseline.version).tags
    assert tags["monitor.last_run_id"] == newer.info.run_id
