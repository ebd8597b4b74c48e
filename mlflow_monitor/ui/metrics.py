"""Prometheus metrics of the fleet, served by the dashboard app (text exposition format).

Where: ``/monitor/metrics`` on every app that serves the dashboard, and ``/metrics`` too on the
standalone ``mlflow-monitor ui``. Inside ``mlflow server --app-name monitor`` only
``/monitor/metrics``: with ``--expose-prometheus`` MLflow's own exporter
(``prometheus_flask_exporter``) owns ``/metrics`` for the server's request metrics, and the two
must not clash. Under ``monitor-basic-auth`` the path needs the same login as the pages.

What: a custom collector (``prometheus_client``, the Prometheus project's own client: it writes
the format and escapes label values) over the data the dashboard already reads, on scrape: the
fleet rows (``workflows.fleet_view``; cached ``FLEET_TTL_SECONDS`` like the pages), the verdict
runs' ``results.json`` for the firing checks (``ArtifactCache``: a run is read once per
process), the alert rows of the counting windows, and each version's ``monitor.slo`` tag (the
SLO judgement ``workflows.slo_report`` records after a fleet run: the exporter never recomputes
SLOs). The whole exposition is kept for the same 10 s, so a scrape every few seconds from
several Prometheus replicas costs one registry read per 10 s. A store that cannot be read
answers 503 with one line (Prometheus marks the target down: ``up == 0``), never stale zeros.

Series (labels ``model``, ``version``; one per monitored version):

- ``mlflow_monitor_health`` {aliases}: 0 healthy, 1 warning, 2 critical, -1 no verdict (failed,
  unknown, no baseline); ``mlflow_monitor_health_state`` {state}: 1 for the row's state, one
  series per state the fleet page shows (``critical``, ``failed``, ``no baseline`` ...).
- ``mlflow_monitor_partial``: 1 when a critical check of the verdict was not evaluated.
- ``mlflow_monitor_verdict_age_seconds``: since the verdict was last recorded (``last_checked``);
  ``mlflow_monitor_window_end_timestamp_seconds``: the verdict window's end (staleness is
  ``time() - ...``, as ``status`` measures it).
- ``mlflow_monitor_last_error``: 1 while a failed attempt is recorded beside the verdict.
- ``mlflow_monitor_firing_checks`` {severity}: the verdict's findings per severity (0 shown).
- ``mlflow_monitor_alerts_sent_total`` {model, channel, status}: alert deliveries recorded in
  the counting windows' ``alerts.json`` (the alerts page's rows; ``nothing_to_send`` left out).
  A window superseded by a rerun drops its rows, which Prometheus reads as a counter reset.
- ``mlflow_monitor_slo_budget_remaining_ratio`` {slo} and ``mlflow_monitor_slo_burn_rate``
  {slo, tier, window=long|short}: from the ``monitor.slo`` tag, as of its evaluation.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from flask import Flask, Response, current_app, make_response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlflow_monitor.contract import RESULTS_FILE, TAG_SLO, WindowResults, parse_utc
from mlflow_monitor.errors import DataError, RegistryError
from mlflow_monitor.ui.pages import EXTENSION
from mlflow_monitor.ui.state import FLEET_TTL_SECONDS, Dashboard
from mlflow_monitor.workflows.fleet_view import HEALTH_ORDER, FleetRow

__all__ = [
    "METRICS_PATH",
    "ROOT_METRICS_PATH",
    "FleetCollector",
    "SloSample",
    "serve_metrics",
    "serve_root_metrics",
]

METRICS_PATH = "/monitor/metrics"
ROOT_METRICS_PATH = "/metrics"  # the standalone app only (MLflow's server may own it)
HEALTH_VALUES = {"healthy": 0.0, "warning": 1.0, "critical": 2.0}
NO_VERDICT = -1.0
SEVERITIES = ("critical", "warning", "info")
QUIET_ALERT = "nothing_to_send"
_EXTENSION = "mlflow_monitor_metrics"
_VERSION = ["model", "version"]


@dataclass(frozen=True)
class SloSample:
    """One SLO of one version as its ``monitor.slo`` tag recorded it."""

    model: str
    version: str
    slo: str
    remaining: float | None
    burn: Mapping[str, tuple[float | None, float | None]]  # tier -> (long, short)


class FleetCollector(Collector):
    """The fleet's metrics, read from a ``Dashboard`` on every ``collect``."""

    def __init__(self, board: Dashboard, *, clock: Callable[[], float] = time.time) -> None:
        self.board = board
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        rows = self.board.fleet()
        yield from _health(rows)
        yield from _verdict_facts(rows, self.clock())
        yield _firing_checks(self.board, rows)
        yield _alerts_sent(self.board)
        yield from _slo_metrics(_slo_samples(self.board, rows))


def serve_metrics(app: Flask) -> None:
    """Answer ``METRICS_PATH`` on ``app`` (which serves the dashboard: ``ui.app.mount``)."""
    app.extensions[_EXTENSION] = _Exposition(FLEET_TTL_SECONDS)
    app.add_url_rule(METRICS_PATH, "monitor_metrics", _metrics_view)


def serve_root_metrics(app: Flask) -> None:
    """Answer ``ROOT_METRICS_PATH`` too (the standalone app, where nothing else owns it)."""
    app.add_url_rule(ROOT_METRICS_PATH, "monitor_metrics_root", _metrics_view)


# -- serving ---------------------------------------------------------------------------------------
class _Exposition:
    """The last exposition text, kept for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._body = b""
        self._at = -float("inf")

    def get(self, board: Dashboard) -> bytes:
        with self._lock:
            if time.monotonic() - self._at > self.seconds:
                registry = CollectorRegistry(auto_describe=False)
                registry.register(FleetCollector(board))
                self._body = generate_latest(registry)
                self._at = time.monotonic()
            return self._body


def _metrics_view() -> Response:
    board: Dashboard = current_app.extensions[EXTENSION]
    exposition: _Exposition = current_app.extensions[_EXTENSION]
    try:
        body = exposition.get(board)
    except RegistryError as exc:
        response = make_response(f"mlflow-monitor: the store cannot be read: {exc}\n", 503)
        response.headers["Content-Type"] = "text/plain; charset=utf-8"
        return response
    response = make_response(body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response


# -- the series -----------------------------------------------------------------------------------
def _health(rows: list[FleetRow]) -> Iterator[Metric]:
    health = GaugeMetricFamily(
        "mlflow_monitor_health",
        "Health of the version's verdict: 0 healthy, 1 warning, 2 critical, -1 no verdict.",
        labels=[*_VERSION, "aliases"],
    )
    state = GaugeMetricFamily(
        "mlflow_monitor_health_state",
        "1 for the version's state as the fleet page shows it (one series per state).",
        labels=[*_VERSION, "state"],
    )
    for row in rows:
        value = HEALTH_VALUES.get(row.health, NO_VERDICT)
        health.add_metric([row.model, row.version, ",".join(row.aliases)], value)
        for name in HEALTH_ORDER:
            state.add_metric([row.model, row.version, name], float(row.health == name))
    yield health
    yield state


def _verdict_facts(rows: list[FleetRow], now: float) -> Iterator[Metric]:
    partial = GaugeMetricFamily(
        "mlflow_monitor_partial",
        "1 when a critical check of the verdict was not evaluated (no labels yet).",
        labels=_VERSION,
    )
    age = GaugeMetricFamily(
        "mlflow_monitor_verdict_age_seconds",
        "Seconds since the version's verdict was last recorded (monitor.last_checked).",
        labels=_VERSION,
    )
    window_end = GaugeMetricFamily(
        "mlflow_monitor_window_end_timestamp_seconds",
        "End of the verdict's window, Unix seconds (staleness: time() - this).",
        labels=_VERSION,
    )
    error = GaugeMetricFamily(
        "mlflow_monitor_last_error",
        "1 while a failed monitoring attempt is recorded beside the verdict.",
        labels=_VERSION,
    )
    for row in rows:
        labels = [row.model, row.version]
        partial.add_metric(labels, float(row.partial))
        error.add_metric(labels, float(bool(row.last_error)))
        checked = _seconds(row.last_checked)
        if checked is not None and row.health in HEALTH_VALUES:
            age.add_metric(labels, max(0.0, now - checked))
        ended = _seconds(row.window_end)
        if ended is not None:
            window_end.add_metric(labels, ended)
    yield from (partial, age, window_end, error)


def _firing_checks(board: Dashboard, rows: list[FleetRow]) -> Metric:
    family = GaugeMetricFamily(
        "mlflow_monitor_firing_checks",
        "Findings of the version's verdict window, by severity.",
        labels=[*_VERSION, "severity"],
    )
    for row in rows:
        if row.health not in HEALTH_VALUES or not row.last_run_id:
            continue
        results = _results(board, row.last_run_id)
        if results is None:
            continue
        counts = dict.fromkeys(SEVERITIES, 0)
        for finding in results.findings:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
        for severity, count in counts.items():
            family.add_metric([row.model, row.version, severity], float(count))
    return family


def _results(board: Dashboard, run_id: str) -> WindowResults | None:
    try:
        body = board.cache.read(board.runs, run_id, RESULTS_FILE)
        return WindowResults.from_dict(body) if isinstance(body, Mapping) else None
    except (RegistryError, DataError):
        return None  # one unreadable run costs its own series, not the scrape


def _alerts_sent(board: Dashboard) -> Metric:
    family = CounterMetricFamily(
        "mlflow_monitor_alerts_sent",
        "Alert deliveries recorded by the counting windows, by channel and delivery status.",
        labels=["model", "channel", "status"],
    )
    counts: dict[tuple[str, str, str], int] = {}
    for row in board.alerts().rows:
        status = row.status or row.outcome
        if row.channel is None or not status or status == QUIET_ALERT:
            continue
        key = (row.model, row.channel, status)
        counts[key] = counts.get(key, 0) + 1
    for key, count in sorted(counts.items()):
        family.add_metric(list(key), float(count))
    return family


def _slo_samples(board: Dashboard, rows: Iterable[FleetRow]) -> list[SloSample]:
    """Each monitored version's SLOs from its ``monitor.slo`` tag (``slo_report.slo_tag_value``).

    The tag is what ``workflows.slo_report.evaluate_and_alert_slos`` recorded; the exporter reads
    it rather than judging the SLOs again (that needs each version's spec and every window).
    """
    from mlflow_monitor.adapters.mlflow.audit_log import AliasRegistry

    wanted = {(r.model, r.version) for r in rows}
    if not wanted:
        return []
    tags = AliasRegistry(board.tracking_uri).fleet_version_tags()
    samples: list[SloSample] = []
    for (model, version), held in sorted(tags.items()):
        if (model, version) in wanted:
            samples += _parse_slo_tag(model, version, held.get(TAG_SLO))
    return samples


def _parse_slo_tag(model: str, version: str, text: str | None) -> list[SloSample]:
    try:
        body = json.loads(text or "")
    except ValueError:
        return []
    slos = body.get("slos") if isinstance(body, Mapping) else None
    samples = []
    for slo in slos if isinstance(slos, list) else []:
        if not isinstance(slo, Mapping) or not slo.get("name"):
            continue
        burn = slo.get("burn") if isinstance(slo.get("burn"), Mapping) else {}
        rates = {
            str(tier): (_number(pair, 0), _number(pair, 1))
            for tier, pair in burn.items()  # type: ignore[union-attr]
        }
        remaining = _number([slo.get("remaining")], 0)
        samples.append(SloSample(model, version, str(slo["name"]), remaining, rates))
    return samples


def _slo_metrics(samples: list[SloSample]) -> Iterator[Metric]:
    budget = GaugeMetricFamily(
        "mlflow_monitor_slo_budget_remaining_ratio",
        "Error budget left of the SLO (1 = untouched, below 0 = overspent), as last evaluated.",
        labels=[*_VERSION, "slo"],
    )
    burn = GaugeMetricFamily(
        "mlflow_monitor_slo_burn_rate",
        "Error-budget burn rate of the SLO's alert tier over its long and short lookback.",
        labels=[*_VERSION, "slo", "tier", "window"],
    )
    for s in samples:
        if s.remaining is not None:
            budget.add_metric([s.model, s.version, s.slo], s.remaining)
        for tier, pair in s.burn.items():
            for window, rate in zip(("long", "short"), pair, strict=True):
                if rate is not None:
                    burn.add_metric([s.model, s.version, s.slo, tier, window], rate)
    yield budget
    yield burn


def _number(values: object, index: int) -> float | None:
    if isinstance(values, list) and len(values) > index:
        value = values[index]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _seconds(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return parse_utc(text).timestamp()
    except ValueError:
        return None
