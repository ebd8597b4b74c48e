"""MonitorRuns on a real SQLite store: abandoned attempts by heartbeat, deleted runs, quoting."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from multiprocessing.synchronize import Barrier

from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import TAG_HEARTBEAT, TAG_HOST, TAG_PID, utc_now, utc_text

MODEL = "m'odel"  # a quote in the name: every filter string must quote it


def _running(runs: MonitorRuns, *, host: str, beat_minutes_ago: float | None) -> str:
    run_id = runs.start_run(MODEL, "1", kind="window", run_name="w", tags={})
    tags = {TAG_HOST: host, TAG_PID: "999999"}
    if beat_minutes_ago is not None:
        beat = utc_now() - timedelta(minutes=beat_minutes_ago)
        tags[TAG_HEARTBEAT] = utc_text(beat)
    runs.set_run_tags(run_id, tags)
    return run_id


def test_an_attempt_whose_heartbeat_stopped_is_ended_from_any_host(tracking_uri: str) -> None:
    runs = MonitorRuns(tracking_uri)
    silent = _running(runs, host="elsewhere", beat_minutes_ago=30)
    beating = _running(runs, host="elsewhere", beat_minutes_ago=1)
    assert runs.fail_abandoned_runs(MODEL, "1") == [silent]
    client = MlflowClient(tracking_uri)
    assert client.get_run(silent).info.status == "FAILED"
    assert client.get_run(beating).info.status == "RUNNING"


def test_a_deleted_run_is_not_active(tracking_uri: str) -> None:
    runs = MonitorRuns(tracking_uri)
    run_id = runs.start_run(MODEL, "1", kind="baseline", run_name="b", tags={})
    runs.end_run(run_id, "FINISHED")
    assert runs.run_is_active(run_id)
    MlflowClient(tracking_uri).delete_run(run_id)
    assert not runs.run_is_active(run_id)
    assert not runs.run_is_active("0" * 32)


def _set_tags_in_step(uri: str, writer: int, keys: int, barrier: Barrier) -> None:
    """One racing process: the same new model tag keys as the other, at the same moments."""
    runs = MonitorRuns(uri)
    for key in range(keys):
        barrier.wait()
        runs.set_model_tags(MODEL, {f"monitor.race.{key}": f"writer {writer}"})


def test_two_processes_setting_the_same_new_model_tags_both_succeed(tracking_uri: str) -> None:
    """Without the retry, about one call in five loses MLflow's read-then-insert race on SQLite."""
    MlflowClient(tracking_uri).create_registered_model(MODEL)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2, timeout=60)  # a writer that died breaks it for the other
    keys = 30
    writers = [
        context.Process(target=_set_tags_in_step, args=(tracking_uri, w, keys, barrier))
        for w in (1, 2)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=300)
    assert [w.exitcode for w in writers] == [0, 0]
    tags = MlflowClient(tracking_uri).get_registered_model(MODEL).tags
    assert {k: v for k, v in tags.items() if k.startswith("monitor.race.")}.keys() == {
        f"monitor.race.{key}" for key in range(keys)
    }
