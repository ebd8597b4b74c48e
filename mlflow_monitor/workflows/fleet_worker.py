"""One ``fleet run`` worker process: imports once, warm kernels, one Evidently child.

``mlflow-monitor run`` pays its fixed cost for every window: interpreter start and the MLflow,
pandas and papermill imports (about 1.5 s of CPU), the Evidently child's start and import (about
2 s of CPU), a kernel's start and preload (about 1 s). A worker pays the imports and the report
child once (``start_worker``, the process pool's initializer), and keeps a ``KernelPool`` whose
next ``monitor.ipynb`` kernel starts (and imports the statistics core) while the current window's
notebooks run. Each kernel serves exactly one window (``monitor.ipynb``, then
``fairness_audit.ipynb`` in the same kernel: ``kernels.window_kernel``) and is stopped after it,
so no Python state passes between windows; the report child only ever reads the job folder of
the window that claimed it. A window submitted with nothing queued behind it (``WindowJob.last``)
starts no kernel ahead: none would be used.

``run_job`` runs one window with ``run_from_log`` or ``run_window`` and returns a
``WindowOutcome`` whatever happens: a failed window is an outcome with its one-line error (its
run ended FAILED and recorded beside the version's verdict by ``run_window``), never an
exception that would stop the other windows. Progress lines of the window are kept, with their
offset from the window's start, as its timeline (``fleet run --report``).

Runs in a process started with the ``spawn`` method: ``kernels`` keeps its pool in a module
global, one per process, which threads could not share.
"""

from __future__ import annotations

import gc
import multiprocessing.util
import os
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_monitor.errors import MonitorError

if TYPE_CHECKING:  # imported in the worker by its initializer, after its children started
    from mlflow_monitor.adapters.notebooks.kernels import KernelPool
    from mlflow_monitor.workflows.monitor_window import WindowRun
    from mlflow_monitor.workflows.run_steps import Echo

__all__ = ["WindowJob", "WindowOutcome", "ping", "run_job", "start_worker"]


@dataclass(frozen=True)
class WindowJob:
    """One window of one version: how the fleet named the version, its number, where the rows
    come from (the prediction log, or a fixed ``current`` file) and the window's bounds."""

    model: str
    spec_path: str
    named: str
    version: str
    tracking_uri: str | None
    log_uri: str | None = None
    current: str | None = None
    window_start: str | None = None
    window_end: str | None = None
    staged: str | None = None  # the window read from the log ahead, as a file
    note: str = ""  # what staging it found (predictions, labels joined)
    last: bool = False  # no window is queued after it: its worker starts no kernel ahead

    @property
    def key(self) -> tuple[str, str, str | None]:
        """The window this job is about: spec, version, fixed file (staging keeps it)."""
        return (self.spec_path, self.version, self.current)


@dataclass(frozen=True)
class WindowOutcome:
    """What became of one window: its health and run, or the one line it failed with.

    ``started``/``ended`` are epoch seconds; ``pid`` the worker that ran it; ``kernels_claimed``
    how many of its notebooks ran in a kernel started ahead.
    """

    job: WindowJob
    health: str | None = None
    run_id: str | None = None
    window_end: str | None = None
    error: str | None = None
    started: float = 0.0
    ended: float = 0.0
    pid: int = 0
    kernels_claimed: int = 0
    is_verdict: bool = True
    cpu_seconds: float = 0.0  # the worker's, its ended kernels' and its report child's
    timeline: tuple[tuple[float, str], ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def seconds(self) -> float:
        return max(self.ended - self.started, 0.0)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.job.model,
            "version": self.job.version,
            "named": self.job.named,
            "spec": self.job.spec_path,
            "window_start": self.job.window_start,
            "window_end": self.window_end or self.job.window_end,
            "health": self.health,
            "run_id": self.run_id,
            "error": self.error,
            "is_verdict": self.is_verdict,
            "seconds": round(self.seconds, 3),
            "started": self.started,
            "ended": self.ended,
            "pid": self.pid,
            "kernels_claimed": self.kernels_claimed,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "timeline": [[round(t, 3), line] for t, line in self.timeline],
        }


@dataclass
class _Worker:
    stack: ExitStack
    pool: KernelPool


_worker: _Worker | None = None


def start_worker() -> None:
    """Process-pool initializer: the report child and the first kernels start, then the imports.

    The children start first so that they load Evidently and the statistics core while this
    process imports MLflow; the collector is paused during the imports and what they built is
    frozen (as ``cli._gc`` does for a command). Everything is stopped when the process exits.
    """
    global _worker
    gc.disable()
    try:
        from mlflow_monitor.adapters.evidently_reports import report_worker
        from mlflow_monitor.adapters.notebooks.execute import shipped_notebook
        from mlflow_monitor.adapters.notebooks.kernels import KernelPool
        from mlflow_monitor.workflows import WINDOW_PRELOAD

        stack = ExitStack()
        stack.enter_context(report_worker(serve=True))
        # fairness_audit.ipynb runs in its window's monitor.ipynb kernel (kernels.window_kernel)
        pool = KernelPool({shipped_notebook("monitor.ipynb"): WINDOW_PRELOAD}).open()
        stack.callback(pool.close)
        _worker = _Worker(stack, pool)
        multiprocessing.util.Finalize(None, stack.close, exitpriority=100)
        import mlflow_monitor.workflows.log_windows  # noqa: F401  (MLflow, pandas, papermill)
    finally:
        gc.freeze()
        gc.enable()


def ping() -> int:
    """A no-op task: submitting one per worker starts the workers (and their initializer) now."""
    return os.getpid()


def run_job(job: WindowJob) -> WindowOutcome:
    """Run one window in this worker; every failure comes back as the outcome's error line."""
    started, timeline = time.time(), []

    def echo(message: str) -> None:
        timeline.append((time.time() - started, message))

    claimed, cpu = _claimed(), _cpu()
    if _worker is not None:  # a kernel started for a window that never comes is wasted CPU
        _worker.pool.ahead = not job.last
    try:
        result = _run(job, echo)
    except MonitorError as exc:
        error = _first_line(str(exc))
    except Exception as exc:  # a bug in one window must not stop the fleet
        error = f"{type(exc).__name__}: {_first_line(str(exc))}"
    else:
        return WindowOutcome(
            job,
            health=result.health,
            run_id=result.run_id,
            window_end=result.window_end,
            started=started,
            ended=time.time(),
            pid=os.getpid(),
            kernels_claimed=_claimed() - claimed,
            is_verdict=result.is_verdict,
            cpu_seconds=_cpu() - cpu,
            timeline=tuple(timeline),
        )
    return WindowOutcome(
        job,
        error=error or "unknown error",
        started=started,
        ended=time.time(),
        pid=os.getpid(),
        kernels_claimed=_claimed() - claimed,
        cpu_seconds=_cpu() - cpu,
        timeline=tuple(timeline),
    )


def _run(job: WindowJob, echo: Echo) -> WindowRun:
    """The window from its file (fixed, or staged from the log), else assembled from the log."""
    from mlflow_monitor.contract import parse_utc
    from mlflow_monitor.workflows.log_windows import run_from_log
    from mlflow_monitor.workflows.monitor_window import run_window

    # in a worker, the pool and the serving report child are already in place for every window
    resources = nullcontext() if _worker is not None else None
    if job.note:
        echo(job.note)
    if job.current is not None or job.staged is not None:
        return run_window(
            job.spec_path,
            job.version,
            job.staged or job.current or "",
            tracking_uri=job.tracking_uri,
            window_start=job.window_start,
            window_end=job.window_end,
            echo=echo,
            resources=resources,
        )
    return run_from_log(
        job.spec_path,
        job.version,
        log_uri=job.log_uri or "",
        start=parse_utc(job.window_start or ""),
        end=parse_utc(job.window_end or ""),
        tracking_uri=job.tracking_uri,
        echo=echo,
        resources=resources,
    )


def _cpu() -> float:
    """CPU seconds so far of this process, its children that ended (each window's kernels, once
    stopped) and the report child (alive): a window's share is the difference, whatever else
    the machine runs (a kernel started ahead is counted in the window it served)."""
    import resource

    import psutil

    from mlflow_monitor.adapters.evidently_reports import WORKER_ENV

    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    folder = os.environ.get(WORKER_ENV)
    try:
        pid = int(Path(folder, "pid").read_text()) if folder else 0
        times = psutil.Process(pid).cpu_times() if pid else None
    except (OSError, ValueError, psutil.Error):
        times = None
    return total + (times.user + times.system if times else 0.0)


def _claimed() -> int:
    """Notebooks run in a kernel started ahead: the pool's, or their window's kept kernel."""
    from mlflow_monitor.adapters.notebooks import kernels

    return _worker.pool.claimed + kernels.reused if _worker is not None else 0


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]
