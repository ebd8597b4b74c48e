"""Suite-wide settings: quiet, deterministic MLflow for every test."""

from __future__ import annotations

import os

# MLflow's telemetry thread sets and unsets an environment variable concurrently with requests
# (seen as KeyError '_MLFLOW_TELEMETRY_SESSION_ID'); artifact progress bars clutter CLI output.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
