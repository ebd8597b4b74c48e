"""Steps shared by the workflows that write runs (baseline, window): echo, spec copy, failure, card.

Each is one named step of ``build_baseline.build_baseline_run`` or ``monitor_window.run_window``.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import (
    SPEC_FILE,
    TAG_HEALTH,
    TAG_HEALTH_REASON,
    TAG_HEARTBEAT,
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
    "now_ms",
    "quiet",
    "refresh_card_quietly",
    "spec_copy",
]

HEARTBEAT_SECONDS = 30.0

Echo = Callable[[str], None]
_LOG = logging.getLogger("mlflow_monitor.workflows")


def quiet(message: str) -> None:
    _LOG.info(message)


def end_failed(runs: MonitorRuns, run_id: str, reason: str) -> None:
    with contextlib.suppress(MonitorError):
        runs.set_run_tags(run_id, {TAG_HEALTH: "error", TAG_HEALTH_REASON: reason})
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
) -> None:
    try:
        refresh_card(
            spec, spec.model, str(version), run_id, tracking_uri=tracking_uri, card_dir=card_dir
        )  # a relative `card:` is read beside the spec
    except Exception as exc:  # a card problem never fails monitoring
        echo(f"[run] model card not refreshed: {type(exc).__name__}: {exc}")


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
