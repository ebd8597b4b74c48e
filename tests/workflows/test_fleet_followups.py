"""What ``fleet run`` does after its windows: SLOs judged and alerted, bypasses settled, isolated.

A real SQLite store with a week of window runs (``test_slo_report``'s), alias ``champion`` set on
version 1 directly (around the gate), apprise delivering to the HTTP receiver.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from mlflow.tracking import MlflowClient

from mlflow_monitor.contract import TAG_SLO
from mlflow_monitor.workflows.fleet_followups import after_fleet
from mlflow_monitor.workflows.fleet_worker import WindowJob, WindowOutcome
from mlflow_monitor.workflows.promote import history
from tests.fixtures.receiver import Receiver
from tests.workflows.test_slo_report import END, MODEL, _spec, make_store


def ran(model: str, version: str, uri: str) -> WindowOutcome:
    return WindowOutcome(WindowJob(model, "monitor.yaml", version, version, uri), health="warning")


def test_slos_are_judged_and_bypasses_settled_once_per_model(
    tmp_path: Path, _empty_store: Path, receiver: Receiver
) -> None:
    uri = make_store(tmp_path, _empty_store)
    channel = {"url": receiver.url("json", "oncall"), "min_severity": "warning"}
    spec = _spec(alerts={"channels": [channel]}, gates={"champion": {"max_age": "7d"}})
    other = _spec(model="absent", alerts={"channels": [channel]})
    specs = {tmp_path / "a.yaml": spec, tmp_path / "b.yaml": spec, tmp_path / "c.yaml": other}
    outcomes = [ran(MODEL, "1", uri), ran("absent", "4", uri)]

    done = after_fleet(
        tracking_uri=uri, specs=specs, outcomes=outcomes, now=END + timedelta(hours=1)
    )

    # the SLOs of the version that ran: three burn tiers fire (test_slo_report works them out)
    assert len(done.slo_alerts) == 3 and all("-> " in line for line in done.slo_alerts)
    tag = MlflowClient(uri, uri).get_model_version(MODEL, "1").tags[TAG_SLO]
    assert "auc-floor" in tag
    # champion was set by hand on a version without a verdict: the gate refuses it
    assert done.bypasses == (f"bypass {MODEL}@champion -> v1",)
    assert [(r.decision, r.version) for r in history(MODEL, tracking_uri=uri)] == [("bypass", "1")]
    titles = [m.title for m in receiver.messages("oncall")]
    assert sum("around its gate" in t for t in titles) == 1  # the model listed twice: once
    # a model the store does not know is one note; the others still ran
    assert len(done.notes) == 1 and done.notes[0].startswith("absent v4: SLOs failed")

    again = after_fleet(
        tracking_uri=uri, specs=specs, outcomes=outcomes, now=END + timedelta(hours=1)
    )
    assert again.bypasses == () and again.slo_alerts == ()  # recorded, still firing: quiet
