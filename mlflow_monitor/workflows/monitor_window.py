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

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns, VersionState
from mlflow_monitor.adapters.notebook_parameters import NotebookParameters, write_history
from mlflow_monitor.adapters.notebooks.execute import (
    run_notebook,
    shipped_notebook,
)
from mlflow_monitor.adapters.notebooks.kernels import window_kernel
from mlflow_monitor.adapters.sources import files as data
from mlflow_monitor.contract import (
    CARD_HTML_FILE,
    CARD_MARKDOWN_FILE,
    ERROR_FILE,
    KIND_WINDOW,
    NOTEBOOKS_DIR,
    OUTCOME_COLUMNS,
    REPORTS_DIR,
    RESULTS_FILE,
    SOURCE_FILE,
    SPEC_FILE,
    TAG_COMPARE,
    TAG_HEALTH,
    TAG_PARTIAL,
    TAG_RUN_NOTE,
    TAG_SOURCE,
    TAG_SUPERSEDED_BY,
    TAG_TOP_FINDING,
    TAG_WINDOW_END,
    TAG_WINDOW_START,
    TOP_FINDING_CHARS,
    CheckOutcome,
    Health,
    WindowResults,
    parse_utc,
    read_results,
    utc_now,
    utc_text,
)
from mlflow_monitor.errors import DataError, MonitorError, NotebookError, RegistryError
from mlflow_monitor.spec import MonitorSpec, load_spec
from mlflow_monitor.verdicts.alert_plan import RunEvent
from mlflow_monitor.verdicts.promotion import judged_summary
from mlflow_monitor.verdicts.root_cause import headline
from mlflow_monitor.views.run_note import NoteLinks, failed_window_note, window_note
from mlflow_monitor.workflows import WINDOW_PRELOAD
from mlflow_monitor.workflows.dispatch_alerts import (
    dispatch,
    failure_lines,
    notify_failure,
    notify_rollback,
    run_url,
)
from mlflow_monitor.workflows.promote import auto_rollback
from mlflow_monitor.workflows.run_steps import (
    Echo,
    end_failed,
    heartbeat,
    note_artifacts,
    quiet,
    refresh_card_quietly,
    render_notebooks_html,
    spec_copy,
)
from mlflow_monitor.workflows.version_state import settle_version, superseded_note

if TYPE_CHECKING:
    import pandas as pd

    from mlflow_monitor.adapters.sources.locations import StagedSource

__all__ = ["Echo", "WindowRun", "WindowSource", "run_window", "window_resources"]

_LOG = logging.getLogger("mlflow_monitor.workflows.monitor_window")
FAIRNESS_NOTEBOOK = "fairness_audit.ipynb"
HISTORY_FILE = "history.json"


@dataclass(frozen=True)
class WindowRun:
    """One finished monitoring run: health, window, logged metric count and the findings.

    ``results`` is the run's ``results.json`` as logged; in Jupyter the run renders inline
    (``_repr_html_``) and exports ``to_dict()`` / ``to_frame()`` (one row per check).
    """

    model: str
    version: str
    run_id: str
    health: Health
    window_start: str | None
    window_end: str
    metrics: int
    failing: tuple[str, ...]
    outcomes: tuple[CheckOutcome, ...] = ()
    is_verdict: bool = True  # the version's state now follows this run (latest window)
    verdict_run_id: str | None = None
    results: WindowResults | None = None

    def __repr__(self) -> str:
        return (
            f"WindowRun(model={self.model!r}, version={self.version!r}, run_id={self.run_id!r}, "
            f"window_end={self.window_end!r}, health={self.health!r}, "
            f"findings={len(self.failing)}, is_verdict={self.is_verdict})"
        )

    def to_dict(self) -> dict[str, object]:
        """The run's facts and its ``results.json`` body (``results``)."""
        return {
            "model": self.model,
            "version": self.version,
            "run_id": self.run_id,
            "health": self.health,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "metrics": self.metrics,
            "failing": list(self.failing),
            "is_verdict": self.is_verdict,
            "verdict_run_id": self.verdict_run_id,
            "results": self.results.to_dict() if self.results else None,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per check, findings first (``WindowResults.to_frame``)."""
        import pandas as pd

        if self.results is not None:
            return self.results.to_frame()
        return pd.DataFrame(columns=list(OUTCOME_COLUMNS))

    def _repr_html_(self) -> str:
        from mlflow_monitor.views import window_html

        verdict = "yes" if self.is_verdict else f"no (the verdict is run {self.verdict_run_id})"
        facts = [("run", self.run_id), ("the version's verdict", verdict)]
        body = self.results.to_dict() if self.results else self._bare_results()
        return window_html(body, title=f"{self.model} v{self.version}", facts=facts)

    def _bare_results(self) -> dict[str, object]:
        return {
            "model": self.model,
            "model_version": self.version,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "health": self.health,
            "outcomes": [o.to_dict() for o in self.outcomes],
        }


# -- one window ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    source: WindowSource
    window_start: datetime | str | None
    window_end: datetime | str | None
    compare: str | None


@dataclass(frozen=True)
class _Model:
    """A registered model downloaded for the notebook to score with."""

    uri: str
    version: str
    folder: Path
    named: str = ""  # how the command named it (``@champion``)


@dataclass(frozen=True)
class _Inputs:
    spec: MonitorSpec
    spec_path: Path
    state: VersionState
    current: Path
    start: datetime | None
    end: datetime | None
    notebooks: tuple[Path, ...]
    staged: StagedSource | None = None
    own_model: _Model | None = None
    other_model: _Model | None = None


@dataclass(frozen=True)
class WindowSource:
    """Where a window's rows come from: a path or URL, and the SQL query for a database."""

    location: str | Path
    query: str | None = None


def run_window(
    spec_path: str | Path,
    version: str,
    current_path: str | Path | WindowSource,
    *,
    tracking_uri: str | None = None,
    window_start: datetime | str | None = None,
    window_end: datetime | str | None = None,
    compare: str | None = None,
    echo: Echo = quiet,
    resources: AbstractContextManager[object] | None = None,
) -> WindowRun:
    """Monitor one window of ``model``/``version``; see the module docstring for the steps.

    ``current_path``: a file, an object-store URL, or a ``WindowSource`` (a database URL with
    its query). ``compare``: another version (``@champion`` or a number) scored on the same
    rows for a shadow comparison. ``resources``: what the notebooks run with, entered around
    the window; None starts them for this window (``window_resources``: the Evidently report
    child and a warm kernel); a fleet worker passes its long-lived ones (``fleet_worker``).
    """
    source = current_path if isinstance(current_path, WindowSource) else WindowSource(current_path)
    with resources if resources is not None else window_resources():
        return _run_window(
            spec_path, version, source, tracking_uri, window_start, window_end, compare, echo
        )


@contextmanager
def window_resources() -> Iterator[None]:
    """A report child and a warm ``monitor.ipynb`` kernel for one window (no-ops when nested).

    Evidently loads in the child and the kernel imports the statistics while MLflow starts.
    """
    from mlflow_monitor.adapters.evidently_reports import report_worker
    from mlflow_monitor.adapters.notebooks.kernels import warm_kernel

    with report_worker(), warm_kernel(shipped_notebook("monitor.ipynb"), preload=WINDOW_PRELOAD):
        yield


def _run_window(
    spec_path: str | Path,
    version: str,
    source: WindowSource,
    tracking_uri: str | None,
    window_start: datetime | str | None,
    window_end: datetime | str | None,
    compare: str | None,
    echo: Echo,
) -> WindowRun:
    spec = load_spec(spec_path)
    spec.require_model(str(spec_path))
    runs = MonitorRuns(tracking_uri)
    state = runs.version(spec.model, version)
    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-") as tmp:
        # bad input is found before anything is created, and changes nothing (no run, no tags)
        request = _Request(source, window_start, window_end, compare)
        inputs = _validate(runs, spec, Path(spec_path), state, request, Path(tmp), echo)
        _finish_abandoned(runs, spec.model, str(version), echo)
        if state.legacy_error:
            _migrate_legacy_error(runs, state, echo)
        started_at = utc_text(utc_now(), precise=True)
        run_id = runs.start_run(
            spec.model,
            version,
            kind=KIND_WINDOW,
            run_name=_run_name(version, _text_or_none(inputs.start), _text_or_none(inputs.end)),
            tags=_window_tags(inputs),
        )
        echo(f"[run] {spec.model} v{version}: run {run_id}")
        try:
            with heartbeat(runs, run_id):
                result, links = _execute_and_log(runs, inputs, run_id, Path(tmp), echo)
        except MonitorError as exc:
            failure = _Failure(str(version), run_id, str(exc), window_start, window_end)
            _record_error(runs, spec, failure, echo, work=Path(tmp), error=exc)
            raise
        except Exception as exc:  # an unexpected bug must still end the run FAILED
            reason = f"{type(exc).__name__}: {exc}"
            failure = _Failure(str(version), run_id, reason, window_start, window_end)
            _record_error(runs, spec, failure, echo, work=Path(tmp), error=exc)
            raise MonitorError(f"monitoring run failed: {reason}") from exc
        except KeyboardInterrupt:  # Ctrl-C: still nothing left RUNNING
            failure = _Failure(str(version), run_id, "interrupted", window_start, window_end)
            _record_error(runs, spec, failure, echo, work=Path(tmp))
            raise
    result = _settle(runs, spec, result, started_at, echo)
    _after_window(runs, spec, result, links, echo, card_dir=Path(spec_path).resolve().parent)
    return result


def _migrate_legacy_error(runs: MonitorRuns, state: VersionState, echo: Echo) -> None:
    """A store of an earlier release kept a failure as health ``error``: bring it to the rules.

    The verdict comes back from the window runs, the failure goes beside it.
    """
    if settle_version(runs, state.model, state.version).verdict is None:
        runs.clear_health(state.model, state.version)
    runs.record_error(state.model, state.version, state.last_error_run_id, state.last_error or "")
    echo(f"[run] health 'error' of an earlier release moved to monitor.last_error ({state.model})")


def _settle(
    runs: MonitorRuns, spec: MonitorSpec, result: WindowRun, started_at: str, echo: Echo
) -> WindowRun:
    """The version's state from its windows; a failure recorded before this run is history."""
    settled = settle_version(runs, spec.model, result.version)
    verdict = settled.verdict
    state = runs.version(spec.model, result.version)
    if state.last_error_at and state.last_error_at < started_at:
        runs.clear_error(spec.model, result.version)
    is_verdict = verdict is not None and verdict.run_id == result.run_id
    if not is_verdict:
        why = (
            f"superseded by run {settled.superseded[result.run_id]}"
            if result.run_id in settled.superseded
            else f"the version's verdict is the later window ending {state.window_end}"
        )
        echo(f"[run] window {result.window_end}: {why}; version state and alerts unchanged")
    return replace(
        result, is_verdict=is_verdict, verdict_run_id=verdict.run_id if verdict else None
    )


def _validate(
    runs: MonitorRuns,
    spec: MonitorSpec,
    spec_path: Path,
    state: VersionState,
    request: _Request,
    work: Path,
    echo: Echo,
) -> _Inputs:
    """Everything that can be checked before a run exists; errors name the file or key.

    A remote source is staged into ``work`` first; the models that will score the window
    (the version's own when outputs are missing, the ``--compare`` version) are downloaded and
    checked against the window's columns.
    """
    from mlflow_monitor.workflows import preflight

    if not state.baseline_run_id:
        raise RegistryError(
            f"model version {state.model}/{state.version} has no baseline: "
            "run `mlflow-monitor baseline` first"
        )
    if not runs.run_is_active(state.baseline_run_id):
        raise RegistryError(
            f"model version {state.model}/{state.version}: its baseline run "
            f"{state.baseline_run_id} was deleted; run `mlflow-monitor baseline` again"
        )
    start = _as_time(request.window_start, "window-start")
    end = _as_time(request.window_end, "window-end")
    if start and end and start >= end:
        raise DataError(f"--window-start {utc_text(start)} is not before --window-end")
    staged = _stage(request.source, work, start, end, echo)
    scoring = spec.scoring.when != "never"
    # every column the spec names, from the schema (the outputs, when the monitor can score)
    info = data.validate_data(spec, staged.path, outputs_optional=scoring)
    notebooks = _notebooks(spec, spec_path)
    own = _own_model(runs, spec, state, info, work, echo) if scoring else None
    other = _other_model(runs, spec, state, info, request.compare, work, echo)
    # policy packs, reference groups against the baseline's fairness, the score's range
    preflight.check_window(runs, spec, state.baseline_run_id, info)
    return _Inputs(
        spec,
        spec_path.resolve(),
        state,
        info.path.resolve(),
        start,
        end,
        notebooks,
        staged,
        own,
        other,
    )


def _stage(
    source: WindowSource, work: Path, start: datetime | None, end: datetime | None, echo: Echo
) -> StagedSource:
    """A local file for the window: the file itself, or a copy of a remote or SQL source."""
    from mlflow_monitor.adapters.sources.locations import stage_source

    # no progress line before it succeeds: bad input prints its one error line only
    for name, value in (("window_start", start), ("window_end", end)):
        if source.query and f":{name}" in source.query and value is None:
            option = name.replace("_", "-")
            raise DataError(f"--query uses :{name}: give --{option} (or --latest)")
    staged = stage_source(
        source.location,
        work=work / "source",
        query=source.query,
        params={"window_start": start, "window_end": end},
        what="--current",
    )
    if staged.staged:
        rows = f"{staged.rows:,} rows, " if staged.rows is not None else ""
        echo(f"[run] staged {staged.location} ({rows}{staged.seconds:.1f} s)")
    return staged


def _own_model(
    runs: MonitorRuns,
    spec: MonitorSpec,
    state: VersionState,
    info: data.DataInfo,
    work: Path,
    echo: Echo,
) -> _Model | None:
    """The version's own model, when some of the window's rows lack its output."""
    missing = data.missing_output_rows(spec, info)
    if spec.scoring.when != "always" and missing == 0:
        return None
    uri = f"models:/{state.model}/{state.version}"
    why = "scoring.when: always" if spec.scoring.when == "always" else "outputs missing"
    echo(f"[run] {why}: downloading {uri} to score the window")
    return _download(runs, spec, uri, state.version, info, work / "model", named="")


def _other_model(
    runs: MonitorRuns,
    spec: MonitorSpec,
    state: VersionState,
    info: data.DataInfo,
    compare: str | None,
    work: Path,
    echo: Echo,
) -> _Model | None:
    """The ``--compare`` version (``@alias`` or a number), downloaded; never the version itself."""
    if not compare:
        return None
    from mlflow_monitor.adapters.mlflow.models import resolve_version

    named = compare if compare.startswith("@") else compare.lstrip("v")
    if not named.startswith("@") and not named.isdigit():
        raise DataError(f"--compare {compare}: give an alias as @{compare} or a version number")
    version = resolve_version(state.model, named, tracking_uri=runs.tracking_uri)
    if version == state.version:
        raise DataError(
            f"--compare {compare}: that is version {version}, the version being monitored; "
            "compare it with another version"
        )
    uri = f"models:/{state.model}/{version}"
    echo(f"[run] --compare {compare}: downloading {uri}")
    return _download(runs, spec, uri, version, info, work / "compare", named=named)


def _download(
    runs: MonitorRuns,
    spec: MonitorSpec,
    uri: str,
    version: str,
    info: data.DataInfo,
    folder: Path,
    *,
    named: str,
) -> _Model:
    from mlflow_monitor.adapters.mlflow.scoring import check_scorable, download_model

    local = download_model(uri, tracking_uri=runs.tracking_uri, dst=folder)
    check_scorable(spec, columns=list(info.columns), model_dir=local, source=info.path.name)
    return _Model(uri, version, local, named)


def _notebooks(spec: MonitorSpec, spec_path: Path) -> tuple[Path, ...]:
    """monitor.ipynb, then the spec's extra notebooks (in the spec's folder), then fairness.

    An extra notebook must stay in the spec's folder (``SpecError``) and be notebook JSON: a
    file that is not is refused here, before any run, by its name only. Papermill's own error
    (nbformat's ``NotJSONError``) quotes the file's first bytes, which would reach the run's
    tags, ``monitor.health_reason`` and the failure alert.
    """
    from mlflow_monitor.spec import resolve_spec_path

    found = [shipped_notebook("monitor.ipynb")]
    for extra in spec.notebooks.extra:
        path = resolve_spec_path(extra, folder=spec_path.parent, key="notebooks.extra")
        if not path.is_file():
            raise NotebookError(f"{extra}: notebook not found (notebooks.extra)")
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise NotebookError(f"{path.name}: cannot be read ({exc.strerror})") from None
        try:
            notebook = json.loads(raw)
        except ValueError:  # not JSON, or not text: no detail, it would quote the bytes
            notebook = None
        if not isinstance(notebook, dict) or not isinstance(notebook.get("nbformat"), int):
            raise NotebookError(f"{path.name}: not a Jupyter notebook (notebooks.extra)")
        found.append(path)
    fairness = shipped_notebook(FAIRNESS_NOTEBOOK)
    if spec.columns.protected and fairness.is_file():
        found.append(fairness)
    names = [p.name for p in found]
    if len(set(names)) != len(names):
        raise NotebookError(f"notebooks.extra: two notebooks are named alike ({names})")
    return tuple(found)


def _execute_and_log(
    runs: MonitorRuns, inputs: _Inputs, run_id: str, work: Path, echo: Echo
) -> tuple[WindowRun, NoteLinks]:
    """Run the notebooks, log what they wrote, describe and end the run FINISHED.

    Returns the run and the links of its description (the card joins them once refreshed).
    """
    spec, version = inputs.spec, inputs.state.version
    baseline_dir = runs.download(inputs.state.baseline_run_id or "", "baseline", work)
    out = work / "out"
    from mlflow_monitor.workflows.notebook_trends import write_notebook_trends

    params = NotebookParameters(
        spec_path=str(inputs.spec_path),
        model_version=version,
        current_path=str(inputs.current),
        baseline_dir=str(baseline_dir),
        window_start=_iso_or_empty(inputs.start),
        window_end=_iso_or_empty(inputs.end),
        output_dir=str(out),
        history_path=_history(runs, spec, version, work),
        trends_path=write_notebook_trends(
            spec.model,
            version,
            work,
            tracking_uri=runs.tracking_uri,
            window_start=inputs.start,
            window_end=inputs.end,
        ),
        **_model_parameters(inputs),
    )
    _log_source(runs, run_id, inputs)
    with window_kernel():  # fairness_audit.ipynb runs in monitor.ipynb's kernel, this window's
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
    render_notebooks_html(out / NOTEBOOKS_DIR, echo)
    echo(f"[run] logging {len(results.metrics)} metrics and artifacts to MLflow")
    runs.log_metrics(run_id, results.metrics, _ms(results.window_end))
    runs.log_file(run_id, out / RESULTS_FILE)
    for folder in ("notebooks", "reports", "plots"):
        if (out / folder).is_dir():
            runs.log_artifacts(run_id, out / folder, folder)
    for extra in sorted(p for p in out.iterdir() if p.is_file() and p.name != RESULTS_FILE):
        runs.log_file(run_id, extra)
    runs.log_file(run_id, spec_copy(inputs.spec_path, work))
    links = _note_links(runs, inputs, run_id, out)
    runs.set_run_tags(run_id, {**_result_tags(results), TAG_RUN_NOTE: _note(results, links)})
    _rename_to_window(runs, run_id, version, inputs, results)
    runs.end_run(run_id, "FINISHED")
    window_run = WindowRun(
        spec.model,
        version,
        run_id,
        results.health,
        results.window_start,
        results.window_end,
        len(results.metrics),
        tuple(f"{o.check_id} ({o.status})" for o in results.findings),
        results.outcomes,
        results=results,
    )
    return window_run, links


# -- how the run reads in MLflow's UI: name, tags, description ----------------------------------


def _result_tags(results: WindowResults) -> dict[str, str]:
    """Health, window, top finding (``root_cause.headline``) and partiality of the run."""
    tags = {
        TAG_HEALTH: results.health,
        TAG_WINDOW_END: results.window_end,
        TAG_TOP_FINDING: _top_finding(results),
        TAG_PARTIAL: "true" if results.partial else "",
    }
    if results.window_start:
        tags[TAG_WINDOW_START] = results.window_start
    return tags


def _top_finding(results: WindowResults) -> str:
    return headline(results.outcomes, width=TOP_FINDING_CHARS)


def _note(results: WindowResults, links: NoteLinks) -> str:
    """The run's Markdown description (``views.run_note.window_note``)."""
    summary = judged_summary(results.outcomes).text()
    found = [o.to_dict() for o in results.findings]
    return window_note(results.to_dict(), summary=summary, links=links, findings=found)


def _note_links(runs: MonitorRuns, inputs: _Inputs, run_id: str, out: Path) -> NoteLinks:
    """The artifacts logged from ``out`` (and the spec), and the baseline run, for the note."""
    files = tuple(p.name for p in sorted(out.iterdir()) if p.is_file())
    return NoteLinks(
        experiment_id=runs.experiment_id(inputs.spec.model),
        run_id=run_id,
        artifacts=(*note_artifacts(out, (NOTEBOOKS_DIR, REPORTS_DIR)), *files, SPEC_FILE),
        baseline_run_id=inputs.state.baseline_run_id,
    )


def _rename_to_window(
    runs: MonitorRuns, run_id: str, version: str, inputs: _Inputs, results: WindowResults
) -> None:
    """A window given by the data (no ``--window-end``) is named once it is known."""
    started = _run_name(version, _text_or_none(inputs.start), _text_or_none(inputs.end))
    named = _run_name(version, results.window_start, results.window_end)
    if named != started:
        runs.rename_run(run_id, named)


def _describe_with_card(runs: MonitorRuns, result: WindowRun, links: NoteLinks, echo: Echo) -> None:
    """The refreshed card joins the description's links; a failure only leaves it out."""
    if result.results is None:
        return
    with_card = replace(links, artifacts=(*links.artifacts, CARD_HTML_FILE, CARD_MARKDOWN_FILE))
    try:
        note = _note(result.results, with_card)
        newer = runs.run_tag(result.run_id, TAG_SUPERSEDED_BY)  # superseded meanwhile: say so
        runs.set_run_tags(
            result.run_id, {TAG_RUN_NOTE: superseded_note(note, by=newer) if newer else note}
        )
    except MonitorError as exc:
        echo(f"[run] run description not updated with the card: {exc}")


def _model_parameters(inputs: _Inputs) -> dict[str, str]:
    """The notebook's model parameters: local folders and registry URIs, never a secret."""
    out: dict[str, str] = {}
    if inputs.own_model is not None:
        out.update(model_dir=str(inputs.own_model.folder), model_uri=inputs.own_model.uri)
    other = inputs.other_model
    if other is not None:
        out.update(
            compare_dir=str(other.folder),
            compare_uri=other.uri,
            compare_against=other.named,
            compare_version=other.version,
        )
    return out


def _log_source(runs: MonitorRuns, run_id: str, inputs: _Inputs) -> None:
    """``source.json``: where the rows came from (location without credentials, the query)."""
    staged = inputs.staged
    if staged is None:
        return
    body = {
        "location": staged.location,
        "kind": staged.kind,
        "query": staged.query,
        "rows": staged.rows,
        "seconds": round(staged.seconds, 3),
    }
    _log_json(runs, run_id, SOURCE_FILE, body)


def _read_results(path: Path) -> WindowResults:
    """``results.json`` as the notebook wrote it; none, or an unreadable one, fails the run."""
    if not path.is_file():
        raise NotebookError("monitor.ipynb: produced no results.json")
    try:
        return read_results(path)
    except DataError as exc:
        raise NotebookError(f"monitor.ipynb: {exc}") from None


def _history(runs: MonitorRuns, spec: MonitorSpec, version: str, work: Path) -> str:
    """Past values of the metrics whose checks use history, as a file for the notebook."""
    # The task's default checks have no history: only the spec's own checks can ask for it.
    names = [f"perf/{c.metric}" for c in spec.performance.checks if c.history is not None]
    if not names:
        return ""
    from mlflow_monitor.adapters.mlflow.metric_history import metric_history

    past = metric_history(spec.model, version, names, tracking_uri=runs.tracking_uri)
    return str(write_history(past, work / HISTORY_FILE))


# -- failure bookkeeping ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    """What failed: the version, its run (None before one was started), why, and the window."""

    version: str
    run_id: str | None
    reason: str
    window_start: datetime | str | None
    window_end: datetime | str | None

    @property
    def line(self) -> str:
        return (self.reason.strip().splitlines() or ["unknown error"])[0]


def _record_error(
    runs: MonitorRuns,
    spec: MonitorSpec,
    failure: _Failure,
    echo: Echo,
    *,
    work: Path,
    error: BaseException | None = None,
) -> None:
    """Keep the audit trail of a failed attempt, record it beside the verdict, alert.

    The run keeps the notebooks as far as they ran (papermill writes the failing cell's
    traceback into them) and ``error.json``; the version gets ``monitor.last_error`` and its
    run, never a new health: the last completed verdict stands. Never raises.
    """
    if failure.run_id:
        kept = _keep_failure_trail(runs, failure, work, error)
        note = _failed_note(runs, spec, failure, kept)
        end_failed(runs, failure.run_id, failure.line, note=note)
    try:
        runs.record_error(spec.model, failure.version, failure.run_id, failure.line)
    except MonitorError as exc:
        echo(f"[run] could not record the failure on the version: {exc}")
    _notify_failure(runs, spec, failure, echo)


def _keep_failure_trail(
    runs: MonitorRuns, failure: _Failure, work: Path, error: BaseException | None
) -> tuple[str, ...]:
    """Log the notebooks as far as they ran (rendered too) and ``error.json``; what was kept."""
    run_id = failure.run_id or ""
    notebooks = work / "out" / NOTEBOOKS_DIR
    kept: tuple[str, ...] = ()
    try:
        if notebooks.is_dir() and any(notebooks.iterdir()):
            render_notebooks_html(notebooks, quiet)
            runs.log_artifacts(run_id, notebooks, NOTEBOOKS_DIR)
            kept = note_artifacts(work / "out", (NOTEBOOKS_DIR,))
        _log_json(runs, run_id, ERROR_FILE, _error_body(failure, error))
        kept = (*kept, ERROR_FILE)
    except MonitorError as exc:
        _LOG.warning("run %s: the failure's notebooks could not be kept: %s", run_id, exc)
    return kept


def _failed_note(
    runs: MonitorRuns, spec: MonitorSpec, failure: _Failure, kept: tuple[str, ...]
) -> str | None:
    """The FAILED run's description: it failed, the error line, what it left; None if unknown."""
    try:
        links = NoteLinks(runs.experiment_id(spec.model), failure.run_id or "", kept)
    except MonitorError:
        return None
    return failed_window_note(
        error=failure.line,
        window_start=_as_text(failure.window_start),
        window_end=_as_text(failure.window_end),
        links=links,
    )


def _error_body(failure: _Failure, error: BaseException | None) -> dict[str, object]:
    """``error.json``: the one line, and the failing cell when a notebook failed."""
    body: dict[str, object] = {"error": failure.line}
    for field in ("notebook", "cell_index", "ename", "evalue"):
        value = getattr(error, field, None)
        if value not in (None, ""):
            body[field] = value
    return body


def _finish_abandoned(runs: MonitorRuns, model: str, version: str, echo: Echo) -> None:
    for run_id in runs.fail_abandoned_runs(model, version):
        echo(f"[run] ended abandoned run {run_id} FAILED (its process is gone)")


# -- after the window: cards, alerts, auto-rollback; none may break the run ------------------


def _after_window(
    runs: MonitorRuns,
    spec: MonitorSpec,
    result: WindowRun,
    links: NoteLinks,
    echo: Echo,
    *,
    card_dir: Path | None = None,
) -> None:
    """Cards refresh; alert dispatch (``alerts.json``) and auto-rollback for the verdict only.

    A backfill of an older window or a superseded attempt changes no state, so it sends no
    alert: state changes are judged against the previous window in window order.
    """
    echo(f"[run] health {result.health}: refreshing the model card, alerts, alias gates")
    if refresh_card_quietly(
        spec, result.version, result.run_id, runs.tracking_uri, echo, card_dir=card_dir
    ):
        _describe_with_card(runs, result, links, echo)
    if not result.is_verdict:
        return
    _dispatch_alerts(runs, spec, result, echo)
    _auto_rollback(runs, spec, result, echo)
    echo("[run] done")


def _dispatch_alerts(runs: MonitorRuns, spec: MonitorSpec, result: WindowRun, echo: Echo) -> None:
    try:
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
        for line in failure_lines(report):
            echo(line)
        _log_json(runs, result.run_id, "alerts.json", report.to_dict())
    except Exception as exc:
        echo(f"[run] alerts not dispatched: {type(exc).__name__}: {exc}")


def _notify_failure(runs: MonitorRuns, spec: MonitorSpec, failure: _Failure, echo: Echo) -> None:
    try:
        start = failure.window_start if failure.window_start is not None else ""
        end = failure.window_end if failure.window_end is not None else utc_text(utc_now())
        report = notify_failure(
            spec,
            spec.model,
            failure.version,
            failure.run_id,
            failure.line,
            start,
            end,
            runs.tracking_uri,
        )
        for line in failure_lines(report):
            echo(line)
    except Exception as exc:
        echo(f"[run] failure alert not sent: {type(exc).__name__}: {exc}")


def _auto_rollback(runs: MonitorRuns, spec: MonitorSpec, result: WindowRun, echo: Echo) -> None:
    """Move auto-rollback aliases off a critical version; alert it (``rollback_alerts.json``)."""
    if result.health != "critical":
        return
    try:
        done = auto_rollback(
            spec, spec.model, result.version, result.health, tracking_uri=runs.tracking_uri
        )
        if done is None:
            return
        message = done.message
        echo(f"[run] auto-rollback: {message}")
        _notify_rollback(runs, spec, result, message, done.moved, echo)
    except Exception as exc:
        echo(f"[run] auto-rollback not done: {type(exc).__name__}: {exc}")


def _notify_rollback(
    runs: MonitorRuns, spec: MonitorSpec, result: WindowRun, message: str, moved: bool, echo: Echo
) -> None:
    try:
        report = notify_rollback(
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
        for line in failure_lines(report):
            echo(line)
        _log_json(runs, result.run_id, "rollback_alerts.json", report.to_dict())
    except Exception as exc:
        echo(f"[run] rollback alert not sent: {type(exc).__name__}: {exc}")


def _log_json(runs: MonitorRuns, run_id: str, name: str, body: object) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(json.dumps(body, indent=1, default=str))
        runs.log_file(run_id, path)


# -- small helpers ------------------------------------------------------------------------------


def _as_time(value: datetime | str | None, name: str) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return data.parse_time(value, name)


def _iso_or_empty(value: datetime | None) -> str:
    return utc_text(value) if value else ""


def _window_tags(inputs: _Inputs) -> dict[str, str]:
    tags = {}
    if inputs.staged is not None:
        tags[TAG_SOURCE] = inputs.staged.location[:500]
    if inputs.other_model is not None:
        tags[TAG_COMPARE] = f"{inputs.other_model.named} ({inputs.other_model.version})"
    if inputs.start:
        tags[TAG_WINDOW_START] = utc_text(inputs.start)
    if inputs.end:
        tags[TAG_WINDOW_END] = utc_text(inputs.end)
    return tags


def _run_name(version: str, start: str | None, end: str | None) -> str:
    """``v3 2026-11-23 → 2026-11-30`` (times shown only when a bound is not at midnight)."""
    if not end:
        return f"v{version} latest window"
    bounds = [parse_utc(t) for t in (start, end) if t]
    with_time = any(b.hour or b.minute or b.second for b in bounds)
    texts = [b.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d") for b in bounds]
    return f"v{version} {' → '.join(texts)}"


def _text_or_none(value: datetime | None) -> str | None:
    return utc_text(value) if value else None


def _as_text(value: datetime | str | None) -> str | None:
    """A window bound as given on the command line, as UTC text when it reads as a time."""
    if isinstance(value, datetime):
        return utc_text(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    return value or None


def _ms(iso_text: str) -> int:
    return int(parse_utc(iso_text).timestamp() * 1000)
