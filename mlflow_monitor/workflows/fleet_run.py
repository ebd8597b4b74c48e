"""``fleet run``: every model version of a fleet, its latest complete window, on warm workers.

The steps: read the fleet (a fleet file, or a folder of specs with the log, period and grace
given by the caller) and check it whole before anything runs (``SpecError`` naming the file and
key); start the workers, which warm up while the main process reads each model's spec and
resolves its versions (``@alias`` at run time; by default every version holding an alias); run
the windows, at most ``concurrency`` at a time, each on a worker process
(``workflows.fleet_worker``: MLflow imported once, kernels started ahead, one long-lived
Evidently child); report each window as it ends; then ``_after_fleet``.

Isolation: a model whose spec does not load, an alias that does not resolve, a window that fails,
even a worker process that dies, is one failed outcome naming the model and version; the other
windows still run. ``run_window`` itself records a failed window beside the version's last
verdict (never in place of it). Windows come from the prediction log (``log_windows``: the last
complete ``period`` once ``grace`` has passed, aligned in UTC) or from a model's fixed
``current`` file.

Why processes and not threads: ``run_window`` hands the notebook a kernel through a module global
(``adapters.notebooks.kernels``) and the report child through an environment variable, both one
per process. Measured on 2 cores: see ``benchmarks/bench_fleet.py`` and the notes of the task.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import yaml

from mlflow_monitor.contract import utc_text
from mlflow_monitor.errors import MonitorError, SpecError
from mlflow_monitor.spec import FleetModel, FleetSpec, load_fleet, load_spec
from mlflow_monitor.workflows.fleet_followups import FleetFollowups, after_fleet
from mlflow_monitor.workflows.fleet_worker import (
    WindowJob,
    WindowOutcome,
    ping,
    run_job,
    start_worker,
)

if TYPE_CHECKING:
    from mlflow_monitor.spec import MonitorSpec
    from mlflow_monitor.workflows.log_windows import LoggedWindow

__all__ = ["FleetPlan", "FleetProgress", "FleetReport", "PlannedModel", "plan_fleet", "run_fleet"]

SPEC_NAME = "monitor.yaml"
WORKER_DIED = "the worker process running this window died"


@dataclass(frozen=True)
class PlannedModel:
    """One model of the fleet, with paths resolved from the fleet file's folder."""

    spec_path: Path
    versions: tuple[str, ...] | None  # None: every version holding an alias
    log_uri: str | None
    current: str | None = None
    window_start: str | None = None
    window_end: str | None = None


@dataclass(frozen=True)
class FleetPlan:
    """The fleet as read and checked: its models, the window period and grace, concurrency."""

    source: Path
    models: tuple[PlannedModel, ...]
    period_seconds: float
    grace_seconds: float
    concurrency: int | None = None


@dataclass(frozen=True)
class FleetReport:
    """Every window's outcome, in the fleet's order; ``failed`` are those without a result."""

    outcomes: tuple[WindowOutcome, ...]
    window: tuple[str, str] | None  # the latest complete window of the log
    followups: FleetFollowups = field(default_factory=FleetFollowups)  # after the windows

    @property
    def failed(self) -> tuple[WindowOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    def tripped(self, worst: Sequence[str]) -> tuple[WindowOutcome, ...]:
        """The windows whose health is one of ``worst`` (``--fail-on``)."""
        return tuple(o for o in self.outcomes if o.ok and o.health in worst)

    def to_dict(self) -> dict[str, object]:
        return {
            "window": list(self.window) if self.window else None,
            "windows": [o.to_dict() for o in self.outcomes],
            "after_windows": self.followups.to_dict(),
        }


class FleetProgress(Protocol):
    """What ``run_fleet`` tells its caller: the number of windows, then each window as it ends."""

    def planned(self, total: int) -> None:
        """``total`` windows will run."""

    def done(self, outcome: WindowOutcome) -> None:
        """One window ended (its health, or its error)."""


class _Silent:
    def planned(self, total: int) -> None:
        del total

    def done(self, outcome: WindowOutcome) -> None:
        del outcome


# -- reading the fleet -----------------------------------------------------------------------


def plan_fleet(
    source: str | Path,
    *,
    log_uri: str | None = None,
    period: str | None = None,
    grace: str | None = None,
) -> FleetPlan:
    """The fleet in ``source``: a fleet file, or a folder whose specs are the fleet's models.

    A folder's specs are every ``monitor.yaml`` below it and every other ``*.yaml`` directly in
    it that has a ``task`` (a spec's one required key: a card's ``card.yaml`` is not a spec);
    they need ``log_uri``. Options given here override the fleet file's ``log``, ``period`` and
    ``grace``. Nothing is run: every error is one ``SpecError`` line naming the file and key.
    """
    path = Path(source)
    if path.is_dir():
        fleet = _folder_fleet(path, log_uri=log_uri, period=period, grace=grace)
        base = path
    else:
        fleet = load_fleet(path)
        overrides = {"log": log_uri, "period": period, "grace": grace}
        fleet = _override(fleet, {k: v for k, v in overrides.items() if v is not None}, path)
        base = path.parent
    models = tuple(
        _planned(model, fleet, base, path, index) for index, model in enumerate(fleet.models)
    )
    return FleetPlan(path, models, fleet.period_seconds, fleet.grace_seconds, fleet.concurrency)


def _folder_fleet(
    folder: Path, *, log_uri: str | None, period: str | None, grace: str | None
) -> FleetSpec:
    specs = sorted({*folder.rglob(SPEC_NAME), *(p for p in folder.glob("*.yaml") if _is_spec(p))})
    if not specs:
        raise SpecError(f"{folder}: no {SPEC_NAME} (or spec *.yaml) found below this folder")
    if not log_uri:
        raise SpecError(f"{folder}: a folder of specs reads its windows from the log: give --log")
    body = {
        "log": log_uri,
        "period": period or "1d",
        "grace": grace or "1h",
        "models": [{"spec": str(p)} for p in specs],
    }
    return _validated(body, folder)


def _is_spec(path: Path) -> bool:
    if path.name == SPEC_NAME:
        return True
    try:
        body = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(body, dict) and "task" in body


def _override(fleet: FleetSpec, values: Mapping[str, str], file: Path) -> FleetSpec:
    if not values:
        return fleet
    body = {**fleet.model_dump(mode="json", exclude_none=True), **values}
    return _validated(body, file)


def _validated(body: Mapping[str, object], where: Path) -> FleetSpec:
    from pydantic import ValidationError

    from mlflow_monitor.spec import first_error

    try:
        return FleetSpec.model_validate(body)
    except ValidationError as exc:
        raise SpecError(f"{where}: {first_error(exc)}") from None


def _planned(
    model: FleetModel, fleet: FleetSpec, base: Path, file: Path, index: int
) -> PlannedModel:
    spec_path = (base / model.spec).resolve()
    if not spec_path.is_file():
        raise SpecError(f"{file}: models.{index}.spec: {model.spec} not found")
    current = model.current
    if current and "://" not in current:  # a local file, read from the fleet file's folder
        current = str((base / current).resolve())
        if not Path(current).exists():
            raise SpecError(f"{file}: models.{index}.current: {model.current} not found")
    log = model.log or fleet.log
    return PlannedModel(
        spec_path,
        tuple(v.strip() for v in model.versions) if model.versions else None,
        _log_location(log, base) if log and not current else None,
        current,
        model.window_start,
        model.window_end,
    )


def _log_location(log: str, base: Path) -> str:
    """A URL as given; a folder relative to the fleet file's folder."""
    return log if "://" in log else str((base / log).resolve())


# -- running it --------------------------------------------------------------------------------


def run_fleet(
    plan: FleetPlan,
    *,
    tracking_uri: str | None = None,
    concurrency: int | None = None,
    now: datetime,
    progress: FleetProgress | None = None,
) -> FleetReport:
    """Run the latest complete window of every version of the fleet (see the module docstring)."""
    from mlflow_monitor.workflows.log_windows import latest_window

    report_to = progress or _Silent()
    workers = concurrency or plan.concurrency or os.cpu_count() or 1
    start, end = latest_window(plan.period_seconds, now=now, grace_seconds=plan.grace_seconds)
    window = (utc_text(start), utc_text(end))
    with _Workers(workers) as pool:
        specs, jobs, failed = _windows(plan, tracking_uri, window)
        report_to.planned(len(jobs) + len(failed))
        for outcome in failed:
            report_to.done(outcome)
        with _Stager(jobs) as stager:
            outcomes = pool.run(jobs, report_to.done, prepare=stager.prepare)
    ran = _in_order(jobs, failed, outcomes)
    followups = _after_fleet(tracking_uri, specs, ran, now)
    return FleetReport(ran, window, followups or FleetFollowups())


def _windows(
    plan: FleetPlan, tracking_uri: str | None, window: tuple[str, str]
) -> tuple[dict[Path, MonitorSpec], list[WindowJob], list[WindowOutcome]]:
    """One job per distinct version of each model; a model that cannot be read is an outcome."""
    from mlflow_monitor.adapters.mlflow.runs import MonitorRuns

    runs = MonitorRuns(tracking_uri)
    specs: dict[Path, MonitorSpec] = {}
    jobs: list[WindowJob] = []
    failed: list[WindowOutcome] = []
    for model in plan.models:
        try:
            spec = load_spec(model.spec_path)
            name = spec.require_model(str(model.spec_path))
            versions = _versions(runs, name, model.versions)
        except MonitorError as exc:
            job = WindowJob(_label(plan, model), str(model.spec_path), "", "", runs.tracking_uri)
            failed.append(WindowOutcome(job, error=_first_line(str(exc))))
            continue
        specs[model.spec_path] = spec
        bounds = (model.window_start, model.window_end) if model.current else window
        for named, number in versions:
            _add_once(
                jobs,
                WindowJob(
                    name,
                    str(model.spec_path),
                    named,
                    number,
                    runs.tracking_uri,
                    log_uri=model.log_uri,
                    current=model.current,
                    window_start=bounds[0],
                    window_end=bounds[1],
                ),
            )
    return specs, jobs, failed


def _label(plan: FleetPlan, model: PlannedModel) -> str:
    """A model whose spec did not load is named by its spec's path (from the fleet's folder)."""
    base = plan.source if plan.source.is_dir() else plan.source.parent
    path = model.spec_path
    return (
        str(path.relative_to(base.resolve())) if path.is_relative_to(base.resolve()) else str(path)
    )


def _add_once(jobs: list[WindowJob], job: WindowJob) -> None:
    """A version listed by two entries of the fleet file runs its window once."""
    if all(
        (j.spec_path, j.version, j.current) != (job.spec_path, job.version, job.current)
        for j in jobs
    ):
        jobs.append(job)


def _versions(runs: object, model: str, wanted: tuple[str, ...] | None) -> list[tuple[str, str]]:
    """``(as named, number)`` per distinct version: aliases resolved now; the default is every
    version holding an alias. A version named twice (``3`` and ``@champion``) runs once."""
    from mlflow_monitor.adapters.mlflow.models import resolve_version
    from mlflow_monitor.adapters.mlflow.runs import MonitorRuns

    assert isinstance(runs, MonitorRuns)
    if wanted is None:
        held = [(s.version, s.aliases) for s in runs.versions(model) if s.aliases]
        if not held:
            raise SpecError(f"{model}: no version holds an alias; list versions in the fleet file")
        named = [(",".join(f"@{a}" for a in aliases), version) for version, aliases in held]
    else:
        named = [
            (name, resolve_version(model, name, tracking_uri=runs.tracking_uri).lstrip("v"))
            for name in wanted
        ]
    distinct: dict[str, str] = {}
    for name, number in named:
        distinct[number] = f"{distinct[number]},{name}" if number in distinct else name
    return sorted(((name, number) for number, name in distinct.items()), key=lambda p: int(p[1]))


def _in_order(
    jobs: Sequence[WindowJob], failed: Sequence[WindowOutcome], outcomes: Sequence[WindowOutcome]
) -> tuple[WindowOutcome, ...]:
    """The fleet's order: models that could not be read first, then the windows as planned."""
    by_job = {o.job.key: o for o in outcomes}
    return (*failed, *(by_job[job.key] for job in jobs))


class _Workers:
    """Worker processes (spawned, warmed by ``fleet_worker.start_worker``), at most ``size``
    windows in flight; a pool whose process died is replaced and the windows it held fail."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self.size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_worker,
        )
        for _ in range(self.size):  # start every worker now: they warm up while we plan
            pool.submit(ping)
        return pool

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def run(
        self,
        jobs: Sequence[WindowJob],
        done: Callable[[WindowOutcome], None],
        *,
        prepare: Callable[[WindowJob], WindowJob | WindowOutcome],
    ) -> list[WindowOutcome]:
        """Each job prepared (its window staged), then run; at most ``size`` at a time, and
        one window per model at a time (``_next``)."""
        queue, outcomes = deque(jobs), []
        running: dict[Future[WindowOutcome], WindowJob] = {}
        while queue or running:
            while queue and len(running) < self.size:
                job = _next(queue, running.values())
                if job is None:
                    break
                ready = prepare(job)
                if isinstance(ready, WindowOutcome):  # its window could not be read
                    outcomes.append(ready)
                    done(ready)
                    continue
                ready = replace(ready, last=not queue)  # nothing left to start a kernel for
                running[self._pool.submit(run_job, ready)] = ready
            if not running:
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                outcome, died = _outcome(running.pop(future), future)
                broken = broken or died
                if outcome.job.staged:
                    Path(outcome.job.staged).unlink(missing_ok=True)
                outcomes.append(outcome)
                done(outcome)
            if broken:  # every window the dead pool held fails; the rest go to a new pool
                for job in running.values():
                    outcomes.append(WindowOutcome(job, error=WORKER_DIED))
                    done(outcomes[-1])
                running.clear()
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._start()
        return outcomes


class _Stager:
    """Windows read from the log ahead of the workers, in a thread of this process: each
    model's log is read and its labels joined once for all its versions
    (``log_windows.windows_from_log``), and each version's window written to a file its job
    then runs on. Models are staged in the order their jobs run."""

    def __init__(self, jobs: Sequence[WindowJob]) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="mlflow-monitor-fleet-"))
        self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-log")
        groups: dict[tuple[str, str, str, str], list[str]] = {}
        for job in jobs:
            if job.log_uri and job.current is None:
                key = (job.spec_path, job.log_uri, job.window_start or "", job.window_end or "")
                groups.setdefault(key, []).append(job.version)
        self._staged = {
            key: self._threads.submit(self._stage, key, versions, index)
            for index, (key, versions) in enumerate(groups.items())
        }

    def __enter__(self) -> _Stager:
        return self

    def __exit__(self, *exc: object) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._folder, ignore_errors=True)

    def prepare(self, job: WindowJob) -> WindowJob | WindowOutcome:
        """The job with its window staged, or the outcome saying why it could not be."""
        if not job.log_uri or job.current is not None:
            return job
        key = (job.spec_path, job.log_uri, job.window_start or "", job.window_end or "")
        try:
            staged = self._staged[key].result()
        except MonitorError as exc:
            return WindowOutcome(job, error=_first_line(str(exc)))
        except Exception as exc:  # an unreadable log must not stop the fleet
            return WindowOutcome(job, error=f"{type(exc).__name__}: {_first_line(str(exc))}")
        found = staged[job.version]
        if isinstance(found, str):
            return WindowOutcome(job, error=found)
        return replace(job, staged=str(found[0]), note=found[1])

    def _stage(
        self, key: tuple[str, str, str, str], versions: list[str], index: int
    ) -> dict[str, tuple[Path, str] | str]:
        from mlflow_monitor.adapters.sources.files import write_frame
        from mlflow_monitor.contract import parse_utc
        from mlflow_monitor.workflows.log_windows import windows_from_log

        spec_path, log_uri, start, end = key
        spec = load_spec(spec_path)
        found = windows_from_log(
            spec, versions, log_uri=log_uri, start=parse_utc(start), end=parse_utc(end)
        )
        staged: dict[str, tuple[Path, str] | str] = {}
        for version, window in found.items():
            if isinstance(window, MonitorError):
                staged[version] = _first_line(str(window))
                continue
            path = write_frame(
                window.frame, self._folder / f"{index}-v{version}.parquet", what="window"
            )
            staged[version] = (path, _staging_note(window))
        return staged


def _staging_note(window: LoggedWindow) -> str:
    return (
        f"[run] {len(window.frame):,} predictions from the log, {window.labelled:,} labelled "
        f"(coverage {window.coverage:.1%}); {window.join.text()}"
    )


def _next(queue: deque[WindowJob], running: Iterable[WindowJob]) -> WindowJob | None:
    """The first queued job whose model has no window running (None: wait for one to end).

    Two versions of one model finishing together both rewrite the registered model's health
    tags (the worst of its versions): on MLflow's SQL stores the second write failed with a
    UNIQUE constraint error (measured: one FAILED window of six, 2 workers, SQLite), and a
    model health computed from a read made before the other's write would be stale.
    """
    busy = {job.model for job in running}
    for index, job in enumerate(queue):
        if job.model not in busy:
            del queue[index]
            return job
    return None


def _outcome(job: WindowJob, future: Future[WindowOutcome]) -> tuple[WindowOutcome, bool]:
    """The window's outcome, and whether its worker process died."""
    try:
        return future.result(), False
    except BrokenProcessPool:
        return WindowOutcome(job, error=WORKER_DIED), True
    except Exception as exc:  # e.g. an outcome that could not be sent back
        return WindowOutcome(job, error=f"{type(exc).__name__}: {_first_line(str(exc))}"), False


# -- after the windows -------------------------------------------------------------------------


def _after_fleet(
    tracking_uri: str | None,
    specs: Mapping[Path, MonitorSpec],
    versions: Sequence[WindowOutcome],
    now: datetime,
) -> FleetFollowups:
    """Escalations, SLO burn-rate alerts and alias bypasses over the whole fleet.

    Called once, after every window ended, with the tracking URI, the specs that loaded (by
    path), every window's outcome (model, version, health or error) and the run's ``now``
    (``workflows.fleet_followups``: each model's steps isolated, never raising).
    """
    return after_fleet(tracking_uri=tracking_uri, specs=specs, outcomes=versions, now=now)


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]
