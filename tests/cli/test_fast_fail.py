"""Every command fails fast when the tracking server is down (MLflow alone retries ~4 minutes).

The CLI runs as a child process against http://127.0.0.1:<a closed port>, with no MLflow HTTP
settings of its own in the environment: what it does is what the command sets.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.cli.conftest import console, console_env
from tests.integration.conftest import free_port


@pytest.mark.parametrize(
    "args",
    [
        ("promote", "--model", "churn", "--version", "1", "--alias", "champion"),
        ("history", "--model", "churn"),
    ],
    ids=["promote", "history"],
)
def test_an_unreachable_server_fails_within_seconds(args: tuple[str, ...]) -> None:
    uri = f"http://127.0.0.1:{free_port()}"  # bound, then released: nothing listens there
    started = time.monotonic()
    done = subprocess.run(
        console(*args, "--tracking-uri", uri),
        capture_output=True,
        text=True,
        env=console_env(),
        timeout=280,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    assert elapsed < 30
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(f"error: MLflow unreachable at {uri}")
    assert done.stdout == ""
