"""MLflow's own UI does its part: run descriptions, run names, model health and top finding tags.

Real MLflow on SQLite, real baselines and windows (papermill), real promotions. One story:
v1 turns critical (no alias: the model shows the latest version's health), v2 is registered and
healthy (the latest version now), then aliases move and the model's health follows the worst
holder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.contract import (
    TAG_HEALTH,
    TAG_HEALTH_VERSIONS,
    TAG_RUN_NOTE,
    TAG_TOP_FINDING,
    WINDOW_RUNS_FILTER,
    read_results,
)
from mlflow_monitor.errors import MonitorError
from mlflow_monitor.spec import load_spec
from mlflow_monitor.verdicts.root_cause import headline
from mlflow_monitor.verdicts.window_state import HeldVersion, model_health
from mlflow_monitor.workflows.build_baseline import build_baseline_run
from mlflow_monitor.workflows.monitor_window import WindowRun, _run_name, run_window
from mlflow_monitor.workflows.promote import promote
from tests.integration.conftest import Registered, register, write_spec

MODEL = "churn-classifier"
FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_model_health_is_the_worst_alias_holder_else_the_latest_version() -> None:
    held = [
        HeldVersion("3", ("champion",), "critical"),
        HeldVersion("4", ("challenger",), "healthy"),
        HeldVersion("5", (), None),
    ]
    found = model_health(held)
    assert found is not None
    assert (found.health, found.sources) == (
        "critical",
        "champion=v3 critical; challenger=v4 healthy",
    )
    latest = model_health([HeldVersion("9", (), "warning"), HeldVersion("10", (), None)])
    assert latest is not None and (latest.health, latest.sources) == (None, "latest=v10 no verdict")
    assert model_health([]) is None


def test_run_names_say_the_window() -> None:
    start, end = "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z"
    assert _run_name("3", start, end) == "v3 2026-11-23 → 2026-11-30"
    assert _run_name("3", None, end) == "v3 2026-11-30"
    assert _run_name("3", "2026-11-30T06:00:00Z", "2026-11-30T12:00:00Z") == (
        "v3 2026-11-30 06:00 → 2026-11-30 12:00"
    )


@pytest.mark.integration
def test_runs_and_registry_read_well_in_mlflow_ui(registered: Registered, tmp_path: Path) -> None:
    reg, client = registered, MlflowClient(registered.uri)
    baseline_v1 = build_baseline_run(reg.spec, "1", reg.data.reference, tracking_uri=reg.uri)
    critical = window(reg, "1", "degraded")
    assert critical.health == "critical"

    run = client.get_run(critical.run_id)
    start, end = reg.data.starts["degraded"], reg.data.ends["degraded"]
    assert run.info.run_name == f"v1 {start[:10]} → {end[:10]}"
    results = read_results(download(client, critical.run_id, "results.json", tmp_path / "dl"))
    first = results.findings[0]
    top = headline(results.outcomes, width=250)
    assert top.startswith(f"{first.check_id}: ")
    assert run.data.tags[TAG_TOP_FINDING] == top
    assert client.get_model_version(MODEL, "1").tags[TAG_TOP_FINDING] == top

    note = run.data.tags[TAG_RUN_NOTE]
    assert note.startswith("**Health: critical** · churn-classifier v1")
    assert f"1. `{first.check_id}` {first.status}" in note
    assert f"- **Window:** {start} → {end}" in note
    link = f"#/experiments/{run.info.experiment_id}/runs/{critical.run_id}/artifacts/"
    assert f"({link}notebooks/monitor.html)" in note and f"({link}notebooks/monitor.ipynb)" in note
    assert f"({link}model_card.html)" in note  # the card refreshed after the results
    assert f"/runs/{baseline_v1.run_id})" in note

    rendered = {f.path for f in client.list_artifacts(critical.run_id, "notebooks")}
    assert {"notebooks/monitor.html", "notebooks/fairness_audit.html"} <= rendered
    page = download(client, critical.run_id, "notebooks/monitor.html", tmp_path / "dl").read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and "health: critical" in page
    assert "cdnjs" not in page and not re.search(r"<script[^>]*src=[\"']?(https?:)?//", page)

    baseline = client.get_run(baseline_v1.run_id)
    assert baseline.info.run_name == "baseline v1"
    assert "- **Reference rows:** 4,000" in baseline.data.tags[TAG_RUN_NOTE]
    base = f"#/experiments/{baseline.info.experiment_id}/runs/{baseline_v1.run_id}/artifacts/"
    for path in ("notebooks/baseline.html", "notebooks/baseline.ipynb", "model_card.html"):
        assert f"({base}{path})" in baseline.data.tags[TAG_RUN_NOTE]  # written after the card
    assert model_tags(client) == ("critical", "latest=v1 critical")  # no alias: the latest

    # v2, healthy: the latest version now, so the model shows its health while v1 is critical
    register(reg.uri, reg.data, tmp_path)
    build_baseline_run(reg.spec, "2", reg.data.reference, tracking_uri=reg.uri)
    assert window(reg, "2", "stable").health == "healthy"
    assert model_tags(client) == ("healthy", "latest=v2 healthy")
    assert client.get_model_version(MODEL, "2").tags[TAG_TOP_FINDING] == ""

    # aliases: the worst holder counts, and the tag follows every move
    move("champion", "1", reg)
    assert model_tags(client) == ("critical", "champion=v1 critical")
    move("challenger", "2", reg)
    assert model_tags(client) == ("critical", "champion=v1 critical; challenger=v2 healthy")
    move("champion", "2", reg)
    assert model_tags(client) == ("healthy", "challenger=v2 healthy; champion=v2 healthy")

    # a failed window says so in its description, with the error and what it kept
    shutil.copy(FIXTURES / "broken.ipynb", reg.spec.parent / "broken.ipynb")
    write_spec(reg.spec.parent, extra=["broken.ipynb"])
    with pytest.raises(MonitorError, match=r"broken\.ipynb cell 4"):
        window(reg, "2", "drifted")
    failed = client.search_runs([run.info.experiment_id], "attributes.status = 'FAILED'")
    assert len(failed) == 1
    note = failed[0].data.tags[TAG_RUN_NOTE]
    assert note.startswith("**Monitoring failed**")
    assert "- **Error:** broken.ipynb cell 4: ZeroDivisionError: division by zero" in note
    link = f"#/experiments/{run.info.experiment_id}/runs/{failed[0].info.run_id}/artifacts/"
    assert f"({link}notebooks/broken.html)" in note and f"({link}error.json)" in note
    assert model_tags(client) == ("healthy", "challenger=v2 healthy; champion=v2 healthy")

    names = {
        r.info.run_name: r.data.tags.get("monitor.kind")
        for r in client.search_runs([run.info.experiment_id])
    }
    windows = client.search_runs([run.info.experiment_id], WINDOW_RUNS_FILTER)
    assert sorted(r.info.run_name for r in windows) == [
        f"v1 {start[:10]} → {end[:10]}",
        *(f"v2 {reg.data.starts[w][:10]} → {reg.data.ends[w][:10]}" for w in ("stable", "drifted")),
    ]
    prefixes = {"baseline": "baseline v", "audit": "audit forced @", "alert_state": "alert-state v"}
    assert {"baseline", "audit"} <= set(names.values())
    for name, kind in names.items():
        if kind != "window":
            assert name.startswith(prefixes[str(kind)]), (name, kind)


def window(reg: Registered, version: str, name: str) -> WindowRun:
    return run_window(
        reg.spec,
        version,
        reg.data.windows[name],
        tracking_uri=reg.uri,
        window_start=reg.data.starts[name],
        window_end=reg.data.ends[name],
    )


def move(alias: str, version: str, reg: Registered) -> None:
    spec = load_spec(reg.spec)
    done = promote(spec, MODEL, version, alias, tracking_uri=reg.uri, force=True, reason="test")
    assert done.record.decision in ("granted", "forced")


def model_tags(client: MlflowClient) -> tuple[str | None, str | None]:
    tags = client.get_registered_model(MODEL).tags
    return tags.get(TAG_HEALTH), tags.get(TAG_HEALTH_VERSIONS)


def download(client: MlflowClient, run_id: str, path: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(client.download_artifacts(run_id, path, str(folder)))
