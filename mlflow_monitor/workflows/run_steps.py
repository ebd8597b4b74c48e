"""Steps shared by the workflows that write runs (baseline, window): echo, spec copy, failure, card.

Each is one named step of ``build_baseline.build_baseline_run`` or ``monitor_window.run_window``.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import SPEC_FILE, TAG_HEALTH, TAG_HEALTH_REASON
from mlflow_monitor.errors import MonitorError
from mlflow_monitor.spec import MonitorSpec
from mlflow_monitor.workflows.model_cards import refresh_card

__all__ = ["Echo", "end_failed", "now_ms", "quiet", "refresh_card_quietly", "spec_copy"]

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
