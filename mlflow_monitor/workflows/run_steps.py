"""Steps shared by the workflows that write runs (baseline, window): echo, spec copy, failure,
card, rendered notebooks.

Each is one named step of ``build_baseline.build_baseline_run`` or ``monitor_window.run_window``.

``render_notebooks_html`` writes ``<name>.html`` beside each executed ``<name>.ipynb`` with
``adapters.notebook_html`` (nbconvert's lab template without the scripts it loads from a CDN),
because MLflow's artifact viewer shows HTML
rendered but an ``.ipynb`` only as JSON. It is an optional output: a failure is a note, never a
failed run. Measured on the demo's windows (2 shared cores, warm disk cache): about 0.3 s to
import nbconvert and load its template (once per process), 0.3 s for ``monitor.ipynb`` and
0.05-0.2 s for ``fairness_audit.ipynb``: 0.6-0.9 s added per window (each HTML file is 0.3-0.4
MB, mostly nbconvert's inline CSS), uploaded with the notebooks; the first run after installing
nbconvert also compiles its bytecode (about 3 s more, once).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import (
    SPEC_FILE,
    TAG_HEALTH,
    TAG_HEALTH_REASON,
    TAG_HEARTBEAT,
    TAG_RUN_NOTE,
    utc_now,
    utc_text,
)
from mlflow_monitor.errors import MonitorError
from mlflow_monitor.spec import MonitorSpec
from mlflow_monitor.workflows.model_cards import refresh_card

__all__ = [
    "HEARTBEAT_SECONDS",
    "Echo",
    "end_failed",
    "heartbeat",
    "note_artifacts",
    "now_ms",
    "quiet",
    "refresh_card_quietly",
    "render_notebooks_html",
    "spec_copy",
]

HEARTBEAT_SECONDS = 30.0

Echo = Callable[[str], None]
_LOG = logging.getLogger("mlflow_monitor.workflows")


def quiet(message: str) -> None:
    _LOG.info(message)


def end_failed(runs: MonitorRuns, run_id: str, reason: str, *, note: str | None = None) -> None:
    """End the run FAILED with its reason (and ``note`` as its description); never raises."""
    tags = {TAG_HEALTH: "error", TAG_HEALTH_REASON: reason}
    if note is not None:
        tags[TAG_RUN_NOTE] = note
    with contextlib.suppress(MonitorError):
        runs.set_run_tags(run_id, tags)
    try:
        runs.end_run(run_id, "FAILED")
    except MonitorError:
        _LOG.warning("run %s could not be ended FAILED now; the next run will do it", run_id)


def refresh_card_quietly(
    spec: MonitorSpec,
    version: str,
    run_id: str,
    tracking_uri: str,
    echo: Echo,
    *,
    card_dir: Path | None = None,
) -> bool:
    """Refresh the card (attached to ``run_id``); False, with a line, when it could not be."""
    try:
        refresh_card(
            spec, spec.model, str(version), run_id, tracking_uri=tracking_uri, card_dir=card_dir
        )  # a relative `card:` is read beside the spec
    except Exception as exc:  # a card problem never fails monitoring
        echo(f"[run] model card not refreshed: {type(exc).__name__}: {exc}")
        return False
    return True


def render_notebooks_html(folder: Path, echo: Echo) -> list[Path]:
    """``<name>.html`` beside each executed ``<name>.ipynb`` in ``folder`` (module docstring).

    Returns the files written; a notebook that cannot be rendered is skipped with a line.
    """
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    return [html for html in (_render(nb, echo) for nb in notebooks) if html]


def _render(notebook: Path, echo: Echo) -> Path | None:
    from mlflow_monitor.adapters.notebook_html import notebook_html

    try:
        target = notebook.with_suffix(".html")
        target.write_text(notebook_html(notebook), encoding="utf-8")
    except Exception as exc:  # an optional output never fails the run (nbconvert missing too)
        echo(f"[run] {notebook.name} not rendered to HTML: {type(exc).__name__}: {exc}")
        return None
    return target


def note_artifacts(out: Path, folders: Sequence[str]) -> tuple[str, ...]:
    """Artifact paths (``notebooks/monitor.ipynb``) of the files under ``out``'s ``folders``."""
    found = []
    for name in folders:
        folder = out / name
        if folder.is_dir():
            found += [f"{name}/{p.name}" for p in sorted(folder.iterdir()) if p.is_file()]
    return tuple(found)


def spec_copy(spec_path: str | Path, work: Path) -> Path:
    """The spec file as written (secrets still ``${ENV}``), named ``monitor.yaml``."""
    target = work / "spec" / SPEC_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(spec_path, target)
    return target


def now_ms() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1000)


@contextlib.contextmanager
def heartbeat(
    runs: MonitorRuns, run_id: str, *, every_seconds: float = HEARTBEAT_SECONDS
) -> Iterator[None]:
    """Tag the running attempt with a UTC heartbeat every ``every_seconds`` while it works.

    ``MonitorRuns.fail_abandoned_runs`` ends an attempt whose heartbeat stopped, from any host:
    a process id is only meaningful on the host that started it.
    """
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_seconds):
            with contextlib.suppress(Exception):  # a missed beat is not a failure
                runs.set_run_tags(run_id, {TAG_HEARTBEAT: utc_text(utc_now())})

    with contextlib.suppress(MonitorError):
        runs.set_run_tags(run_id, {TAG_HEARTBEAT: utc_text(utc_now())})
    thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
