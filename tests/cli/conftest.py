"""Fixtures of the CLI tests: the churn story of the integration tests, and how to start the CLI.

``churn``, ``registered`` and ``with_baseline`` are the integration fixtures (the demo's model,
data and spec on the ``tracking_uri`` SQLite store), re-exported here. ``console`` is the
executable as a child process of this tree, in an environment without the HTTP settings the
in-process commands set, so a child shows what the command itself does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.integration.conftest import churn, registered, with_baseline

__all__ = ["churn", "console", "console_env", "registered", "with_baseline"]

ROOT = Path(__file__).resolve().parents[2]
_SET_BY_COMMANDS = (
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT",
    "MLFLOW_TRACKING_URI",
)


def console(*args: str) -> list[str]:
    """The argv of ``mlflow-monitor ARGS`` run from this tree (``cli.console``, as installed)."""
    return [sys.executable, "-c", "from mlflow_monitor.cli import console; console()", *args]


def console_env() -> dict[str, str]:
    """This process's environment without what commands set for themselves; this tree first."""
    env = {k: v for k, v in os.environ.items() if k not in _SET_BY_COMMANDS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env
