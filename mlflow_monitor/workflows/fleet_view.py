"""The fleet at a glance: one row per monitored model version, unhealthy first.

Steps: list the monitored versions with their aliases (``adapters.mlflow.fleet.fleet_versions``:
two paginated searches, never a call per version, so the dashboard's fleet page stays fast for
a large fleet), take each version's top finding from its ``monitor.top_finding`` tag, else from
its verdict run's ``results.json`` (read once per run through ``ArtifactCache``: a finished run
never changes), and order the rows worst health first. The alerts and gates pages read the
windows' ``alerts.json`` (newest window first) and the alias audit records (newest first). A
channel's address is kept as ``scheme://host`` only: its path or query may carry a token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from mlflow_monitor.adapters.mlflow.fleet import FleetVersion, fleet_versions
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import ALERTS_FILE, RESULTS_FILE, WindowResults
from mlflow_monitor.errors import DataError, RegistryError
from mlflow_monitor.verdicts.escalation import Adjudication, Silence
from mlflow_monitor.verdicts.promotion import AuditRecord
from mlflow_monitor.verdicts.root_cause import headline
from mlflow_monitor.workflows.adjudicate import decision_history, list_silences
from mlflow_monitor.workflows.promote import history
from mlflow_monitor.workflows.version_trends import ArtifactCache
from mlflow_monitor.workflows.window_history import WindowPoint, window_history

__all__ = [
    "HEALTH_ORDER",
    "NO_BASELINE",
    "AlertDecisionsView",
    "AlertRow",
    "FleetRow",
    "alert_decisions",
    "alert_rows",
    "fleet_rows",
    "gate_rows",
    "health_summary",
]

# how a row's health reads, worst first: `failed` is a version whose every attempt failed;
# `no baseline`: a version of a monitored model that has no baseline yet (as `status` says)
NO_BASELINE = "no baseline"
HEALTH_ORDER = ("critical", "failed", "warning", "unknown", "healthy", NO_BASELINE)
_SHARED = ArtifactCache()


@dataclass(frozen=True)
class FleetRow:
    """One monitored version as the fleet page shows it."""

    model: str
    version: str
    aliases: tuple[str, ...]
    health: str  # one of HEALTH_ORDER
    window_start: str | None
    window_end: str | None
    top_finding: str | None
    last_checked: str | None
    last_run_id: str | None
    last_error: str | None
    last_error_run_id: str | None
    partial: bool = False  # a critical check was not evaluated: health speaks for the rest

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "version": self.version,
            "aliases": list(self.aliases),
            "health": self.health,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "top_finding": self.top_finding,
            "last_checked": self.last_checked,
            "last_run_id": self.last_run_id,
            "last_error": self.last_error,
            "last_error_run_id": self.last_error_run_id,
            "partial": self.partial,
        }


def fleet_rows(
    *,
    tracking_uri: str | None = None,
    runs: MonitorRuns | None = None,
    cache: ArtifactCache | None = None,
) -> list[FleetRow]:
    """Every monitored version, worst health first, then by model and newest version."""
    runs = runs or MonitorRuns(tracking_uri)
    cache = cache or _SHARED
    rows = [_row(entry, runs, cache) for entry in fleet_versions(runs)]
    return sorted(rows, key=_order)


def _row(entry: FleetVersion, runs: MonitorRuns, cache: ArtifactCache) -> FleetRow:
    state = entry.state
    health = _health(entry)
    top = entry.top_finding
    if top is None and state.last_run_id and health in ("warning", "critical"):
        top = _finding_from_results(runs, cache, state.last_run_id)
    partial = entry.partial
    if partial is None:  # a verdict written before the monitor.partial tag: its results.json
        partial = bool(state.last_run_id and state.health) and _partial_from_results(
            runs, cache, state.last_run_id or ""
        )
    return FleetRow(
        model=state.model,
        version=state.version,
        aliases=state.aliases,
        health=health,
        window_start=state.window_start,
        window_end=state.window_end,
        top_finding=top,
        last_checked=state.last_checked,
        last_run_id=state.last_run_id,
        last_error=state.last_error,
        last_error_run_id=state.last_error_run_id,
        partial=partial,
    )


def _health(entry: FleetVersion) -> str:
    state = entry.state
    if not entry.monitored:
        return NO_BASELINE
    health = state.health or ("failed" if state.last_error else "unknown")
    return health if health in HEALTH_ORDER else "unknown"


def _results(runs: MonitorRuns, cache: ArtifactCache, run_id: str) -> WindowResults | None:
    """The verdict run's results; None when absent or unreadable (the row still shows)."""
    try:
        body = cache.read(runs, run_id, RESULTS_FILE)
    except RegistryError:
        return None
    if not isinstance(body, Mapping):
        return None
    try:
        return WindowResults.from_dict(body)
    except DataError:
        return None


def _partial_from_results(runs: MonitorRuns, cache: ArtifactCache, run_id: str) -> bool:
    """``WindowResults.partial`` of the verdict run (a critical check not evaluated)."""
    results = _results(runs, cache, run_id)
    return results is not None and results.partial


def _finding_from_results(runs: MonitorRuns, cache: ArtifactCache, run_id: str) -> str | None:
    """The verdict's headline from its ``results.json`` (``verdicts.root_cause.headline``)."""
    results = _results(runs, cache, run_id)
    return None if results is None else headline(results.outcomes) or None


def health_summary(rows: Iterable[FleetRow]) -> tuple[tuple[str, int], ...]:
    """How many rows have each health, worst first, healths with no row left out."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.health] = counts.get(row.health, 0) + 1
    return tuple((health, counts[health]) for health in HEALTH_ORDER if health in counts)


def _order(row: FleetRow) -> tuple[int, str, int]:
    version = int(row.version) if row.version.isdigit() else 0
    return (HEALTH_ORDER.index(row.health), row.model, -version)


# -- the alerts and gates pages ---------------------------------------------------------------
@dataclass(frozen=True)
class AlertRow:
    """What one window's alert run did on one channel (``alerts.json``; URLs already masked)."""

    model: str
    version: str
    window_start: str | None
    window_end: str
    run_id: str
    outcome: str  # the window's alert status: sent, nothing_to_send, no_channels, failed, ...
    channel: str | None
    url: str | None  # scheme://host of the channel's address, never its path or query
    severity: str | None
    status: str | None  # the channel's status: sent, failed, nothing_to_send
    reason: str
    checks: tuple[str, ...]
    causes: tuple[str, ...] = ()
    # the newest ack/dismiss/reopen of one of the row's alerts (``alerts ack ...``): what, who, why
    decision: str | None = None
    decided_by: str | None = None
    decision_reason: str = ""
    suppressed: tuple[str, ...] = ()  # "check: reason" held back on this channel (silenced ...)

    def to_dict(self) -> dict[str, object]:
        return {**self.__dict__, "checks": list(self.checks), "suppressed": list(self.suppressed)}


def alert_rows(
    models: Sequence[str],
    *,
    tracking_uri: str | None = None,
    runs: MonitorRuns | None = None,
    cache: ArtifactCache | None = None,
    last: int = 50,
) -> list[AlertRow]:
    """The alerts of the last ``last`` counting windows of each model, newest window first."""
    runs = runs or MonitorRuns(tracking_uri)
    cache = cache or _SHARED
    rows: list[AlertRow] = []
    for model in models:
        points = window_history(model, tracking_uri=runs.tracking_uri).windows[-last:]
        decided = decision_history(tracking_uri=runs.tracking_uri, model=model)
        for point in points:
            found = _alert_rows(point, cache.read(runs, point.run_id, ALERTS_FILE))
            rows += [_with_decision(r, decided) for r in found]
    return sorted(rows, key=lambda r: (r.window_end, r.model, r.version), reverse=True)


def _with_decision(row: AlertRow, decided: Sequence[Adjudication]) -> AlertRow:
    """The row with the newest decision about one of its checks (by check id or alert key)."""
    named = set(row.checks) | {f"cause:{c}" for c in row.causes}
    mine = [d for d in decided if d.version == row.version and ({d.key, d.check_id} & named)]
    if not mine:
        return row
    last = max(mine, key=lambda d: (d.at, d.record_id))
    return replace(
        row, decision=last.action, decided_by=last.user, decision_reason=last.reason
    )


@dataclass(frozen=True)
class AlertDecisionsView:
    """A version's alert decisions (newest first) and the model's silences (holding first)."""

    decisions: tuple[Adjudication, ...]
    silences: tuple[Silence, ...]
    holding: frozenset[str]  # ids of the silences in force now


def alert_decisions(
    model: str, version: str | None = None, *, tracking_uri: str | None = None
) -> AlertDecisionsView:
    """The "Adjudications & silences" list of a version page and of the card."""
    decided = decision_history(tracking_uri=tracking_uri, model=model, version=version)
    silences = list_silences(tracking_uri=tracking_uri, model=model, everything=True)
    mine = [s for s in silences if version is None or s.version in (None, str(version))]
    now = list_silences(tracking_uri=tracking_uri, model=model)
    holding = frozenset(s.silence_id for s in now)
    ordered = sorted(mine, key=lambda s: (s.silence_id not in holding, -s.created_at.timestamp()))
    return AlertDecisionsView(tuple(reversed(decided)), tuple(ordered), holding)


def _alert_rows(point: WindowPoint, body: object) -> list[AlertRow]:
    if not isinstance(body, Mapping):
        return []
    outcome = str(body.get("status") or "")
    note = str(body.get("error") or body.get("note") or "")
    channels = [c for c in body.get("channels") or () if isinstance(c, Mapping)]
    if not channels:
        return [_alert_row(point, outcome, None, note)]
    return [_alert_row(point, outcome, channel, note) for channel in channels]


def _alert_row(
    point: WindowPoint, outcome: str, channel: Mapping[str, object] | None, note: str
) -> AlertRow:
    channel = channel or {}
    items = channel.get("items")
    listed = items if isinstance(items, list) else []
    checks = tuple(str(i.get("check_id")) for i in listed if isinstance(i, Mapping))
    causes = tuple(str(i["cause"]) for i in listed if isinstance(i, Mapping) and i.get("cause"))
    return AlertRow(
        model=point.model,
        version=point.version,
        window_start=point.window_start,
        window_end=point.window_end,
        run_id=point.run_id,
        outcome=outcome,
        channel=_text(channel.get("channel")),
        url=_origin(_text(channel.get("url"))),
        severity=_text(channel.get("severity")),
        status=_text(channel.get("status")),
        reason=str(channel.get("reason") or note),
        checks=checks,
        causes=causes,
    )


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of a channel address: no user, password, path or query."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL (a bad IPv6 literal): show nothing of it
        return None
    host = parts.netloc.rsplit("@", 1)[-1]
    if not parts.scheme or not host:
        return None
    return f"{parts.scheme}://{host}"


def gate_rows(models: Sequence[str], *, tracking_uri: str | None = None) -> list[AuditRecord]:
    """Every alias decision (audit record) of the models, newest first."""
    records = [r for model in models for r in history(model, tracking_uri=tracking_uri)]
    return sorted(records, key=lambda r: (r.at, r.model), reverse=True)
