"""The drift story end to end: a drifted window is critical; it is accepted as the new normal
(``mlflow-monitor rebaseline``); the same data judged again has no drift left.

Real MLflow (SQLite), papermill executing the real notebooks, the CLI in-process. The demo
spec's drift share bounds are lowered so that the drifted window (inputs shifted, the model's
mechanism unchanged) is critical on drift alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.integration.conftest import Registered
from tests.integration.flow import MODEL, cli, window_args

pytestmark = pytest.mark.integration
WINDOW = "drifted"


def _results(uri: str, run_id: str, folder: Path) -> dict[str, object]:
    local = MlflowClient(uri).download_artifacts(run_id, "results.json", str(folder))
    body: dict[str, object] = json.loads(Path(local).read_text())
    return body


def _drift(results: dict[str, object]) -> dict[str, str]:
    outcomes = results["outcomes"]
    assert isinstance(outcomes, list)
    return {o["check_id"]: o["status"] for o in outcomes if o["kind"] == "drift"}


def test_a_drifted_window_accepted_as_the_new_normal(
    with_baseline: Registered, tmp_path: Path
) -> None:
    reg = with_baseline
    text = reg.spec.read_text()
    text = text.replace("share_warning: 0.25", "share_warning: 0.1")
    reg.spec.write_text(text.replace("share_critical: 0.75", "share_critical: 0.2"))
    client = MlflowClient(reg.uri)
    old_baseline = client.get_model_version(MODEL, reg.version).tags["monitor.baseline_run_id"]

    first = cli(*window_args(reg, WINDOW))
    assert first.exit_code == 0, first.stderr
    tags = client.get_model_version(MODEL, reg.version).tags
    assert tags["monitor.health"] == "critical"
    drifted_run = tags["monitor.last_run_id"]
    before = _drift(_results(reg.uri, drifted_run, tmp_path / "before"))
    assert before.get("drift/share_drifted") == "fail", before

    moved = cli(
        "rebaseline", "--spec", str(reg.spec), "--version", reg.version,
        "--window-run", drifted_run, "--current", str(reg.data.windows[WINDOW]),
        "--reason", "prices rose for good in January", "--tracking-uri", reg.uri,
    )  # fmt: skip
    assert moved.exit_code == 0, moved.stderr
    new_baseline = client.get_model_version(MODEL, reg.version).tags["monitor.baseline_run_id"]
    assert new_baseline != old_baseline
    assert moved.stdout.splitlines()[0] == (
        f"rebaselined {MODEL} version {reg.version}: baseline run {old_baseline} -> {new_baseline}"
    )
    assert client.get_run(old_baseline).info.lifecycle_stage == "active"  # kept, never deleted

    again = cli(*window_args(reg, WINDOW))  # the same data, judged against the new baseline
    assert again.exit_code == 0, again.stderr
    tags = client.get_model_version(MODEL, reg.version).tags
    after = _drift(_results(reg.uri, tags["monitor.last_run_id"], tmp_path / "after"))
    assert tags["monitor.last_run_id"] != drifted_run
    assert after.get("drift/share_drifted") == "pass", after
    assert not [c for c, status in after.items() if status in ("warn", "fail")], after
    assert tags["monitor.health"] != "critical"

    shown = cli("history", "--model", MODEL, "--tracking-uri", reg.uri)
    assert shown.exit_code == 0, shown.stderr
    assert " rebaseline " in shown.stdout
    assert "- reason: prices rose for good in January" in shown.stdout
    assert f"- baseline run {old_baseline} -> {new_baseline}" in shown.stdout
