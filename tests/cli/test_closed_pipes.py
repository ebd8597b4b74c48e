"""A reader that goes away never changes state: ``mlflow-monitor run ... | head -1``.

The run is a real child process on a real SQLite store (the churn story's stable window), its
stdout and stderr pipes closed by the reader before the command writes anything: every line it
prints then fails with ``BrokenPipeError``. The window must still be recorded as it would be
with a reader: the healthy verdict, no error, the run FINISHED, exit 0.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from mlflow import MlflowClient

from mlflow_monitor.contract import TAG_HEALTH, TAG_LAST_ERROR, TAG_LAST_RUN, TAG_WINDOW_END
from mlflow_monitor.workflows.demo import MODEL_NAME
from tests.cli.conftest import console, console_env
from tests.integration.conftest import Registered
from tests.integration.flow import window_args

pytestmark = pytest.mark.integration


def closed_pipe() -> int:
    """The write end of a pipe whose reader is already gone."""
    reader, writer = os.pipe()
    os.close(reader)
    return writer


def test_a_run_whose_reader_went_away_records_its_verdict(with_baseline: Registered) -> None:
    stdout, stderr = closed_pipe(), closed_pipe()
    try:
        done = subprocess.run(
            console(*window_args(with_baseline, "stable")),
            stdout=stdout,
            stderr=stderr,
            env=console_env(),
            timeout=600,
        )
    finally:
        os.close(stdout)
        os.close(stderr)

    assert done.returncode == 0
    client = MlflowClient(with_baseline.uri, with_baseline.uri)
    tags = client.get_model_version(MODEL_NAME, with_baseline.version).tags
    assert tags[TAG_HEALTH] == "healthy"
    assert tags[TAG_WINDOW_END] == with_baseline.data.ends["stable"]
    assert TAG_LAST_ERROR not in tags
    run = client.get_run(tags[TAG_LAST_RUN])
    assert (run.info.status, run.data.tags[TAG_HEALTH]) == ("FINISHED", "healthy")
