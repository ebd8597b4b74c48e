"""``workflows.slo_report`` on a real SQLite MLflow store with a week of window runs.

The store (built once per module): model ``churn`` v1 with daily windows ending 2025-03-02 ..
03-08. ``perf/roc_auc`` per window: 0.80, 0.80, 0.70 (bad), no labels (``perf_est/roc_auc``
0.80: estimated good), 0.80, FAILED, 0.60 (bad, the latest). ``drift/age`` passes except on
03-06 (warn). A failed attempt of the 03-07 window only.
"""

from __future__ import annotations

import html
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.contract import TAG_SLO, CheckOutcome, MetricValue, WindowResults, utc_text
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.workflows.slo_report import (
    dispatch_slo_alerts,
    evaluate_and_alert_slos,
    read_slo_tag,
    slo_report,
    write_slo_report,
)
from tests.fixtures.receiver import Receiver

MODEL = "churn"
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
END = T0 + 7 * DAY  # 2025-03-08T00:00:00Z, the latest window's end
# day -> (roc_auc or None for no labels or "failed", drift status)
WINDOWS: dict[int, tuple[float | str | None, str]] = {
    1: (0.80, "pass"),
    2: (0.80, "pass"),
    3: (0.70, "pass"),
    4: (None, "pass"),
    5: (0.80, "warn"),
    6: ("failed", "pass"),
    7: (0.60, "pass"),
}

SPEC = {
    "model": MODEL,
    "task": "binary_classification",
    "columns": {"target": "y", "score": "s"},
    "slos": [
        {
            "name": "auc-floor",
            "objective": "check",
            "metric": "perf/roc_auc",
            "min": 0.75,
            "target": 0.95,
            "period": "7d",
        },
        {"name": "no-drift", "objective": "check", "check": "drift", "target": 0.9, "period": "7d"},
        {
            "name": "freshness",
            "objective": "freshness",
            "max_gap": "26h",
            "target": 0.99,
            "period": "7d",
        },
    ],
}


def _spec(**fields: object) -> MonitorSpec:
    return parse_spec({**SPEC, **fields})


def add_window(
    client: MlflowClient, day: int, auc: float | str | None, drift: str, *, version: str = "1"
) -> str:
    """A window run of ``churn`` ending ``T0 + day``: metrics, ``results.json``, ended."""
    experiment = client.get_experiment_by_name(f"monitor/{MODEL}")
    start, end = utc_text(T0 + (day - 1) * DAY), utc_text(T0 + day * DAY)
    tags = {
        "monitor.kind": "window",
        "monitor.model_name": MODEL,
        "monitor.model_version": version,
        "monitor.window_start": start,
        "monitor.window_end": end,
    }
    run_id = str(client.create_run(experiment.experiment_id, tags=tags).info.run_id)
    if auc == "failed":
        client.set_terminated(run_id, "FAILED")
        return run_id
    metrics = [MetricValue("perf/roc_auc", auc)] if isinstance(auc, float) else []
    if auc is None:
        metrics.append(MetricValue("perf_est/roc_auc", 0.80))
    for m in metrics:
        client.log_metric(run_id, m.name, m.value)
    outcome = CheckOutcome("drift/age", "drift", drift, "warning", 0.1, None, "psi")  # type: ignore[arg-type]
    health = "warning" if drift == "warn" else "healthy"
    results = WindowResults(MODEL, version, start, end, 100, health, (outcome,), tuple(metrics))
    client.log_dict(run_id, results.to_dict(), "results.json")
    client.set_tag(run_id, "monitor.health", health)
    client.set_terminated(run_id, "FINISHED")
    return run_id


def make_store(folder: Path, empty: Path) -> str:
    """The module's store: model, version 1 (alias champion), the week of windows."""
    shutil.copyfile(empty, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(MODEL)
    client.create_model_version(MODEL, source=(folder / "model").as_uri())
    client.set_registered_model_alias(MODEL, "champion", "1")
    client.create_experiment(f"monitor/{MODEL}", artifact_location=(folder / "art").as_uri())
    for day, (auc, drift) in WINDOWS.items():
        add_window(client, day, auc, drift)
    return uri


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path) -> str:
    return make_store(tmp_path_factory.mktemp("slo-store"), _empty_store)


@pytest.fixture
def fresh_store(tmp_path: Path, _empty_store: Path) -> str:
    """The same store, for a test that adds windows or alert state."""
    return make_store(tmp_path, _empty_store)


def test_report_judges_each_slo_from_the_windows(store: str) -> None:
    report = slo_report(spec=_spec(), version="@champion", tracking_uri=store, now=END)
    auc, drift, fresh = report.results

    assert report.version == "1"
    # auc-floor: 7 windows in (03-01, 03-08]: good 03-02, 03-03, 03-06; bad 03-04 (0.70),
    # 03-08 (0.60); excluded: 03-05 no labels (estimated 0.80: good), 03-07 failed.
    # eligible 5, budget 0.05 * 5 = 0.25 windows, remaining 1 - 2 / 0.25 = -7.0
    assert (auc.budget.good, auc.budget.bad) == (3, 2)
    assert auc.budget.remaining == pytest.approx(-7.0)
    assert dict(auc.excluded) == {"not_evaluated": 1, "failed": 1}
    assert (auc.estimated.good, auc.estimated.bad) == (1, 0)
    # the latest window is bad: 1 / 0.05 = 20 >= 14.4 on both fast lookbacks (they read it)
    assert [a.tier for a in auc.firing] == ["fast", "slow"]
    # no-drift: 6 judged windows (03-07 failed), 1 warn: SLI 5/6; budget 0.1 * 6 = 0.6,
    # remaining 1 - 1 / 0.6 = -0.6667; the latest window passed: nothing fires
    assert drift.budget.sli == pytest.approx(5 / 6)
    assert drift.budget.remaining == pytest.approx(1 - 1 / 0.6)
    assert drift.firing == ()
    # freshness: completions 03-02 .. 03-06 and 03-08 (03-07 failed): the gap 03-06 -> 03-08
    # is 48 h, 22 h beyond 26 h; observed 03-02 -> 03-08 = 144 h: SLI 1 - 22/144
    assert fresh.budget.bad == 22 * 3600
    assert fresh.budget.sli == pytest.approx(1 - 22 / 144)
    assert dict(fresh.excluded) == {"failed": 1}


def test_json_and_html_carry_the_same_numbers(store: str, tmp_path: Path) -> None:
    report = slo_report(spec=_spec(), version="1", tracking_uri=store, now=END)
    body_path, page_path = write_slo_report(report, tmp_path / "out")

    body = json.loads(body_path.read_text())
    page = page_path.read_text()
    assert [s["name"] for s in body["slos"]] == ["auc-floor", "no-drift", "freshness"]
    for slo in body["slos"]:
        assert html.escape(slo["summary"]) in page
        remaining = slo["budget"]["remaining"]
        assert f"{100 * remaining:.1f}%" in page
    assert body["slos"][0]["budget"]["remaining"] == pytest.approx(-7.0)
    assert body["slos"][0]["firing"] == ["fast", "slow"]
    assert page.count('class="mm-slo-burndown"') == 3


def test_a_later_period_end_drops_old_windows(store: str) -> None:
    # period 7d ending 03-10: windows ending 03-04 .. 03-08 only; auc: good 03-06, bad 03-04
    # and 03-08 -> eligible 3, budget 0.15, remaining 1 - 2/0.15
    report = slo_report(spec=_spec(), version="1", tracking_uri=store, now=END + 2 * DAY)
    auc = report.results[0]
    assert (auc.budget.eligible, auc.budget.bad) == (3, 2)
    assert auc.budget.remaining == pytest.approx(1 - 2 / 0.15)


def test_burn_alerts_are_sent_once_and_resolved(fresh_store: str, receiver: Receiver) -> None:
    channel = {"url": receiver.url("json", "slo"), "min_severity": "warning"}
    spec = _spec(alerts={"channels": [channel]})
    now = END + timedelta(hours=1)

    first = evaluate_and_alert_slos(tracking_uri=fresh_store, spec=spec, version="1", now=now)
    titles = sorted(m.title for m in receiver.messages("slo"))
    assert first.alerts.status == "sent"
    # auc-floor: the latest day is bad (fast and slow fire). freshness: the gap that closed at
    # 03-08 was late from 03-07 02:00: 5 h of the last 6 h are late (83x), 22 h of the last
    # 3 d (30.6x): the slow tier fires; the last hour is on time: the fast one does not.
    assert len(titles) == 3
    assert (
        "[CRITICAL]" in titles[0] and "auc-floor" in titles[0] and "fast burn (page)" in titles[0]
    )
    assert "[WARNING]" in titles[1] and "auc-floor" in titles[1] and "slow burn" in titles[1]
    assert "[WARNING]" in titles[2] and "freshness" in titles[2] and "slow burn" in titles[2]

    again = dispatch_slo_alerts(spec, first.report, tracking_uri=fresh_store, now=now)
    assert again.status == "nothing_to_send"
    assert len(receiver.messages("slo")) == 3  # still firing: no second message

    client = MlflowClient(tracking_uri=fresh_store, registry_uri=fresh_store)
    add_window(client, 8, 0.85, "pass")  # a good day: both tiers stop firing
    later = END + DAY + timedelta(hours=1)
    resolved = evaluate_and_alert_slos(tracking_uri=fresh_store, spec=spec, version="1", now=later)
    new = receiver.messages("slo")[3:]
    assert [a.kind for a in resolved.alerts.alerts] == ["resolved"] * 3
    assert len(new) == 3 and all(m.title.startswith("[RESOLVED]") for m in new)

    quiet = evaluate_and_alert_slos(tracking_uri=fresh_store, spec=spec, version="1", now=later)
    assert quiet.alerts.status == "nothing_to_send"
    assert len(receiver.messages("slo")) == 6

    tag = client.get_model_version(MODEL, "1").tags[TAG_SLO]
    lines = read_slo_tag(tag)
    assert len(lines) == 3
    assert lines[0].startswith("auc-floor: SLI") and "firing -" in lines[0]


def test_a_channel_above_the_tier_severity_hears_only_pages(
    fresh_store: str, receiver: Receiver
) -> None:
    channel = {"url": receiver.url("json", "pager"), "min_severity": "critical"}
    spec = _spec(alerts={"channels": [channel]})

    done = evaluate_and_alert_slos(
        tracking_uri=fresh_store, spec=spec, version="1", now=END + timedelta(hours=1)
    )
    assert [a.key for a in done.alerts.alerts] == ["slo:auc-floor:fast"]
    assert len(receiver.messages("pager")) == 1


def test_failed_delivery_is_tried_again(fresh_store: str, receiver: Receiver) -> None:
    # nothing listens on port 9 of 127.0.0.1: the delivery fails, no mark is written
    spec = _spec(alerts={"channels": [{"url": "json://127.0.0.1:9/x", "name": "dead"}]})
    now = END + timedelta(hours=1)

    first = evaluate_and_alert_slos(tracking_uri=fresh_store, spec=spec, version="1", now=now)
    second = evaluate_and_alert_slos(tracking_uri=fresh_store, spec=spec, version="1", now=now)
    assert first.alerts.status == "failed"
    assert [a.status for a in second.alerts.alerts] == ["failed"] * 3  # tried again
