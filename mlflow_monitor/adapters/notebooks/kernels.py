"""Notebook kernels: local-socket transport, and one started ahead of ``monitor.ipynb``.

Every kernel is started here and handed to papermill. It talks over local (IPC) sockets rather
than TCP on 127.0.0.1: other users of the machine cannot reach it, and ipykernel has no reason
to print its "running over TCP without encryption" warning into every command's output (TCP is
kept on Windows and where the runtime folder's path is too long for a socket name).

``mlflow-monitor run`` spends its first second or so importing MLflow, opening the store,
validating the window and downloading the baseline; a kernel started only then would spend
another second importing pandas and the statistics core in ``monitor.ipynb``'s first cell.
``warm_kernel`` starts that kernel first, importing the workflow's preload module on start-up
(``workflows.window_preload``: imports only, no computation: the notebook's own cells still do
and record all the work), and ``run_notebook`` hands it to papermill for that one notebook. A
warm kernel that died or was never claimed is shut down; papermill then gets a fresh one.
Measured end to end on 1,000,000 rows: see benchmarks/README.md.

nbclient does not stop the channels of a client it made for a kernel manager it was handed
(``owns_km`` is false), so each executed notebook left a client's zmq sockets open ("Could not
destroy zmq context" at collection; seven per three windows in one notebook session). The
manager made here remembers its clients and ``stop_kernel`` stops their channels.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

__all__ = [
    "KernelPool",
    "WarmKernel",
    "claim",
    "keep",
    "reuse",
    "start_kernel",
    "stop_kernel",
    "warm_kernel",
    "window_kernel",
]

_LOG = logging.getLogger("mlflow_monitor.adapters.notebooks.kernels")
_SOCKET_PATH_LIMIT = 100  # Linux allows 107 bytes, macOS 103, for a socket file's path


@dataclass(eq=False)
class WarmKernel:
    """A started kernel reserved for one notebook; ``claimed`` once papermill got it."""

    manager: AsyncKernelManager
    notebook: Path
    claimed: bool = False


@dataclass
class _Window:
    """The kernel one window's last shipped notebook ran in, kept for its next one."""

    manager: AsyncKernelManager | None = None


_current: WarmKernel | None = None
_pool: KernelPool | None = None
_window: _Window | None = None
reused = 0  # notebooks of this process that ran in their window's kept kernel


def start_kernel(kernel_name: str, cwd: Path, *, preload: str | None = None) -> AsyncKernelManager:
    """Launch a kernel in ``cwd`` (importing module ``preload`` first); papermill waits for it."""
    from jupyter_core.paths import jupyter_runtime_dir
    from jupyter_core.utils import run_sync

    manager = _manager_class()(kernel_name=kernel_name, **_transport(Path(jupyter_runtime_dir())))
    line = f"import {preload} as _preload; del _preload"
    extra = [f"--IPKernelApp.exec_lines={line}"] if preload else []
    run_sync(manager.start_kernel)(extra_arguments=extra, cwd=str(cwd))
    return manager


def _transport(runtime: Path) -> dict[str, str]:
    """IPC sockets named by absolute path in Jupyter's runtime folder (TCP if it is too long).

    jupyter_client's default IPC name is relative, so a kernel started in another folder than
    this process would listen where the client never looks.
    """
    prefix = runtime / f"kernel-{uuid.uuid4()}-ipc"
    if os.name != "posix" or len(str(prefix)) + 6 >= _SOCKET_PATH_LIMIT:  # + "-<port>"
        return {"transport": "tcp"}  # Windows' ZeroMQ has no IPC transport
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    return {"transport": "ipc", "ip": str(prefix)}


class KernelPool:
    """One kernel started ahead per notebook, replaced as soon as it is claimed (module doc).

    ``notebooks`` maps each notebook to the module its kernels import on start-up (None: none).
    ``open`` starts the first kernels and makes the pool the one ``claim`` draws from in this
    process; ``close`` stops every kernel it still holds. A kernel that cannot start is logged
    and skipped: its notebook gets a fresh kernel from papermill's runner.
    """

    def __init__(self, notebooks: dict[Path, str | None], *, kernel_name: str = "python3") -> None:
        self._preload = {path.resolve(): preload for path, preload in notebooks.items()}
        self._kernel_name = kernel_name
        self._ready: dict[Path, WarmKernel] = {}
        self._scratch = Path(tempfile.mkdtemp(prefix="mlflow-monitor-kernels-"))
        self.started = 0
        self.claimed = 0
        self.ahead = True  # False: no successor for the next kernel taken (no window follows)

    def open(self) -> KernelPool:
        global _pool
        _pool = self
        for notebook in self._preload:
            self._start(notebook)
        return self

    def take(self, notebook: Path) -> WarmKernel | None:
        """The kernel started ahead for ``notebook`` if alive (its successor starts now, unless
        ``ahead`` was turned off: the caller knows no window follows)."""
        from jupyter_core.utils import run_sync

        key = notebook.resolve()
        if key not in self._preload:
            return None
        warm = self._ready.pop(key, None)
        if self.ahead:
            self._start(key)
        if warm is None or not run_sync(warm.manager.is_alive)():
            if warm is not None:
                stop_kernel(warm.manager, now=True)
            return None
        warm.claimed = True
        self.claimed += 1
        return warm

    def close(self) -> None:
        global _pool
        if _pool is self:
            _pool = None
        for warm in self._ready.values():
            stop_kernel(warm.manager, now=True)
        self._ready.clear()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _start(self, notebook: Path) -> None:
        preload = self._preload[notebook]
        try:
            manager = start_kernel(self._kernel_name, self._scratch, preload=preload)
        except Exception as exc:
            _LOG.info("no kernel started ahead (%s: %s)", type(exc).__name__, exc)
            return
        self.started += 1
        self._ready[notebook] = WarmKernel(manager, notebook)


@functools.cache
def _manager_class() -> type[AsyncKernelManager]:
    """``AsyncKernelManager`` that keeps the clients it makes, for ``stop_kernel`` to close."""
    from jupyter_client.manager import AsyncKernelManager

    class ClosingKernelManager(AsyncKernelManager):
        def client(self, **kwargs: Any) -> Any:
            made = super().client(**kwargs)
            self.__dict__.setdefault("_clients", []).append(made)
            return made

    return ClosingKernelManager


def _stop_clients(manager: AsyncKernelManager) -> None:
    for client in manager.__dict__.pop("_clients", []):
        try:
            client.stop_channels()
        except Exception as exc:  # a channel already closed
            _LOG.debug("kernel client: %s", exc)


def stop_kernel(manager: AsyncKernelManager, *, now: bool) -> None:
    """Stop the kernel (``now``: kill it, its notebook is written) and the clients it made;
    never raises."""
    from jupyter_core.utils import run_sync

    _stop_clients(manager)
    try:
        if manager.has_kernel:
            run_sync(manager.shutdown_kernel)(now=now)
    except Exception as exc:  # already gone: nothing to stop
        _LOG.debug("kernel shutdown: %s", exc)


@contextmanager
def warm_kernel(
    notebook: Path, *, preload: str, kernel_name: str = "python3"
) -> Iterator[WarmKernel | None]:
    """Start the kernel for ``notebook`` now, importing ``preload``; stop it on the way out.

    Nested use, and use while a ``KernelPool`` is open, is a no-op.

    A kernel that cannot start is logged and skipped: the notebook's own run reports the cause.
    """
    global _current
    if _current is not None or _pool is not None:
        yield None
        return
    scratch = Path(tempfile.mkdtemp(prefix="mlflow-monitor-kernel-"))
    try:
        warm: WarmKernel | None = WarmKernel(
            start_kernel(kernel_name, scratch, preload=preload), notebook.resolve()
        )
    except Exception as exc:
        _LOG.info("no warm kernel (%s: %s); a fresh one will be started", type(exc).__name__, exc)
        warm = None
    _current = warm
    try:
        yield warm
    finally:
        _current = None
        if warm is not None:
            stop_kernel(warm.manager, now=True)
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def window_kernel() -> Iterator[None]:
    """One window's shipped notebooks share one kernel inside; it is stopped on the way out.

    Nested use is a no-op (the outer block owns the kernel).
    """
    global _window
    if _window is not None:
        yield
        return
    _window = _Window()
    try:
        yield
    finally:
        window, _window = _window, None
        if window.manager is not None:
            stop_kernel(window.manager, now=True)


def keep(manager: AsyncKernelManager) -> bool:
    """Keep the kernel a shipped notebook just ran to its end in, for the window's next one;
    False (the caller stops it) outside ``window_kernel``."""
    if _window is None:
        return False
    _stop_clients(manager)  # the next notebook's run makes a client of its own
    if _window.manager is not None and _window.manager is not manager:
        stop_kernel(_window.manager, now=True)
    _window.manager = manager
    return True


def reuse() -> AsyncKernelManager | None:
    """The window's kept kernel if it is still alive (it is then the caller's to keep or stop)."""
    global reused
    if _window is None or _window.manager is None:
        return None
    from jupyter_core.utils import run_sync

    manager, _window.manager = _window.manager, None
    if not run_sync(manager.is_alive)() or not _fresh_namespace(manager):
        stop_kernel(manager, now=True)
        return None
    reused += 1
    return manager


# silent: the reset itself takes no cell number; the next notebook's first cell is In [1]
_FRESH = "get_ipython().run_line_magic('reset', '-f')\nget_ipython().execution_count = 1"


def _fresh_namespace(manager: AsyncKernelManager) -> bool:
    """Empty the kept kernel's namespace and reset its cell counter (its imports stay loaded:
    that is the saving), so the window's next notebook cannot read the last one's variables and
    reads as if run alone; False (do not reuse it) when the kernel does not answer."""
    from jupyter_core.utils import run_sync

    client = manager.client()
    client.start_channels()
    try:
        reply = run_sync(client.execute_interactive)(_FRESH, silent=True, timeout=30)
        return bool(reply["content"]["status"] == "ok")
    except Exception as exc:  # a kernel that does not answer gets no next notebook
        _LOG.warning("kept kernel not reset, not reused: %s", exc)
        return False
    finally:
        client.stop_channels()


def claim(notebook: Path) -> WarmKernel | None:
    """The warm kernel started for ``notebook`` if it is still alive and unclaimed (from the
    ``warm_kernel`` block, else from this process's open ``KernelPool``)."""
    warm = _current
    if warm is None or warm.claimed or warm.notebook != notebook.resolve():
        return _pool.take(notebook) if _pool is not None else None
    from jupyter_core.utils import run_sync

    if not run_sync(warm.manager.is_alive)():
        return None
    warm.claimed = True
    return warm
