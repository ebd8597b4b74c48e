"""Workflows: attach a baseline to a model version; run one monitoring window end to end.

``run_window`` reads as its steps: validate the inputs (spec, version, baseline, window file)
before anything is created; start the MLflow run; execute the monitoring notebooks with papermill
(``monitor.ipynb``, the spec's extra notebooks, ``fairness_audit.ipynb`` when the spec has
protected attributes); log results, metrics, notebooks and reports; record the version's health;
then call the hooks of the other rooms (cards, alerts, auto-rollback), none of which can break the
run. Any failure ends the run FAILED, sets the version's health to ``error`` with the reason, and
raises one ``MonitorError`` line: nothing is left RUNNING, failure never reads as healthy.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mlflow_monitor import data
from mlflow_monitor.checks import HEALTH_ORDER, CheckOutcome, Health, MetricValue
from mlflow_monitor.errors import DataError, MonitorError, NotebookError, RegistryError
from mlflow_monitor.notebooks import NotebookParameters, run_notebook, shipped_notebook
from mlflow_monitor.registry._client import (
    TAG_BASELINE_RUN,
    TAG_HEALTH,
    TAG_HEALTH_REASON,
    TAG_WINDOW_END,
    TAG_WINDOW_START,
)
from mlflow_monitor.registry.runs import MonitorRuns, VersionState
from mlflow_monitor.spec import MonitorSpec, load_spec

__all__ = ["BaselineRun", "Echo", "WindowRun", "build_baseline_run", "run_window"]

Echo = Callable[[str], None]
_LOG = logging.getLogger("mlflow_monitor.monitor")
FAIRNESS_NOTEBOOK = "fairness_audit.ipynb"
RESULTS_FILE = "results.json"  # window.RESULTS_FILE; window (and the stats) load in the kernel


def _quiet(message: str) -> None:
    _LOG.info(message)


@dataclass(frozen=True)
class BaselineRun:
    """A baseline attached to a version: its run, and the reference rows it summarizes."""

    model: str
    version: str
    run_id: str
    rows: int
    sample_rows: int


@dataclass(frozen=True)
class WindowRun:
    """One finished monitoring run: health, window, logged metric count and the findings."""

    model: str
    version: str
    run_id: str
    health: Health
    window_start: str | None
    window_end: str
    metrics: int
    failing: tuple[str, ...]
    outcomes: tuple[CheckOutcome, ...] = ()


# -- baseline -----------------------------------------------------------------------------------


def build_baseline_run(
    spec_path: str | Path,
    version: str,
    reference_path: str | Path,
    *,
    tracking_uri: str | None = None,
    echo: Echo = _quiet,
) -> BaselineRun:
    """Build the baseline from reference data and attach it to ``model``/``version``.

    Logs a ``monitor.kind=baseline`` run (``baseline/``, ``notebooks/baseline.ipynb``, the spec)
    and points the version tag ``monitor.baseline_run_id`` at it; an older baseline run is kept.
    """
    spec = load_spec(spec_path)
    runs = MonitorRuns(tracking_uri)
    runs.version(spec.model, version)
    data.validate_data(spec, reference_path, what="reference")
    echo(f"[baseline] profiling {reference_path}")
    from mlflow_monitor.baseline import build_baseline

    baseline = build_baseline(spec, reference_path)
    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-") as tmp:
        work = Path(tmp)
        folder = baseline.save(work / "baseline")
        run_id = runs.start_run(
            spec.model, version, kind="baseline", run_name=f"baseline v{version}", tags={}
        )
        echo(f"[baseline] run {run_id}: executing baseline.ipynb")
        try:
            params = {
                "spec_path": str(Path(spec_path).resolve()),
                "model_version": str(version),
                "baseline_dir": str(folder),
                "output_dir": str(work / "out"),
            }
            run_notebook(
                shipped_notebook("baseline.ipynb"),
                work / "notebooks" / "baseline.ipynb",
                params,
                timeout_seconds=spec.notebooks.timeout_seconds,
                cwd=work,
            )
            runs.log_params(
                run_id,
                {"reference_path": str(reference_path), "reference_rows": str(baseline.rows)},
            )
            perf = baseline.performance.metrics if baseline.performance else {}
            runs.log_metrics(
                run_id, [MetricValue(f"perf/{k}", v) for k, v in perf.items()], _now_ms()
            )
            runs.log_artifacts(run_id, folder, "baseline")
            runs.log_artifacts(run_id, work / "notebooks", "notebooks")
            runs.log_file(run_id, _spec_copy(spec_path, work))
            runs.end_run(run_id, "FINISHED")
        except MonitorError as exc:
            _end_failed(runs, run_id, str(exc))
            raise
        runs.set_version_tags(spec.model, version, {TAG_BASELINE_RUN: run_id})
    echo(f"[baseline] attached run {run_id} to {spec.model} version {version}")
    _refresh_card(
        spec, version, run_id, runs.tracking_uri, echo, card_dir=Path(spec_path).resolve().parent
    )
    return BaselineRun(spec.model, str(version), run_id, baseline.rows, len(baseline.sample))


# -- one window ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Inputs:
    spec: MonitorSpec
    spec_path: Path
    state: VersionState
    current: Path
    start: datetime | None
    end: datetime | None
    notebooks: tuple[Path, ...]


def run_window(
    spec_path: str | Path,
    version: str,
    current_path: str | Path,
    *,
    tracking_uri: str | None = None,
    window_start: datetime | str | None = None,
    window_end: datetime | str | None = None,
    echo: Echo = _quiet,
) -> WindowRun:
    """Monitor one window of ``model``/``version``; see the module docstring for the steps."""
    from mlflow_monitor.kernels import warm_kernel
    from mlflow_monitor.reports import report_worker

    # Evidently loads in a child and the kernel imports the statistics while MLflow starts
    with report_worker(), warm_kernel(shipped_notebook("monitor.ipynb")):
        return _run_window(
            spec_path, version, current_path, tracking_uri, window_start, window_end, echo
        )


def _run_window(
    spec_path: str | Path,
    version: str,
    current_path: str | Path,
    tracking_uri: str | None,
    window_start: datetime | str | None,
    window_end: datetime | str | None,
    echo: Echo,
) -> WindowRun:
    spec = load_spec(spec_path)
    runs = MonitorRuns(tracking_uri)
    state = runs.version(spec.model, version)
    try:
        inputs = _validate(spec, Path(spec_path), state, current_path, window_start, window_end)
    except MonitorError as exc:
        _record_error(runs, spec, str(version), None, str(exc), window_start, window_end, echo)
        raise
    _finish_abandoned(runs, spec.model, str(version), echo)
    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-") as tmp:
        run_id = runs.start_run(
            spec.model,
            version,
            kind="window",
            run_name=_run_name(version, inputs.end),
            tags=_window_tags(inputs),
        )
        echo(f"[run] {spec.model} v{version}: run {run_id}")
        try:
            result = _execute_and_log(runs, inputs, run_id, Path(tmp), echo)
        except MonitorError as exc:
            _record_error(
                runs, spec, str(version), run_id, str(exc), window_start, window_end, echo
            )
            raise
        except Exception as exc:  # an unexpected bug must still end the run FAILED
            reason = f"{type(exc).__name__}: {exc}"
            _record_error(runs, spec, str(version), run_id, reason, window_start, window_end, echo)
            raise MonitorError(f"monitoring run failed: {reason}") from exc
        except KeyboardInterrupt:  # Ctrl-C: still nothing left RUNNING
            _record_error(
                runs, spec, str(version), run_id, "interrupted", window_start, window_end, echo
            )
            raise
    _after_window(runs, spec, result, echo, card_dir=Path(spec_path).resolve().parent)
    return result


def _validate(
    spec: MonitorSpec,
    spec_path: Path,
    state: VersionState,
    current_path: str | Path,
    window_start: datetime | str | None,
    window_end: datetime | str | None,
) -> _Inputs:
    """Everything that can be checked before a run exists; errors name the file or key."""
    if not state.baseline_run_id:
        raise RegistryError(
            f"model version {state.model}/{state.version} has no baseline: "
            "run `mlflow-monitor baseline` first"
        )
    info = data.validate_data(spec, current_path)
    start = _as_time(window_start, "window-start")
    end = _as_time(window_end, "window-end")
    if start and end and start >= end:
        raise DataError(f"--window-start {data.iso(start)} is not before --window-end")
    return _Inputs(
        spec,
        spec_path.resolve(),
        state,
        info.path.resolve(),
        start,
        end,
        _notebooks(spec, spec_path),
    )


def _notebooks(spec: MonitorSpec, spec_path: Path) -> tuple[Path, ...]:
    """monitor.ipynb, then the spec's extra notebooks (relative to the spec), then fairness."""
    found = [shipped_notebook("monitor.ipynb")]
    for extra in spec.notebooks.extra:
        path = Path(extra) if Path(extra).is_absolute() else spec_path.parent / extra
        if not path.is_file():
            raise NotebookError(f"{extra}: notebook not found (notebooks.extra)")
        found.append(path.resolve())
    fairness = shipped_notebook(FAIRNESS_NOTEBOOK)
    if spec.columns.protected and fairness.is_file():
        found.append(fairness)
    names = [p.name for p in found]
    if len(set(names)) != len(names):
        raise NotebookError(f"notebooks.extra: two notebooks are named alike ({names})")
    return tuple(found)


def _execute_and_log(
    runs: MonitorRuns, inputs: _Inputs, run_id: str, work: Path, echo: Echo
) -> WindowRun:
    spec, version = inputs.spec, inputs.state.version
    baseline_dir = runs.download(inputs.state.baseline_run_id or "", "baseline", work)
    out = work / "out"
    params = NotebookParameters(
        spec_path=str(inputs.spec_path),
        model_version=version,
        current_path=str(inputs.current),
        baseline_dir=str(baseline_dir),
        window_start=_iso_or_empty(inputs.start),
        window_end=_iso_or_empty(inputs.end),
        output_dir=str(out),
        history_path=_history(runs, spec, version, work),
    )
    for notebook in inputs.notebooks:
        echo(f"[run] executing {notebook.name}")
        run_notebook(
            notebook,
            out / "notebooks" / notebook.name,
            params,
            timeout_seconds=spec.notebooks.timeout_seconds,
            cwd=work,
        )
    results = _read_results(out / RESULTS_FILE)
    echo(f"[run] logging {len(results.metrics)} metrics and artifacts to MLflow")
    runs.log_metrics(run_id, results.metrics, _ms(results.window_end))
    runs.log_file(run_id, out / RESULTS_FILE)
    for folder in ("notebooks", "reports"):
        if (out / folder).is_dir():
            runs.log_artifacts(run_id, out / folder, folder)
    for extra in sorted(p for p in out.iterdir() if p.is_file() and p.name != RESULTS_FILE):
        runs.log_file(run_id, extra)
    runs.log_file(run_id, _spec_copy(inputs.spec_path, work))
    tags = {TAG_HEALTH: results.health, TAG_WINDOW_END: results.window_end}
    if results.window_start:
        tags[TAG_WINDOW_START] = results.window_start
    runs.set_run_tags(run_id, tags)
    runs.set_health(spec.model, version, results.health, run_id)
    runs.end_run(run_id, "FINISHED")
    return WindowRun(
        spec.model,
        version,
        run_id,
        results.health,
        results.window_start,
        results.window_end,
        len(results.metrics),
        results.failing,
        results.outcomes,
    )


@dataclass(frozen=True)
class _Results:
    health: Health
    window_start: str | None
    window_end: str
    metrics: tuple[MetricValue, ...]
    failing: tuple[str, ...]
    outcomes: tuple[CheckOutcome, ...]


def _read_results(path: Path) -> _Results:
    """The part of ``results.json`` the workflow needs (the notebook wrote the whole of it)."""
    if not path.is_file():
        raise NotebookError("monitor.ipynb: produced no results.json")
    from mlflow_monitor.results_json import outcomes_from_results

    body = json.loads(path.read_text())
    metrics = tuple(MetricValue(str(k), float(v)) for k, v in body["metrics"].items())
    outcomes = tuple(outcomes_from_results(body))
    failing = tuple(f"{o.check_id} ({o.status})" for o in outcomes if o.firing)
    health = str(body["health"])
    if health not in HEALTH_ORDER:
        raise NotebookError(f"monitor.ipynb: results.json has an unknown health {health!r}")
    return _Results(
        health,  # type: ignore[arg-type]
        body.get("window_start"),
        str(body["window_end"]),
        metrics,
        failing,
        outcomes,
    )


def _history(runs: MonitorRuns, spec: MonitorSpec, version: str, work: Path) -> str:
    """Past values of the metrics whose checks use history, as a file for the notebook."""
    # The task's default checks have no history: only the spec's own checks can ask for it.
    names = [f"perf/{c.metric}" for c in spec.performance.checks if c.history is not None]
    if not names:
        return ""
    from mlflow_monitor.registry.history import metric_history
    from mlflow_monitor.window import write_history

    past = metric_history(spec.model, version, names, tracking_uri=runs.tracking_uri)
    return str(write_history(past, work / "history.json"))


# -- failure bookkeeping ------------------------------------------------------------------------


def _record_error(
    runs: MonitorRuns,
    spec: MonitorSpec,
    version: str,
    run_id: str | None,
    reason: str,
    window_start: object,
    window_end: object,
    echo: Echo,
) -> None:
    """End the run FAILED, set health ``error`` with the reason, alert; never raises."""
    line = (reason.strip().splitlines() or ["unknown error"])[0]
    if run_id:
        _end_failed(runs, run_id, line)
    try:
        runs.set_health(spec.model, version, "error", run_id, reason=line)
    except MonitorError as exc:
        echo(f"[run] could not record health 'error' on the version: {exc}")
    _notify_failure(spec, version, run_id, line, window_start, window_end, runs.tracking_uri, echo)


def _end_failed(runs: MonitorRuns, run_id: str, reason: str) -> None:
    with contextlib.suppress(MonitorError):
        runs.set_run_tags(run_id, {TAG_HEALTH: "error", TAG_HEALTH_REASON: reason})
    try:
        runs.end_run(run_id, "FAILED")
    except MonitorError:
        _LOG.warning("run %s could not be ended FAILED now; the next run will do it", run_id)


def _finish_abandoned(runs: MonitorRuns, model: str, version: str, echo: Echo) -> None:
    for run_id in runs.fail_abandoned_runs(model, version):
        echo(f"[run] ended abandoned run {run_id} FAILED (its process is gone)")


# -- hooks of other rooms: each optional, none may break the run --------------------------------


def _after_window(
    runs: MonitorRuns,
    spec: MonitorSpec,
    result: WindowRun,
    echo: Echo,
    *,
    card_dir: Path | None = None,
) -> None:
    """Cards refresh, alert dispatch (``alerts.json`` on the run), auto-rollback (alerted)."""
    echo(f"[run] health {result.health}: refreshing the model card, alerts, alias gates")
    _refresh_card(spec, result.version, result.run_id, runs.tracking_uri, echo, card_dir=card_dir)
    _dispatch_alerts(runs, spec, result, echo)
    _auto_rollback(runs, spec, result, echo)
    echo("[run] done")


def _hook(module: str, name: str) -> Callable[..., object] | None:
    import importlib

    try:
        found = getattr(importlib.import_module(f"mlflow_monitor.{module}"), name, None)
    except ImportError:
        return None
    return found if callable(found) else None


def _refresh_card(
    spec: MonitorSpec,
    version: str,
    run_id: str,
    tracking_uri: str,
    echo: Echo,
    *,
    card_dir: Path | None = None,
) -> None:
    refresh = _hook("cards", "refresh_card")
    if refresh is None:
        return
    try:
        refresh(
            spec, spec.model, str(version), run_id, tracking_uri=tracking_uri, card_dir=card_dir
        )  # a relative `card:` is read beside the spec
    except Exception as exc:  # a card problem never fails monitoring
        echo(f"[run] model card not refreshed: {type(exc).__name__}: {exc}")


def _dispatch_alerts(runs: MonitorRuns, spec: MonitorSpec, result: WindowRun, echo: Echo) -> None:
    dispatch = _hook("alerts", "dispatch")
    if dispatch is None:
        return
    try:
        from mlflow_monitor.alerts import RunEvent, run_url

        link = run_url(
            runs.tracking_uri, runs.experiment_id(spec.model), result.run_id, spec.alerts.mlflow_url
        )
        event = RunEvent(
            spec.model,
            result.version,
            result.run_id,
            link,
            result.window_start or result.window_end,
            result.window_end,
            result.health,
            result.outcomes,
        )
        report = dispatch(spec, event, tracking_uri=runs.tracking_uri)
        _log_json(runs, result.run_id, "alerts.json", report.to_dict())  # type: ignore[attr-defined]
    except Exception as exc:
        echo(f"[run] alerts not dispatched: {type(exc).__name__}: {exc}")


def _notify_failure(
    spec: MonitorSpec,
    version: str,
    run_id: str | None,
    reason: str,
    window_start: object,
    window_end: object,
    tracking_uri: str,
    echo: Echo,
) -> None:
    notify = _hook("alerts", "notify_failure")
    if notify is None:
        return
    try:
        start = window_start if window_start is not None else ""
        end = window_end if window_end is not None else data.iso(datetime.now(timezone.utc))
        notify(spec, spec.model, version, run_id, reason, start, end, tracking_uri)
    except Exception as exc:
        echo(f"[run] failure alert not sent: {type(exc).__name__}: {exc}")


def _auto_rollback(runs: MonitorRuns, spec: MonitorSpec, result: WindowRun, echo: Echo) -> None:
    """Move auto-rollback aliases off a critical version; alert it (``rollback_alerts.json``)."""
    rollback = _hook("gate", "auto_rollback")
    if rollback is None or result.health != "critical":
        return
    try:
        done = rollback(
            spec, spec.model, result.version, result.health, tracking_uri=runs.tracking_uri
        )
        if done is None:
            return
        message = str(getattr(done, "message", ""))
        echo(f"[run] auto-rollback: {message}")
        _notify_rollback(runs, spec, result, message, bool(getattr(done, "moved", False)), echo)
    except Exception as exc:
        echo(f"[run] auto-rollback not done: {type(exc).__name__}: {exc}")


def _notify_rollback(
    runs: MonitorRuns, spec: MonitorSpec, result: WindowRun, message: str, moved: bool, echo: Echo
) -> None:
    notify = _hook("alerts", "notify_rollback")
    if notify is None:
        return
    try:
        report = notify(
            spec,
            spec.model,
            result.version,
            result.run_id,
            message,
            moved,
            tracking_uri=runs.tracking_uri,
            window_start=result.window_start or "",
            window_end=result.window_end,
        )
        _log_json(runs, result.run_id, "rollback_alerts.json", report.to_dict())  # type: ignore[attr-defined]
    except Exception as exc:
        echo(f"[run] rollback alert not sent: {type(exc).__name__}: {exc}")


def _log_json(runs: MonitorRuns, run_id: str, name: str, body: object) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(json.dumps(body, indent=1, default=str))
        runs.log_file(run_id, path)


# -- small helpers ------------------------------------------------------------------------------


def _spec_copy(spec_path: str | Path, work: Path) -> Path:
    """The spec file as written (secrets still ``${ENV}``), named ``monitor.yaml``."""
    target = work / "spec" / "monitor.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(spec_path, target)
    return target


def _as_time(value: datetime | str | None, name: str) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return data.parse_time(value, name)


def _iso_or_empty(value: datetime | None) -> str:
    return data.iso(value) if value else ""


def _window_tags(inputs: _Inputs) -> dict[str, str]:
    tags = {}
    if inputs.start:
        tags[TAG_WINDOW_START] = data.iso(inputs.start)
    if inputs.end:
        tags[TAG_WINDOW_END] = data.iso(inputs.end)
    return tags


def _run_name(version: str, end: datetime | None) -> str:
    return f"window v{version} {data.iso(end) if end else 'latest'}"


def _ms(iso_text: str) -> int:
    moment = datetime.fromisoformat(iso_text.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


def _now_ms() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1000)
