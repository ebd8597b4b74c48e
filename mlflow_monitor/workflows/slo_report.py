"""The SLO report of a model version, and its burn-rate alerts.

``slo_report`` reads the version's windows (``window_history``: the counting result of each
window, in window order, with its metrics; the windows whose every attempt FAILED from the
attempts; each window's ``results.json`` only when a ``check: <id>`` or ``policies`` SLO needs
its outcomes), judges every SLO of the spec with ``verdicts.slo`` over the period ending at
``period_end`` (default ``now``) and returns an ``SloReport`` (``to_dict()`` is the JSON,
``html()`` the page: one table per SLO, its windows or gaps, and a budget burn-down SVG).

``dispatch_slo_alerts`` sends the firing burn alerts through the spec's channels
(``adapters.apprise_delivery``): the fast tier as a page (its severity, ``critical`` by default),
the slow tier as a ticket (``warning``); a channel hears of a tier whose severity reaches its
``min_severity``. Deduplicated with the version's alert state (``AlertStateStore``: under its
lease, one mark per channel keyed ``slo:<name>:<tier>``): no second message while the same
tier keeps firing, one ``resolved`` message when it stops; a mark is written only for a channel
that received its message, so a failed delivery is tried again on the next evaluation. Never
raises: what went wrong is in the result.

``evaluate_and_alert_slos`` (what ``fleet run`` calls after a version's windows) does both and
records the judgement on the version as the tag ``monitor.slo`` (compact JSON: per SLO its SLI,
budget left, burn rates and firing tiers, with the evaluation time), which ``status`` shows
without reading any artifact.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlflow_monitor.adapters.apprise_delivery import deliver, redact_secrets
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import (
    RESULTS_FILE,
    SLO_REPORT_FILE,
    SLO_REPORT_HTML,
    TAG_SLO,
    CheckOutcome,
    WindowResults,
    parse_utc,
    utc_text,
)
from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.spec import AlertChannel, MonitorSpec, load_spec
from mlflow_monitor.verdicts.alert_plan import (
    ChannelMark,
    CheckMarks,
    channel_key,
    severity_rank,
)
from mlflow_monitor.verdicts.escalation import admits
from mlflow_monitor.verdicts.slo import (
    BurnAlert,
    Gap,
    SloResult,
    WindowEvent,
    WindowRecord,
    duration_text,
    evaluate_slo,
    indicator_text,
    percent,
    rate_text,
)
from mlflow_monitor.views import page_html, panel_html, table_html
from mlflow_monitor.workflows.window_history import window_history

if TYPE_CHECKING:
    from mlflow_monitor.workflows.version_trends import ArtifactCache

__all__ = [
    "SloAlert",
    "SloAlertsResult",
    "SloEvaluation",
    "SloReport",
    "dispatch_slo_alerts",
    "evaluate_and_alert_slos",
    "parse_slo_tag",
    "read_slo_tag",
    "record_slo_tag",
    "recorded_slos",
    "slo_report",
    "write_slo_report",
]

log = logging.getLogger(__name__)
_KEY_PREFIX = "slo:"


# -- the report --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SloReport:
    """Every SLO of one version, judged over the period ending at ``period_end``."""

    model: str
    version: str
    evaluated_at: datetime
    period_end: datetime
    results: tuple[SloResult, ...]

    @property
    def firing(self) -> tuple[tuple[SloResult, BurnAlert], ...]:
        return tuple((r, a) for r in self.results for a in r.firing)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "version": self.version,
            "evaluated_at": utc_text(self.evaluated_at),
            "period_end": utc_text(self.period_end),
            "slos": [r.to_dict() for r in self.results],
        }

    def lines(self) -> list[str]:
        """One line per SLO (``SloResult.summary``)."""
        return [r.summary() for r in self.results]

    def __str__(self) -> str:
        return slo_table(self)

    def html(self) -> str:
        """A standalone page: per SLO its numbers, its windows (or gaps) and a burn-down chart."""
        title = f"SLOs of {self.model} v{self.version} at {utc_text(self.period_end)}"
        return page_html(self._repr_html_(), title=title)

    def _repr_html_(self) -> str:
        head = (
            f"<h2>Service levels: {html.escape(self.model)} v{html.escape(self.version)}</h2>"
            f"<p>Period ending {utc_text(self.period_end)} (evaluated "
            f"{utc_text(self.evaluated_at)}).</p>"
        )
        if not self.results:
            return panel_html(head, "<p>The spec defines no SLOs (<code>slos:</code>).</p>")
        return panel_html(head, *(_slo_html(r) for r in self.results))


def slo_report(
    *,
    version: str,
    now: datetime,
    spec: MonitorSpec | None = None,
    spec_path: str | Path | None = None,
    tracking_uri: str | None = None,
    period_end: datetime | None = None,
    cache: ArtifactCache | None = None,
) -> SloReport:
    """Judge the spec's SLOs for ``version`` (a number or ``@alias``) over periods ending at
    ``period_end`` (default ``now``); ``cache`` keeps ``results.json`` bodies between calls."""
    spec = _the_spec(spec, spec_path)
    model = spec.require_model(str(spec_path or "spec"))
    runs = MonitorRuns(tracking_uri)
    number = _resolve(model, version, tracking_uri)
    end = period_end or now
    records = _records(runs, spec, model, number, end, cache) if spec.slos else []
    results = tuple(evaluate_slo(slo, records, period_end=end) for slo in spec.slos)
    return SloReport(model, number, now, end, results)


def _the_spec(spec: MonitorSpec | None, spec_path: str | Path | None) -> MonitorSpec:
    if (spec is None) == (spec_path is None):
        raise SpecError("slo report: give spec or spec_path (one of them)")
    return spec if spec is not None else load_spec(spec_path)  # type: ignore[arg-type]


def _resolve(model: str, version: str, tracking_uri: str | None) -> str:
    from mlflow_monitor.adapters.mlflow.models import resolve_version

    return resolve_version(model, version, tracking_uri=tracking_uri)


def _records(
    runs: MonitorRuns,
    spec: MonitorSpec,
    model: str,
    version: str,
    end: datetime,
    cache: ArtifactCache | None,
) -> list[WindowRecord]:
    """The version's counting windows (with outcomes where an SLO needs them) and failed ones."""
    history = window_history(model, version=version, tracking_uri=runs.tracking_uri)
    oldest = end.timestamp() - max(s.period for s in spec.slos)
    needs_outcomes = any(s.objective == "policies" or s.check for s in spec.slos)
    records = []
    for point in history.windows:
        window_end = parse_utc(point.window_end)
        outcomes = None
        if needs_outcomes and oldest < window_end.timestamp() <= end.timestamp():
            outcomes = _outcomes(runs, point.run_id, cache)
        start = parse_utc(point.window_start) if point.window_start else None
        records.append(WindowRecord(window_end, point.run_id, start, True, point.metrics, outcomes))
    return [*records, *_failed_windows(runs, model, version, {r.window_end for r in records})]


def _outcomes(
    runs: MonitorRuns, run_id: str, cache: ArtifactCache | None
) -> tuple[CheckOutcome, ...]:
    body = cache.read(runs, run_id, RESULTS_FILE) if cache else runs.read_json(run_id, RESULTS_FILE)
    if not isinstance(body, Mapping):
        return ()
    try:
        return WindowResults.from_dict(body).outcomes
    except DataError:
        return ()  # an unreadable window is judged on nothing: not_evaluated


def _failed_windows(
    runs: MonitorRuns, model: str, version: str, finished: set[datetime]
) -> list[WindowRecord]:
    """One record per window whose attempts all failed (none FINISHED)."""
    failed: dict[datetime, WindowRecord] = {}
    for attempt in runs.window_attempts(model, version):
        if attempt.status != "FAILED" or not attempt.window_end:
            continue
        window_end = parse_utc(attempt.window_end)
        if window_end not in finished:
            failed[window_end] = WindowRecord(window_end, attempt.run_id, finished=False)
    return list(failed.values())


# -- text and HTML -----------------------------------------------------------------------------
def slo_table(report: SloReport) -> str:
    """``slo status``: one row per SLO (SLI, target, budget left, burn rates, firing)."""
    if not report.results:
        return f"{report.model} v{report.version}: the spec defines no SLOs"
    header = ("SLO", "SLI", "TARGET", "WINDOWS", "BUDGET LEFT", "BURN (LONG/SHORT)", "FIRING")
    body = [_table_row(r) for r in report.results]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header) - 1)]
    lines = [f"{report.model} v{report.version}, period ending {utc_text(report.period_end)}"]
    for line in (header, *body):
        cells = [c.ljust(w) for c, w in zip(line[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, line[-1]]))
    return "\n".join(lines)


def _table_row(result: SloResult) -> tuple[str, ...]:
    b = result.budget
    if b.unit == "windows":
        counted = f"{b.good:g} good, {b.bad:g} bad"
        excluded = sum(result.excluded.values())
        counted += f", {excluded} excluded" if excluded else ""
    else:
        counted = f"{duration_text(round(b.bad))} late of {duration_text(round(b.eligible))}"
    burns = " ".join(
        f"{a.tier} {rate_text(a.long.rate)}/{rate_text(a.short.rate)}" for a in result.burn
    )
    firing = ", ".join(f"{a.tier} ({a.severity})" for a in result.firing) or "-"
    return (
        result.slo.name,
        percent(b.sli),
        percent(result.slo.target),
        counted,
        percent(b.remaining),
        burns or "-",
        firing,
    )


def _slo_html(result: SloResult) -> str:
    b = result.budget
    name = html.escape(result.slo.name)
    facts = [
        {"": "indicator", "value": indicator_text(result.slo)},
        {"": "target", "value": percent(result.slo.target)},
        {"": "period", "value": duration_text(result.slo.period)},
        {"": "SLI", "value": percent(b.sli)},
        {"": f"eligible {b.unit}", "value": _amount(b.eligible, b.unit)},
        {"": f"bad {b.unit}", "value": _amount(b.bad, b.unit)},
        {"": "error budget", "value": _amount(b.budget, b.unit)},
        {"": "budget left", "value": percent(b.remaining)},
        {"": "excluded", "value": _excluded_text(result)},
        {"": "estimated (not in the SLI)", "value": _estimated_text(result)},
    ]
    facts += [
        {
            "": f"{a.tier} burn ({duration_text(a.long.lookback_seconds)} / "
            f"{duration_text(a.short.lookback_seconds)}, x{a.factor:g})",
            "value": f"{rate_text(a.long.rate)} / {rate_text(a.short.rate)}"
            + (f": FIRING ({a.severity})" if a.firing else ""),
        }
        for a in result.burn
    ]
    parts = [
        f'<h3 id="slo-{name}">{name}</h3>',
        f'<p class="mm-slo-summary">{html.escape(result.summary())}</p>',
        table_html(facts, columns=["", "value"]),
        _burndown_svg(result),
    ]
    if result.events:
        parts.append(table_html([_event_row(e) for e in result.events], columns=_EVENT_COLUMNS))
    if result.gaps:
        parts.append(table_html([_gap_row(g) for g in result.gaps], columns=_GAP_COLUMNS))
    return "\n".join(p for p in parts if p)


_EVENT_COLUMNS = ["window end", "event", "reason", "value", "estimated", "run"]
_GAP_COLUMNS = ["after window", "until", "gap", "late (counted)", "open"]


def _event_row(e: WindowEvent) -> dict[str, object]:
    d = e.to_dict()
    return {
        "window end": d["window_end"],
        "event": d["event"],
        "reason": d["reason"],
        "value": d["value"] if d["value"] is not None else "",
        "estimated": d["estimated"] or "",
        "run": d["run_id"],
    }


def _gap_row(g: Gap) -> dict[str, object]:
    return {
        "after window": utc_text(g.start),
        "until": utc_text(g.end),
        "gap": duration_text(round(g.seconds)),
        "late (counted)": duration_text(round(g.bad_seconds)),
        "open": "still open" if g.open else "",
    }


def _amount(value: float, unit: str) -> str:
    return f"{value:.4g}" if unit == "windows" else f"{value / 3600:.4g} h"


def _excluded_text(result: SloResult) -> str:
    shown = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in result.excluded.items())
    return shown or "none"


def _estimated_text(result: SloResult) -> str:
    est = result.estimated
    if not est.good + est.bad:
        return "none"
    return f"{est.good} good, {est.bad} bad (estimated SLI {percent(est.sli)})"


def _burndown_svg(result: SloResult, *, width: int = 420, height: int = 140) -> str:
    """Remaining budget over the period (100% at the top, 0 dashed); empty without points."""
    points = result.burndown
    if not points:
        return ""
    t0, t1 = result.period_start.timestamp(), result.period_end.timestamp()
    low = min(0.0, *(r for _, r in points))
    left, top, plot_w, plot_h = 40.0, 10.0, width - 50.0, height - 30.0

    def xy(moment: datetime, remaining: float) -> str:
        x = left + plot_w * (moment.timestamp() - t0) / (t1 - t0)
        y = top + plot_h * (1 - (remaining - low) / (1 - low))
        return f"{x:.1f},{y:.1f}"

    start = [(result.period_start, 1.0)] if points[0][0] > result.period_start else []
    line = " ".join(xy(t, r) for t, r in (*start, *points))
    zero = top + plot_h * (1 - (0 - low) / (1 - low))
    label = f"error budget remaining of {result.slo.name}: {percent(points[-1][1])} at the end"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(label)}" class="mm-slo-burndown">'
        f"<title>{html.escape(label)}</title>"
        f'<line x1="{left}" y1="{zero:.1f}" x2="{left + plot_w}" y2="{zero:.1f}" '
        'stroke="#999" stroke-dasharray="4 3"/>'
        f'<text x="2" y="{top + 4:.0f}" font-size="10">100%</text>'
        f'<text x="2" y="{zero + 4:.1f}" font-size="10">0%</text>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{line}"/>'
        f'<text x="{left}" y="{height - 4}" font-size="10">'
        f"{utc_text(result.period_start)[:10]}</text>"
        f'<text x="{left + plot_w}" y="{height - 4}" font-size="10" text-anchor="end">'
        f"{utc_text(result.period_end)[:10]}</text></svg>"
    )


def write_slo_report(report: SloReport, out: str | Path) -> tuple[Path, Path]:
    """``slo_report.json`` and ``slo_report.html`` in ``out`` (created); their paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    body = folder / SLO_REPORT_FILE
    body.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    page = folder / SLO_REPORT_HTML
    page.write_text(report.html(), encoding="utf-8")
    return body, page


# -- burn alerts -------------------------------------------------------------------------------
AlertKind = Literal["firing", "resolved"]


@dataclass(frozen=True)
class SloAlert:
    """One message to one channel: a tier that started firing, or stopped."""

    channel: str
    key: str  # slo:<name>:<tier>
    kind: AlertKind
    severity: str
    status: Literal["sent", "failed"]
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "key": self.key,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SloAlertsResult:
    """What ``dispatch_slo_alerts`` did: ``sent``, ``nothing_to_send``, ``no_channels``,
    ``locked`` or ``error`` (with ``error``); each message's outcome."""

    status: str
    alerts: tuple[SloAlert, ...] = ()
    error: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "alerts": [a.to_dict() for a in self.alerts],
            "error": self.error,
        }


def dispatch_slo_alerts(
    spec: MonitorSpec,
    report: SloReport,
    *,
    tracking_uri: str | None = None,
    now: datetime | None = None,
    lock_wait_seconds: float = 60.0,
) -> SloAlertsResult:
    """Send the burn alerts that started or stopped firing; never raises (see module docs)."""
    try:
        return _dispatch(spec, report, tracking_uri, now or report.evaluated_at, lock_wait_seconds)
    except Exception as exc:
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        reason = redact_secrets(f"{type(exc).__name__}: {text}"[:500], spec.alerts.channels)
        log.warning("SLO alerts of %s v%s not dispatched: %s", report.model, report.version, reason)
        return SloAlertsResult("error", error=reason)


def _dispatch(
    spec: MonitorSpec, report: SloReport, tracking_uri: str | None, now: datetime, wait: float
) -> SloAlertsResult:
    from mlflow_monitor.adapters.mlflow.alert_state import AlertStateStore

    channels = spec.alerts.channels
    if not channels:
        return SloAlertsResult("no_channels")
    store = AlertStateStore(report.model, report.version, tracking_uri=tracking_uri)
    ttl = 60.0 + (2 * spec.alerts.timeout_seconds + 1) * len(channels) * 4
    lease = store.acquire(ttl_seconds=ttl, wait_seconds=wait)
    if lease is None:
        return SloAlertsResult("locked", error="another process held the alert lease")
    try:
        state = store.read()
        sent: list[SloAlert] = []
        changes: dict[str, CheckMarks] = {}
        for result, alert in _tiers(report):
            key = f"{_KEY_PREFIX}{result.slo.name}:{alert.tier}"
            marks = state.get(key) or CheckMarks(key, {})
            told = dict(marks.channels)
            for channel in channels:
                outcome = _tell(spec, report, result, alert, channel, told, key, now)
                if outcome is not None:
                    sent.append(outcome)
            if told != dict(marks.channels):
                changes[key] = CheckMarks(key, told)
        if changes:
            store.write(lease, changes)
    finally:
        store.release(lease)
    status = "nothing_to_send" if not sent else _overall(sent)
    return SloAlertsResult(status, tuple(sent))


def _tiers(report: SloReport) -> list[tuple[SloResult, BurnAlert]]:
    return [(r, a) for r in report.results for a in r.burn]


def _tell(
    spec: MonitorSpec,
    report: SloReport,
    result: SloResult,
    alert: BurnAlert,
    channel: AlertChannel,
    told: dict[str, ChannelMark],
    key: str,
    now: datetime,
) -> SloAlert | None:
    """Send this channel what changed for ``alert`` (updating ``told``); None when nothing did."""
    ck = channel_key(channel)
    visible = severity_rank(alert.severity) >= severity_rank(channel.min_severity)
    # an escalation policy's later steps are for unacknowledged findings, not burn alerts
    visible = visible and admits(spec.alerts, channel.name or "", alert.severity)  # type: ignore[arg-type]
    if alert.firing and visible and ck not in told:
        kind: AlertKind = "firing"
    elif not alert.firing and ck in told:
        kind = "resolved"
    else:
        return None
    title, body = _message(report, result, alert, kind)
    notify = "success" if kind == "resolved" else _notify_type(alert.severity)
    ok, reason, _ = deliver(channel, title, body, notify, spec.alerts.timeout_seconds)
    if ok and kind == "firing":
        told[ck] = ChannelMark(alert.severity, now)  # type: ignore[arg-type]
    elif ok:
        told.pop(ck, None)
    status: Literal["sent", "failed"] = "sent" if ok else "failed"
    log.info("SLO alert %s (%s) to %s: %s", key, kind, ck, status)
    return SloAlert(ck, key, kind, alert.severity, status, reason)


def _notify_type(severity: str) -> str:
    return {"critical": "failure", "warning": "warning"}.get(severity, "info")


def _message(
    report: SloReport, result: SloResult, alert: BurnAlert, kind: AlertKind
) -> tuple[str, str]:
    what = "page" if alert.tier == "fast" else "ticket"
    scope = f"{report.model} v{report.version}"
    if kind == "resolved":
        title = f"[RESOLVED] [mlflow-monitor] SLO {result.slo.name} of {scope}: {alert.tier} burn"
        head = f"The {alert.tier} burn alert ({what}) of SLO {result.slo.name} stopped firing."
    else:
        title = (
            f"[{alert.severity.upper()}] [mlflow-monitor] SLO {result.slo.name} of {scope}: "
            f"{alert.tier} burn ({what})"
        )
        head = (
            f"SLO {result.slo.name} ({indicator_text(result.slo)}, target "
            f"{percent(result.slo.target)} over {duration_text(result.slo.period)}) is burning "
            f"its error budget {rate_text(alert.long.rate)}x over the last "
            f"{duration_text(alert.long.lookback_seconds)} and {rate_text(alert.short.rate)}x "
            f"over the last {duration_text(alert.short.lookback_seconds)} "
            f"(alert at {alert.factor:g}x)."
        )
    body = f"{head}\n{result.summary()}\nEvaluated at {utc_text(report.period_end)}."
    return title, body


def _overall(sent: Sequence[SloAlert]) -> str:
    failed = sum(a.status == "failed" for a in sent)
    return "sent" if not failed else ("failed" if failed == len(sent) else "partial")


# -- one call for the fleet --------------------------------------------------------------------
@dataclass(frozen=True)
class SloEvaluation:
    """``evaluate_and_alert_slos``: the report and what its alerts did."""

    report: SloReport
    alerts: SloAlertsResult
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {
            "report": self.report.to_dict(),
            "alerts": self.alerts.to_dict(),
            "notes": list(self.notes),
        }


def evaluate_and_alert_slos(
    *,
    tracking_uri: str | None,
    spec: MonitorSpec,
    version: str,
    now: datetime | None = None,
) -> SloEvaluation:
    """Judge the version's SLOs at ``now``, send burn alerts, tag ``monitor.slo`` on it.

    A spec without SLOs reads nothing. Recording the tag never fails the call (noted instead).
    """
    moment = now or datetime.now(timezone.utc)
    report = slo_report(spec=spec, version=version, tracking_uri=tracking_uri, now=moment)
    if not report.results:
        return SloEvaluation(report, SloAlertsResult("nothing_to_send"))
    alerts = dispatch_slo_alerts(spec, report, tracking_uri=tracking_uri, now=moment)
    notes: tuple[str, ...] = ()
    try:
        record_slo_tag(report, tracking_uri=tracking_uri)
    except Exception as exc:  # the judgement and the alerts stand; status shows the older tag
        notes = (f"monitor.slo tag not written: {exc}",)
    return SloEvaluation(report, alerts, notes)


def record_slo_tag(report: SloReport, *, tracking_uri: str | None) -> None:
    """Write the compact judgement (``slo_tag_value``) as the version's ``monitor.slo`` tag."""
    MonitorRuns(tracking_uri).set_version_tags(
        report.model, report.version, {TAG_SLO: slo_tag_value(report)}
    )


def slo_tag_value(report: SloReport) -> str:
    """``{"at": ..., "slos": [{"name", "sli", "remaining", "burn": {"fast": [l, s]}, ...}]}``."""
    slos = [
        {
            "name": r.slo.name,
            "sli": _rounded(r.budget.sli),
            "target": r.slo.target,
            "remaining": _rounded(r.budget.remaining),
            "burn": {a.tier: [_rounded(a.long.rate), _rounded(a.short.rate)] for a in r.burn},
            "firing": [a.tier for a in r.firing],
        }
        for r in report.results
    ]
    return json.dumps({"at": utc_text(report.period_end), "slos": slos}, separators=(",", ":"))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def read_slo_tag(text: str | None) -> tuple[str, ...]:
    """``status``'s lines from a ``monitor.slo`` tag: ``auc-floor: budget left 57.1%, burn
    fast 0.00/0.00 slow 0.67/0.00, firing -`` (as of the evaluation); () when absent or unreadable.
    """
    try:
        body = json.loads(text or "")
    except ValueError:
        return ()
    if not isinstance(body, Mapping) or not isinstance(body.get("slos"), list):
        return ()
    lines = []
    for slo in body["slos"]:
        if not isinstance(slo, Mapping):
            continue
        burn = slo.get("burn") if isinstance(slo.get("burn"), Mapping) else {}
        burns = " ".join(
            f"{tier} {rate_text(_num(pair, 0))}/{rate_text(_num(pair, 1))}"
            for tier, pair in burn.items()  # type: ignore[union-attr]
        )
        firing = ", ".join(str(t) for t in slo.get("firing") or []) or "-"
        lines.append(
            f"{slo.get('name')}: SLI {percent(_num([slo.get('sli')], 0))} "
            f"(target {percent(_num([slo.get('target')], 0))}), budget left "
            f"{percent(_num([slo.get('remaining')], 0))}, burn {burns or '-'}, firing {firing} "
            f"(at {body.get('at')})"
        )
    return tuple(lines)


def _num(pair: object, index: int) -> float | None:
    if isinstance(pair, list) and len(pair) > index and isinstance(pair[index], int | float):
        return float(pair[index])
    return None


def parse_slo_tag(text: str | None) -> dict[str, object]:
    """A ``monitor.slo`` tag as ``{"at": <UTC text or None>, "slos": [mapping per SLO]}``."""
    try:
        body = json.loads(text or "")
    except ValueError:
        return {"at": None, "slos": []}
    if not isinstance(body, Mapping) or not isinstance(body.get("slos"), list):
        return {"at": None, "slos": []}
    slos = [dict(s) for s in body["slos"] if isinstance(s, Mapping)]
    return {"at": body.get("at"), "slos": slos}


def recorded_slos(model: str, version: str, *, tracking_uri: str | None) -> dict[str, object]:
    """The version's SLOs as last judged (its ``monitor.slo`` tag, parsed; one registry search).

    What the dashboard shows: it has no spec to judge with, so it shows the last judgement.
    """
    from mlflow_monitor.adapters.mlflow.audit_log import AliasRegistry

    tags = AliasRegistry(tracking_uri).fleet_version_tags().get((model, str(version)), {})
    return parse_slo_tag(tags.get(TAG_SLO))
