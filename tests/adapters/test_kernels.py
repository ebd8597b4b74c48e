"""kernels.py: a kernel started ahead of its notebook is the one papermill runs it in."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from mlflow_monitor.adapters.notebooks.execute import run_notebook, shipped_notebook
from mlflow_monitor.adapters.notebooks.kernels import warm_kernel
from mlflow_monitor.workflows import WINDOW_PRELOAD
from tests.fixtures.notebooks import write_notebook

_EVALUATION = "mlflow_monitor.verdicts.evaluation"
_PROBE = (
    "import os, sys\nloaded = "
    + repr(_EVALUATION)
    + " in sys.modules\nprint(f'PROBE {os.getpid()} {loaded}')"
)


def _probe_notebook(path: Path) -> Path:
    return write_notebook(path, 'output_dir = "."', _PROBE)


def _probe(executed: Path) -> tuple[int, bool]:
    """The kernel's pid and whether the statistics core was loaded before the cell ran."""
    cells = json.loads(executed.read_text())["cells"]
    text = "".join("".join(o.get("text", "")) for c in cells for o in c.get("outputs", []))
    pid, loaded = text.split("PROBE ")[1].split()[:2]
    return int(pid), loaded == "True"


def _kernel_pid(warm: object) -> int:
    return int(warm.manager.provisioner.process.pid)  # type: ignore[attr-defined]


def test_notebook_runs_in_its_warm_kernel_with_the_imports_loaded(tmp_path: Path) -> None:
    source = _probe_notebook(tmp_path / "probe.ipynb")
    with warm_kernel(source, preload=WINDOW_PRELOAD) as warm:
        assert warm is not None
        pid = _kernel_pid(warm)
        run_notebook(source, tmp_path / "out.ipynb", {"output_dir": "x"}, timeout_seconds=120)
        ran_in, preloaded = _probe(tmp_path / "out.ipynb")
        assert (ran_in, preloaded) == (pid, True)
        assert not warm.manager.has_kernel  # shut down as soon as its notebook is done


def test_other_notebooks_get_a_fresh_kernel(tmp_path: Path) -> None:
    reserved = _probe_notebook(tmp_path / "reserved.ipynb")
    other = _probe_notebook(tmp_path / "other.ipynb")
    with warm_kernel(reserved, preload=WINDOW_PRELOAD) as warm:
        assert warm is not None
        pid = _kernel_pid(warm)
        run_notebook(other, tmp_path / "out.ipynb", {"output_dir": "x"}, timeout_seconds=120)
        ran_in, preloaded = _probe(tmp_path / "out.ipynb")
        assert ran_in != pid and not preloaded
        assert warm.manager.has_kernel  # still reserved for its own notebook
    assert not warm.manager.has_kernel  # and stopped when the block ends


def test_a_dead_warm_kernel_falls_back_to_a_fresh_one(tmp_path: Path) -> None:
    source = _probe_notebook(tmp_path / "probe.ipynb")
    with warm_kernel(source, preload=WINDOW_PRELOAD) as warm:
        assert warm is not None
        pid = _kernel_pid(warm)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        run_notebook(source, tmp_path / "out.ipynb", {"output_dir": "x"}, timeout_seconds=120)
        ran_in, _ = _probe(tmp_path / "out.ipynb")
        assert ran_in != pid


def test_nested_use_starts_no_second_kernel(tmp_path: Path) -> None:
    source = _probe_notebook(tmp_path / "probe.ipynb")
    with (
        warm_kernel(source, preload=WINDOW_PRELOAD) as outer,
        warm_kernel(source, preload=WINDOW_PRELOAD) as inner,
    ):
        assert outer is not None and inner is None


def test_preload_covers_the_imports_of_the_monitoring_notebook() -> None:
    cells = json.loads(shipped_notebook("monitor.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    names = set(re.findall(r"^import (\w+)", code, re.M))
    for package, imported in re.findall(r"^from (mlflow_monitor[\w.]*) import (.+)$", code, re.M):
        for name in (n.strip() for n in imported.split(",")):
            module = f"{package}.{name}"
            names.add(module if _is_module(module) else package)
    names.discard("pathlib")
    assert {
        "pandas",
        "mlflow_monitor.verdicts.evaluation",
        "mlflow_monitor.adapters.evidently_reports",
        "mlflow_monitor.workflows.compliance_audit",
    } <= names
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {WINDOW_PRELOAD}; print(*sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert names <= set(loaded)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent is a module, not a package: `name` is an attribute
        return False


def test_kernels_use_local_sockets_unless_the_path_is_too_long() -> None:
    from mlflow_monitor.adapters.notebooks.kernels import _transport

    short_dir = Path(tempfile.mkdtemp(prefix="rt-"))  # pytest's tmp_path is too long a name
    try:
        short = _transport(short_dir / "rt")
        assert short["transport"] == "ipc"
        assert Path(short["ip"]).is_absolute() and Path(short["ip"]).parent == short_dir / "rt"
        assert (short_dir / "rt").is_dir()
        assert _transport(short_dir / ("x" * 120)) == {"transport": "tcp"}
    finally:
        shutil.rmtree(short_dir)


def test_no_kernel_client_is_left_running(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """nbclient leaves running the client of a manager it was handed; stop_kernel stops it."""
    import gc
    import logging

    from jupyter_client.client import KernelClient

    other = _probe_notebook(tmp_path / "other.ipynb")
    with caplog.at_level(logging.DEBUG):
        for index in range(2):
            run_notebook(
                other, tmp_path / f"out{index}.ipynb", {"output_dir": "x"}, timeout_seconds=120
            )
        gc.collect()
    running = [o for o in gc.get_objects() if isinstance(o, KernelClient) and o.channels_running]
    assert running == []
    assert "Could not destroy zmq context" not in caplog.text


def test_a_pool_hands_out_kernels_started_ahead_and_starts_the_next(tmp_path: Path) -> None:
    from mlflow_monitor.adapters.notebooks.kernels import KernelPool

    source = _probe_notebook(tmp_path / "probe.ipynb")
    other = _probe_notebook(tmp_path / "other.ipynb")
    pool = KernelPool({source: WINDOW_PRELOAD}).open()
    try:
        with warm_kernel(source, preload=WINDOW_PRELOAD) as nested:
            assert nested is None  # the pool serves this process
        ran = []
        for index in range(2):
            ahead = _kernel_pid(pool._ready[source.resolve()])  # type: ignore[arg-type]
            out = tmp_path / f"out{index}.ipynb"
            run_notebook(source, out, {"output_dir": "x"}, timeout_seconds=120)
            ran.append(_probe(out))
            assert ran[-1] == (ahead, True)  # the kernel started ahead, imports loaded
        assert ran[0][0] != ran[1][0]  # one kernel per notebook run: no state between them
        run_notebook(other, tmp_path / "fresh.ipynb", {"output_dir": "x"}, timeout_seconds=120)
        assert _probe(tmp_path / "fresh.ipynb")[1] is False  # not the pool's notebook
        assert (pool.started, pool.claimed) == (3, 2)
        waiting = pool._ready[source.resolve()]
    finally:
        pool.close()
    assert not waiting.manager.has_kernel  # the unused kernel is stopped with the pool


def test_a_window_kernel_serves_the_window_s_next_notebook_and_stops_with_the_window(
    tmp_path: Path,
) -> None:
    """keep/reuse: one kernel per window (fairness_audit.ipynb after monitor.ipynb), never two."""
    from jupyter_core.utils import run_sync

    from mlflow_monitor.adapters.notebooks import kernels

    manager = kernels.start_kernel("python3", tmp_path)
    try:
        assert kernels.keep(manager) is False  # outside a window: the caller stops it
        assert kernels.reuse() is None
        before = kernels.reused
        with kernels.window_kernel():
            assert kernels.reuse() is None  # the window's first notebook: nothing kept yet
            assert kernels.keep(manager) is True
            with kernels.window_kernel():  # nested: the outer block owns the kernel
                pass
            assert run_sync(manager.is_alive)()
            assert kernels.reuse() is manager  # the next notebook runs in it
            assert kernels.reuse() is None  # handed out once
            assert kernels.keep(manager) is True  # kept again after that notebook
        assert kernels.reused == before + 1
        assert not manager.has_kernel  # stopped with its window: no state reaches the next one
        assert kernels.reuse() is None
    finally:
        kernels.stop_kernel(manager, now=True)


def test_a_dead_window_kernel_is_not_reused(tmp_path: Path) -> None:
    from jupyter_core.utils import run_sync

    from mlflow_monitor.adapters.notebooks import kernels

    manager = kernels.start_kernel("python3", tmp_path)
    try:
        with kernels.window_kernel():
            kernels.keep(manager)
            run_sync(manager.shutdown_kernel)(now=True)
            assert kernels.reuse() is None  # the next notebook gets a kernel of its own
    finally:
        kernels.stop_kernel(manager, now=True)


def _execute(manager: object, code: str) -> dict[str, object]:
    """Run ``code`` in the kernel; its reply content and its ``execute_input`` cell number."""
    from jupyter_core.utils import run_sync

    client = manager.client()  # type: ignore[attr-defined]
    client.start_channels()
    inputs: list[int] = []

    def seen(message: dict[str, Any]) -> None:
        if message["header"]["msg_type"] == "execute_input":
            inputs.append(message["content"]["execution_count"])

    try:
        reply = run_sync(client.execute_interactive)(code, timeout=60, output_hook=seen)
    finally:
        client.stop_channels()
    return {**reply["content"], "input_count": inputs[0] if inputs else None}


def test_a_reused_window_kernel_starts_with_an_empty_namespace_and_cell_one(
    tmp_path: Path,
) -> None:
    """The window's next notebook cannot read the last one's variables; its cells start at 1."""
    from mlflow_monitor.adapters.notebooks import kernels

    manager = kernels.start_kernel("python3", tmp_path, preload="json")
    try:
        with kernels.window_kernel():
            first = _execute(manager, "secret = 41\nimport math")
            assert first["status"] == "ok"
            assert _execute(manager, "secret + 1")["input_count"] == 2
            kernels.keep(manager)
            again = kernels.reuse()
            assert again is manager
            after = _execute(manager, "secret")
            assert after["status"] == "error" and after["ename"] == "NameError"
            assert after["input_count"] == 1
            import_again = _execute(manager, "import sys; assert 'json' in sys.modules")
            assert import_again["status"] == "ok"  # loaded modules stay: the saving
    finally:
        kernels.stop_kernel(manager, now=True)
