"""The dashboard's pages: one Flask blueprint at ``/monitor``, standalone and inside MLflow alike.

Pages are rendered on the server (Jinja2, ``templates/monitor/``); the browser only sorts and
filters the fleet table and draws the charts (``static/``). Every asset comes from this app:
Plotly.js from the installed ``plotly`` package, the rest from ``static/``. A run's files are
served here too, a report or notebook as a sandboxed document (CSP ``sandbox``: its scripts run
in an opaque origin, away from this app and the MLflow server's session). Every response says
how long the app took (``Server-Timing: app;dur=<ms>``).
"""

from __future__ import annotations

import functools
import mimetypes
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    render_template,
    request,
    url_for,
)

from mlflow_monitor.adapters.notebook_html import notebook_html, without_outside_scripts
from mlflow_monitor.contract import NOTEBOOKS_DIR
from mlflow_monitor.errors import RegistryError
from mlflow_monitor.ui import formatting
from mlflow_monitor.ui.state import Dashboard, NotFound
from mlflow_monitor.verdicts.trends import TrendSeries, VersionTrends, WindowMark
from mlflow_monitor.workflows.fleet_view import (
    HEALTH_ORDER,
    NO_BASELINE,
    AlertDecisionsView,
    FleetRow,
    alert_decisions,
    health_summary,
)
from mlflow_monitor.workflows.slo_report import recorded_slos

__all__ = ["EXTENSION", "blueprint"]

EXTENSION = "mlflow_monitor"  # app.extensions key holding the app's Dashboard
YEAR_SECONDS = 365 * 24 * 3600
QUIET_ALERT = "nothing_to_send"  # alert rows hidden until asked for

blueprint = Blueprint(
    "monitor",
    __name__,
    url_prefix="/monitor",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# our pages: scripts and styles from this app only (Plotly adds <style> elements at run time)
_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)
# a run's HTML (Evidently report, notebook, card): its own scripts and inline data only, in an
# opaque origin; nothing fetched from anywhere
_ARTIFACT_CSP = (
    "sandbox allow-scripts allow-popups allow-downloads; default-src 'none'; "
    "script-src 'unsafe-inline' 'unsafe-eval' data: blob:; style-src 'unsafe-inline' data:; "
    "img-src data: blob:; font-src data:"
)
_TEXT_TYPES = (".json", ".md", ".yaml", ".yml", ".txt")
# the only files served: what the pages link to; never data (parquet, csv: raw customer rows)
SERVED_TYPES = (".html", ".ipynb", ".png", *_TEXT_TYPES)
# trend groups, in reading order: a metric family -> the group it is drawn in
_GROUPS = {
    "perf": "perf",
    "perf_est": "perf",
    "perf_est_error": "perf",
    "drift": "drift",
    "quality": "quality",
    "segment": "segment",
    "segment_est": "segment",
    "fairness": "fairness",
    "fairness_est": "fairness",
}
_GROUP_ORDER = ("perf", "drift", "quality", "segment", "fairness", "other")


def dashboard() -> Dashboard:
    held: Dashboard = current_app.extensions[EXTENSION]
    return held


def _page_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """An unknown model/run/file is a 404 page saying which; an unreachable store a 503."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except NotFound as exc:
            return _error_page(404, "Not found", str(exc))
        except RegistryError as exc:
            return _error_page(503, "MLflow could not be read", str(exc))

    return wrapped


def _api_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except NotFound as exc:
            return jsonify(error=str(exc)), 404
        except RegistryError as exc:
            return jsonify(error=str(exc)), 503

    return wrapped


def _error_page(status: int, title: str, message: str) -> Response:
    body = render_template("monitor/error.html", title=title, message=message, status=status)
    return make_response(body, status)


@blueprint.before_request
def _start_clock() -> None:
    g.monitor_started = time.perf_counter()


@blueprint.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _PAGE_CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    started = g.get("monitor_started")
    if started is not None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
    return response


@blueprint.app_template_filter("utc")
def _utc(text: str | None, seconds: bool = False) -> str:
    return formatting.utc_text(text, seconds=seconds)


@blueprint.app_template_filter("age")
def _age(text: str | None) -> str:
    return formatting.age_text(text)


@blueprint.app_template_filter("stale")
def _stale(text: str | None) -> bool:
    return formatting.is_stale(text)


@blueprint.app_template_filter("short_list")
def _short_list(items: Sequence[str]) -> formatting.ShortList:
    return formatting.short_list(items)


@blueprint.app_context_processor
def _context() -> dict[str, object]:
    board = current_app.extensions.get(EXTENSION)
    if board is None:
        return {}
    return {"settings": board.settings, "tracking_uri": board.tracking_uri}


# -- pages -------------------------------------------------------------------------------------
@blueprint.route("/")
@_page_errors
def fleet() -> str:
    rows = dashboard().fleet()
    healths = [h for h in HEALTH_ORDER if any(r.health == h for r in rows)]
    summary = health_summary(rows)
    return render_template("monitor/fleet.html", rows=rows, healths=healths, summary=summary)


@blueprint.route("/models/<path:model>/versions/<version>")
@_page_errors
def version_page(model: str, version: str) -> str:
    board = dashboard()
    row = board.rows_of(model, version)[0]
    if row.health == NO_BASELINE:  # nothing monitored yet: say so and how to attach one
        trends = VersionTrends(model=model, versions=(version,), windows=(), series=())
    else:
        trends = board.trends(model, version)
    slos = recorded_slos(model, version, tracking_uri=board.tracking_uri)
    decisions = _decisions(board, model, version)
    return _trends_page(
        board,
        trends,
        title=f"{model} v{version}",
        rows=[row],
        version=version,
        slos=slos,
        decisions=decisions,
    )


def _decisions(board: Dashboard, model: str, version: str) -> AlertDecisionsView | None:
    """The version's alert decisions and silences; None (the list left out) when unreadable."""
    try:
        return alert_decisions(model, version, tracking_uri=board.tracking_uri)
    except Exception:  # an optional list never breaks the page
        return None


@blueprint.route("/models/<path:model>")
@_page_errors
def model_page(model: str) -> str:
    board = dashboard()
    rows = board.rows_of(model)
    trends = board.trends(model)
    return _trends_page(board, trends, title=model, rows=rows, version=None)


def _trends_page(
    board: Dashboard,
    trends: VersionTrends,
    *,
    title: str,
    rows: Sequence[FleetRow],
    version: str | None,
    slos: Mapping[str, object] | None = None,
    decisions: AlertDecisionsView | None = None,
) -> str:
    latest = trends.windows[-1] if trends.windows else None
    files = board.run_files(latest.run_id) if latest is not None else None
    firing_now, fired_before = trends.firing_now, trends.fired_before
    statuses = [s.points[-1].status for s in firing_now]
    charted = {s.metric for s in (*firing_now, *fired_before)}
    return render_template(
        "monitor/trends.html",
        title=title,
        model=trends.model,
        version=version,
        rows=rows,
        trends=trends,
        latest=latest,
        files=files,
        firing_now=firing_now,
        fired_before=fired_before,
        groups=_groups([s for s in trends.series if s.metric not in charted]),
        index={s.metric: i for i, s in enumerate(trends.series)},
        data=trends.to_dict(),
        latest_by_version=_latest_by_version(trends.windows),
        failing_label=_failing_label(statuses),
        no_baseline=[r for r in rows if r.health == NO_BASELINE],
        slos=slos or {},
        decisions=decisions,
    )


def _latest_by_version(windows: Sequence[WindowMark]) -> list[WindowMark]:
    """Each version's own latest window, the newest version first (versions side by side)."""
    latest: dict[str, WindowMark] = {}
    for window in windows:
        latest[window.version] = window
    return sorted(latest.values(), key=lambda w: _version_number(w.version), reverse=True)


def _version_number(version: str) -> int:
    return int(version) if version.isdigit() else -1


def _failing_label(statuses: Sequence[str | None]) -> str:
    """How the checks failing in the latest window split by status: "2 fail, 20 warn"."""
    counts = {name: statuses.count(name) for name in ("error", "fail", "warn")}
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or str(len(statuses))


def _groups(series: Sequence[TrendSeries]) -> list[tuple[str, list[TrendSeries]]]:
    grouped: dict[str, list[TrendSeries]] = {}
    for one in series:
        grouped.setdefault(_GROUPS.get(one.family, "other"), []).append(one)
    return [(name, grouped[name]) for name in _GROUP_ORDER if name in grouped]


@blueprint.route("/alerts")
@_page_errors
def alerts() -> str:
    found = dashboard().alerts()
    rows = found.rows
    quiet = sum(1 for r in rows if (r.status or r.outcome) == QUIET_ALERT)
    return render_template(
        "monitor/alerts.html", rows=rows, quiet_count=quiet, unreadable=found.unreadable
    )


@blueprint.route("/gates")
@_page_errors
def gates() -> str:
    found = dashboard().gates()
    return render_template("monitor/gates.html", records=found.rows, unreadable=found.unreadable)


# -- a run's files -----------------------------------------------------------------------------
@blueprint.route("/runs/<run_id>/artifacts/<path:path>")
@_page_errors
def artifact(run_id: str, path: str) -> Response:
    """A monitoring run's file: HTML sandboxed, a notebook as HTML (no outside script: the
    run's own HTML of it cleaned, else rendered here), text as text."""
    board = dashboard()
    if not path.lower().endswith(SERVED_TYPES):
        raise NotFound(f"{path!r} is not served here (only reports, notebooks, cards, JSON)")
    if path.endswith(".ipynb"):
        rendered = path[: -len(".ipynb")] + ".html"
        if board.has_file(run_id, rendered):  # the run logged the notebook as HTML: use that
            path = rendered
    with tempfile.TemporaryDirectory() as tmp:
        local = board.artifact(run_id, path, Path(tmp))
        if path.endswith(".ipynb"):
            return _notebook_response(local)
        if path.startswith(f"{NOTEBOOKS_DIR}/") and path.endswith(".html"):
            return _html_response(without_outside_scripts(local.read_text(encoding="utf-8")))
        return _file_response(local, path)


def _file_response(local: Path, path: str) -> Response:
    data = local.read_bytes()
    if path.endswith((".html", ".htm")):
        response = make_response(data)
        response.headers["Content-Type"] = "text/html; charset=utf-8"
    elif path.endswith(_TEXT_TYPES):
        response = make_response(data)
        response.headers["Content-Type"] = "text/plain; charset=utf-8"
    else:
        response = make_response(data)
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        response.headers["Content-Type"] = kind
        response.headers["Content-Disposition"] = f'attachment; filename="{local.name}"'
    response.headers["Content-Security-Policy"] = _ARTIFACT_CSP
    return response


def _notebook_response(local: Path) -> Response:
    """The executed notebook rendered by nbconvert (no outside script); the JSON as text when
    nbconvert is not installed."""
    try:
        body = notebook_html(local)
    except ImportError:
        return _file_response(local, local.name + ".txt")
    return _html_response(body)


def _html_response(body: str) -> Response:
    response = make_response(body)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = _ARTIFACT_CSP
    return response


@blueprint.route("/runs/<run_id>/")
@_page_errors
def run_page(run_id: str) -> str:
    """One monitoring run's files: its executed notebooks, reports, card, results, error."""
    board = dashboard()
    if board.run_ref(run_id) is None:
        raise NotFound(f"no run {run_id!r} at {board.tracking_uri}")
    files = board.run_files(run_id)
    top = board.runs.list_files(run_id, "")
    extra = [p for p in top if p.endswith((".json", ".yaml", ".yml", ".md", ".txt"))]
    return render_template("monitor/run.html", files=files, extra=extra)


@blueprint.route("/static/plotly.min.js")
def plotly_js() -> Response:
    """Plotly.js from the installed ``plotly`` package, cached by the browser for a year."""
    response = make_response(_plotly_source())
    response.headers["Content-Type"] = "application/javascript; charset=utf-8"
    response.headers["Cache-Control"] = f"public, max-age={YEAR_SECONDS}, immutable"
    return response


@functools.cache
def _plotly_source() -> bytes:
    from plotly.offline import get_plotlyjs

    source: str = get_plotlyjs()
    return source.encode()


# -- JSON for scripts --------------------------------------------------------------------------
@blueprint.route("/api/fleet")
@_api_errors
def api_fleet() -> Response:
    board = dashboard()
    rows = [r.to_dict() for r in board.fleet()]
    for row in rows:
        row["url"] = url_for(
            "monitor.version_page", model=row["model"], version=row["version"], _external=True
        )
    return jsonify(tracking_uri=board.tracking_uri, rows=rows)


@blueprint.route("/api/models/<path:model>/versions/<version>/slos")
@_api_errors
def api_slos(model: str, version: str) -> Response:
    """The version's SLOs as last judged (``monitor.slo``): SLI, budget left, burn, firing."""
    board = dashboard()
    return jsonify(recorded_slos(model, version, tracking_uri=board.tracking_uri))


@blueprint.route("/api/models/<path:model>/trends")
@_api_errors
def api_trends(model: str) -> Response:
    version = request.args.get("version") or None
    last = request.args.get("last", type=int) or 30
    return jsonify(dashboard().trends(model, version, last=last).to_dict())
