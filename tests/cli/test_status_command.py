"""``mlflow-monitor status``: the table, ``--json``, ``-v``, a quoted model name, a closed stdout.

States are the contract's version tags and a real window run with ``results.json`` on a real
SQLite store (helpers of ``tests/workflows/test_status.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from click.testing import CliRunner, Result

from mlflow_monitor.cli import main
from tests.cli.conftest import console, console_env
from tests.workflows.test_status import END, add_versions, outcome, record_verdict

FINDINGS = [outcome(f"drift/c{i}", "fail") for i in range(5)]


def status(uri: str, *args: str) -> Result:
    result = CliRunner().invoke(main, ["status", "--tracking-uri", uri, *args])
    assert result.exit_code == 0, result.output
    return result


def test_json_lists_every_field_and_every_failing_check(tracking_uri: str, tmp_path: Path) -> None:
    add_versions(tracking_uri, "churn", 2, tmp_path)
    run_id = record_verdict(tracking_uri, "churn", "2", "critical", FINDINGS, tmp_path)

    rows = json.loads(status(tracking_uri, "--json").stdout)

    assert [(r["version"], r["health"]) for r in rows] == [("2", "critical"), ("1", "no baseline")]
    assert rows[0]["failing"] == [f"drift/c{i} (fail)" for i in range(5)]
    assert rows[0]["last_run_id"] == run_id and rows[0]["window_end"] == END
    assert set(rows[1]) == set(rows[0]) and rows[1]["failing"] == []


def test_verbose_lists_every_failing_check(tracking_uri: str, tmp_path: Path) -> None:
    add_versions(tracking_uri, "churn", 1, tmp_path)
    record_verdict(tracking_uri, "churn", "1", "critical", FINDINGS, tmp_path)

    short = status(tracking_uri).stdout
    full = status(tracking_uri, "-v").stdout

    assert short.splitlines()[1].endswith("drift/c2 (fail); +2 more")
    assert full.splitlines()[1].endswith("drift/c2 (fail); drift/c3 (fail); drift/c4 (fail)")
    assert "findings (5):\n    - drift/c0 (fail)\n" in full and "findings (" not in short


def test_a_model_name_with_a_quote(tracking_uri: str, tmp_path: Path) -> None:
    add_versions(tracking_uri, "o'brien", 1, tmp_path)
    add_versions(tracking_uri, "other", 1, tmp_path)
    record_verdict(tracking_uri, "o'brien", "1", "warning", FINDINGS[:1], tmp_path)

    _, line = status(tracking_uri, "--model", "o'brien").stdout.splitlines()

    assert line.split()[:5] == ["o'brien", "1", "-", "warning", END]


def test_a_closed_stdout_exits_quietly(tracking_uri: str, tmp_path: Path) -> None:
    """The reader went away before the table was printed: exit 0, nothing on stderr."""
    add_versions(tracking_uri, "churn", 1, tmp_path)
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            console("status", "--tracking-uri", tracking_uri),
            stdout=writer,
            stderr=subprocess.PIPE,
            env=console_env(),
            timeout=120,
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr.decode()) == (0, "")
