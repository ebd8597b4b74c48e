"""A notebook kernel started ahead of its notebook, loading while the command talks to MLflow.

``mlflow-monitor run`` spends its first second or so importing MLflow, opening the store,
validating the window and downloading the baseline; papermill would start the kernel only then,
and the kernel would then spend another second importing pandas and the statistics core in
``monitor.ipynb``'s first cell. ``warm_kernel`` starts that kernel first, with
``_kernel_preload`` as its start-up line (imports only, no computation: the notebook's own cells
still do and record all the work), and ``run_notebook`` hands it to papermill for that one
notebook. A kernel that died or was never claimed is simply shut down; papermill then starts a
fresh one as before. Measured end to end on 1,000,000 rows: see benchmarks/README.md.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

__all__ = ["WarmKernel", "claim", "shut_down", "warm_kernel"]

_LOG = logging.getLogger("mlflow_monitor.kernels")
PRELOAD_LINE = "import mlflow_monitor._kernel_preload as _preload; del _preload"


@dataclass(eq=False)
class WarmKernel:
    """A started kernel reserved for one notebook; ``claimed`` once papermill got it."""

    manager: AsyncKernelManager
    notebook: Path
    claimed: bool = False


_current: WarmKernel | None = None


@contextmanager
def warm_kernel(notebook: Path, kernel_name: str = "python3") -> Iterator[WarmKernel | None]:
    """Start the kernel for ``notebook`` now; shut it down on the way out. Nested use: no-op.

    A kernel that cannot start is logged and skipped: the notebook's own run reports the cause.
    """
    global _current
    if _current is not None:
        yield None
        return
    scratch = Path(tempfile.mkdtemp(prefix="mlflow-monitor-kernel-"))
    warm = _start(notebook.resolve(), kernel_name, scratch)
    _current = warm
    try:
        yield warm
    finally:
        _current = None
        if warm is not None:
            shut_down(warm)
        shutil.rmtree(scratch, ignore_errors=True)


def claim(notebook: Path) -> WarmKernel | None:
    """The warm kernel started for ``notebook`` if it is still alive and unclaimed."""
    warm = _current
    if warm is None or warm.claimed or warm.notebook != notebook.resolve():
        return None
    from jupyter_core.utils import run_sync

    if not run_sync(warm.manager.is_alive)():
        return None
    warm.claimed = True
    return warm


def shut_down(warm: WarmKernel) -> None:
    """Stop the kernel at once (its notebook is written; nothing is left to flush)."""
    from jupyter_core.utils import run_sync

    try:
        if warm.manager.has_kernel:
            run_sync(warm.manager.shutdown_kernel)(now=True)
    except Exception as exc:  # already gone: nothing to stop
        _LOG.debug("warm kernel shutdown: %s", exc)


def _start(notebook: Path, kernel_name: str, cwd: Path) -> WarmKernel | None:
    try:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        manager = AsyncKernelManager(kernel_name=kernel_name)
        run_sync(manager.start_kernel)(
            extra_arguments=[f"--IPKernelApp.exec_lines={PRELOAD_LINE}"], cwd=str(cwd)
        )
    except Exception as exc:
        _LOG.info("no warm kernel (%s: %s); papermill will start one", type(exc).__name__, exc)
        return None
    return WarmKernel(manager, notebook)
