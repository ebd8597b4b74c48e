"""Health follows the windows: reruns, backfills, typos and killed runs never overwrite the truth.

One story per store (SQLite file; ``mlflow server`` on PostgreSQL), alerts delivered by apprise to
a real HTTP receiver: window C (critical), then the later window D (healthy, RESOLVED sent), then
C again (superseded, nothing sent, health stays healthy), D again (nothing re-sent), a backfill of
an older window (health unchanged), two typos (no run at all) and a ``run`` killed with SIGKILL
mid-window (the next run ends it FAILED, health unchanged). After every step one consistency
check: version tags, the verdict run, ``status``, the description's card and the gate agree.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.card_store import collect_card_facts
from mlflow_monitor.contract import (
    TAG_CARD_RUN,
    TAG_HEALTH,
    TAG_LAST_RUN,
    TAG_RUN_NOTE,
    TAG_SUPERSEDED_BY,
    TAG_SUPERSEDES,
    TAG_WINDOW_END,
    WINDOW_RUNS_FILTER,
    experiment_name,
)
from mlflow_monitor.errors import DataError, GateRefused, MonitorError
from mlflow_monitor.spec import load_spec
from mlflow_monitor.workflows import demo
from mlflow_monitor.workflows.build_baseline import build_baseline_run
from mlflow_monitor.workflows.monitor_window import WindowRun, run_window
from mlflow_monitor.workflows.promote import promote
from mlflow_monitor.workflows.status import status_rows
from mlflow_monitor.workflows.version_trends import version_trends
from tests.fixtures.receiver import Receiver
from tests.integration.conftest import ChurnData, Registered, Server, register

pytestmark = pytest.mark.integration

GATES = "gates:\n  champion:\n    max_age: null\n"
CHANNEL = (
    "alerts:\n  cooldown: 24h\n  timeout_seconds: 5\n  channels:\n"
    "    - {{name: chat, url: 'json://127.0.0.1:{port}/hook', min_severity: warning}}\n"
)


@dataclass(frozen=True)
class Story:
    """A registered version with a baseline, its spec (alerts to ``receiver``), its windows."""

    reg: Registered
    receiver: Receiver
    windows: dict[str, tuple[Path, str, str]]  # name -> (file, start, end)

    def run(self, name: str) -> WindowRun:
        path, start, end = self.windows[name]
        self.receiver.clear()
        return run_window(
            self.reg.spec,
            self.reg.version,
            path,
            tracking_uri=self.reg.uri,
            window_start=start,
            window_end=end,
        )


def _story(reg: Registered, receiver: Receiver, tmp_path: Path) -> Story:
    reg.spec.write_text(reg.spec.read_text() + GATES + CHANNEL.format(port=receiver.port))
    build_baseline_run(reg.spec, reg.version, reg.data.reference, tracking_uri=reg.uri)
    return Story(reg, receiver, _windows(reg.data, tmp_path))


def _windows(data: ChurnData, folder: Path) -> dict[str, tuple[Path, str, str]]:
    """C = the demo's degraded week; D = a healthy week after it; old = the demo's stable week."""
    later = demo.START + timedelta(days=28)
    healthy = demo.score(data.model, demo.make_churn(3000, seed=77, start=later))
    healthy.to_parquet(folder / "window_d.parquet", index=False)
    text = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "C": (data.windows["degraded"], data.starts["degraded"], data.ends["degraded"]),
        "D": (
            folder / "window_d.parquet",
            later.strftime(text),
            (later + timedelta(days=7)).strftime(text),
        ),
        "old": (data.windows["stable"], data.starts["stable"], data.ends["stable"]),
    }


def _window_runs(client: MlflowClient) -> list[object]:
    experiment = client.get_experiment_by_name(experiment_name(demo.MODEL_NAME))
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id], WINDOW_RUNS_FILTER))


def assert_consistent(story: Story, health: str, window_end: str) -> None:
    """Tags, the verdict run, status, the description's card and the gate tell one story."""
    reg = story.reg
    client = MlflowClient(tracking_uri=reg.uri)
    version = client.get_model_version(demo.MODEL_NAME, reg.version)
    assert version.tags[TAG_HEALTH] == health
    assert version.tags[TAG_WINDOW_END] == window_end
    verdict = client.get_run(version.tags[TAG_LAST_RUN])
    assert verdict.info.status == "FINISHED"
    assert verdict.data.tags[TAG_HEALTH] == health
    assert verdict.data.tags[TAG_WINDOW_END] == window_end
    assert TAG_SUPERSEDED_BY not in verdict.data.tags
    (row,) = status_rows(demo.MODEL_NAME, tracking_uri=reg.uri)
    assert row.health.split()[0] == health
    assert f"Health: **{health}**" in (version.description or "")
    card_run = version.tags[TAG_CARD_RUN]
    card = Path(client.download_artifacts(card_run, "model_card.md", tempfile.mkdtemp()))
    assert f"**Current health:** {health}" in card.read_text()
    spec = load_spec(reg.spec)
    if health == "healthy":
        promote(spec, demo.MODEL_NAME, reg.version, "champion", tracking_uri=reg.uri)
    else:
        with pytest.raises(GateRefused) as refused:
            promote(spec, demo.MODEL_NAME, reg.version, "champion", tracking_uri=reg.uri)
        assert any(health in reason for reason in refused.value.reasons), refused.value.reasons


def assert_superseded_note(client: MlflowClient, old: str, new: str) -> None:
    """The superseded run's description opens with the line saying so, once, then its own."""
    note = client.get_run(old).data.tags[TAG_RUN_NOTE]
    line = f"**Superseded** by run `{new}` (a newer attempt of this window); this run no longer"
    assert note.startswith(line), note[:300]
    assert note.count("**Superseded**") == 1
    assert "\n\n**Health: " in note  # the run's own description follows


def _titles(receiver: Receiver) -> list[str]:
    return [m.title for m in receiver.messages()]


def _story_steps(story: Story) -> None:
    client = MlflowClient(tracking_uri=story.reg.uri)
    d_end = story.windows["D"][2]
    c_end = story.windows["C"][2]

    first_c = story.run("C")
    assert first_c.health == "critical" and first_c.is_verdict
    assert any("CRITICAL" in t for t in _titles(story.receiver))
    assert_consistent(story, "critical", c_end)

    first_d = story.run("D")
    assert first_d.health == "healthy" and first_d.is_verdict
    assert any("RESOLVED" in t for t in _titles(story.receiver))
    assert_consistent(story, "healthy", d_end)

    second_c = story.run("C")  # a rerun of an older window: superseding C, nothing else
    assert second_c.health == "critical" and not second_c.is_verdict
    assert _titles(story.receiver) == []
    assert client.get_run(first_c.run_id).data.tags[TAG_SUPERSEDED_BY] == second_c.run_id
    assert client.get_run(second_c.run_id).data.tags[TAG_SUPERSEDES] == first_c.run_id
    assert_superseded_note(client, first_c.run_id, second_c.run_id)
    assert_consistent(story, "healthy", d_end)

    second_d = story.run("D")  # the latest window again: it supersedes, nothing is re-sent
    assert second_d.is_verdict and _titles(story.receiver) == []
    assert client.get_run(first_d.run_id).data.tags[TAG_SUPERSEDED_BY] == second_d.run_id
    assert_superseded_note(client, first_d.run_id, second_d.run_id)
    assert_superseded_note(client, first_c.run_id, second_c.run_id)  # settled again: still once
    assert_consistent(story, "healthy", d_end)

    backfill = story.run("old")  # an older window: its own result only
    assert not backfill.is_verdict and _titles(story.receiver) == []
    assert_consistent(story, "healthy", d_end)
    # the card's recent windows: each window once (its counting run), in window order
    facts = collect_card_facts(demo.MODEL_NAME, story.reg.version, tracking_uri=story.reg.uri)
    counting = [backfill.run_id, second_c.run_id, second_d.run_id]
    assert [w.run_id for w in facts.windows] == counting
    assert "Superseded" not in client.get_run(second_d.run_id).data.tags[TAG_RUN_NOTE]


def _trends_follow_the_windows(story: Story) -> None:
    """The trend chart's data: one point per window in window order (reruns superseded, the
    backfill in its place), the band of each window, the crossing, alerts and alias moves."""
    trends = version_trends(demo.MODEL_NAME, version=story.reg.version, tracking_uri=story.reg.uri)
    ends = [story.windows[name][2] for name in ("old", "C", "D")]
    assert [w.window_end for w in trends.windows] == ends
    assert [w.health for w in trends.windows] == ["healthy", "critical", "healthy"]
    auc = trends.series_for("perf/roc_auc")
    assert auc is not None and len(auc.points) == 3
    assert [p.crossed for p in auc.points] == [False, True, False]
    crossing = auc.points[1]
    assert crossing.value is not None and crossing.lower is not None
    assert crossing.value < crossing.lower  # drawn below its band
    alerts = [e for e in trends.events if e.kind == "alert"]
    assert any(e.at == ends[1] and "critical" in e.text and "chat" in e.text for e in alerts), (
        trends.events
    )
    assert any(e.kind == "alias" and "@champion" in e.text for e in trends.events)


def _typos_change_nothing(story: Story, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=story.reg.uri)
    before = len(_window_runs(client))
    tags = client.get_model_version(demo.MODEL_NAME, story.reg.version).tags
    with pytest.raises(DataError, match=r"nothing\.parquet"):
        run_window(
            story.reg.spec,
            story.reg.version,
            tmp_path / "nothing.parquet",
            tracking_uri=story.reg.uri,
        )
    with pytest.raises(MonitorError, match="window-start"):
        run_window(
            story.reg.spec,
            story.reg.version,
            story.windows["D"][0],
            tracking_uri=story.reg.uri,
            window_start="last tuesday",
        )
    assert len(_window_runs(client)) == before
    assert client.get_model_version(demo.MODEL_NAME, story.reg.version).tags == tags
    assert _titles(story.receiver) == []


def _killed_run_is_ended_by_the_next(story: Story) -> None:
    client = MlflowClient(tracking_uri=story.reg.uri)
    path, start, end = story.windows["D"]
    command = [
        sys.executable, "-c", "from mlflow_monitor.cli import console; console()", "run",
        "--spec", str(story.reg.spec), "--version", story.reg.version, "--current", str(path),
        "--window-start", start, "--window-end", end, "--tracking-uri", story.reg.uri,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    try:
        running = _wait_for_running(client, timeout=120)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert client.get_run(running).info.status == "RUNNING"
    assert_consistent(story, "healthy", end)
    story.run("D")
    assert client.get_run(running).info.status == "FAILED"
    assert_consistent(story, "healthy", end)


def _one_class_window_finishes_with_fairness_and_a_note(story: Story, tmp_path: Path) -> None:
    """Labels all one class (only re-offenders known yet): Evidently's classification report
    crashes on it; the window still finishes, with fairness results and a note."""
    client = MlflowClient(tracking_uri=story.reg.uri)
    start = demo.START + timedelta(days=35)
    frame = demo.score(story.reg.data.model, demo.make_churn(3000, seed=78, start=start))
    frame["churned"] = 1
    frame.to_parquet(tmp_path / "one_class.parquet", index=False)
    end = (start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    story.windows["E"] = (tmp_path / "one_class.parquet", start.strftime("%Y-%m-%dT%H:%M:%SZ"), end)
    result = story.run("E")
    assert client.get_run(result.run_id).info.status == "FINISHED"
    body = json.loads(
        Path(client.download_artifacts(result.run_id, "results.json", str(tmp_path))).read_text()
    )
    assert body["fairness"] is not None and body["fairness"]["report"]["attributes"]
    assert any("classification.html skipped" in note for note in body["notes"]), body["notes"]
    logged = {f.path for f in client.list_artifacts(result.run_id)}
    assert "compliance.json" in logged
    assert_consistent(story, result.health, end)


def _wait_for_running(client: MlflowClient, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [r for r in _window_runs(client) if r.info.status == "RUNNING"]  # type: ignore[attr-defined]
        if running:
            return str(running[0].info.run_id)  # type: ignore[attr-defined]
        time.sleep(0.2)
    raise AssertionError("the run never started")


def test_health_follows_the_windows_on_sqlite(
    registered: Registered, receiver: Receiver, tmp_path: Path
) -> None:
    story = _story(registered, receiver, tmp_path)
    _story_steps(story)
    _trends_follow_the_windows(story)
    _typos_change_nothing(story, tmp_path)
    _killed_run_is_ended_by_the_next(story)
    _one_class_window_finishes_with_fairness_and_a_note(story, tmp_path)


def test_health_follows_the_windows_on_postgresql(
    postgres_uri: str,
    start_server: object,
    churn: ChurnData,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    server: Server = start_server(postgres_uri)  # type: ignore[operator]
    story = _story(register(server.uri, churn, tmp_path), receiver, tmp_path)
    _story_steps(story)
    _typos_change_nothing(story, tmp_path)
    _killed_run_is_ended_by_the_next(story)
    _one_class_window_finishes_with_fairness_and_a_note(story, tmp_path)
