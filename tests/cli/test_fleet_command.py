"""``mlflow-monitor fleet run``: bad input is one line, exit 2, and nothing runs.

The fleet itself runs in tests/integration/test_fleet_run.py (real MLflow, papermill, workers).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mlflow.tracking import MlflowClient

from mlflow_monitor.cli import main
from mlflow_monitor.workflows.demo import write_demo_spec


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _runs(uri: str) -> int:
    client = MlflowClient(uri)
    return sum(len(client.search_runs([e.experiment_id])) for e in client.search_experiments())


@pytest.mark.parametrize(
    ("fleet", "line"),
    [
        ("log: log\nmodels:\n  - spec: churn/monitor.yaml\n    version: ['@champion']\n",
         "unknown key 'models.0.version'"),
        ("log: log\nmodels:\n  - spec: churn/monitor.yaml\n    versions: ['@champion']\n"
         "grace: soon\n", "grace: not a duration: 'soon' (use e.g. 30m, 24h, 7d)"),
        ("models:\n  - spec: gone/monitor.yaml\n    current: w.parquet\n",
         "models.0.spec: gone/monitor.yaml not found"),
    ],
)  # fmt: skip
def test_a_bad_fleet_file_is_one_line_exit_2_and_nothing_runs(
    tmp_path: Path, tracking_uri: str, fleet: str, line: str
) -> None:
    write_demo_spec(tmp_path / "churn" / "monitor.yaml")
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet)
    result = _cli("fleet", "run", str(path), "--tracking-uri", tracking_uri)
    assert result.exit_code == 2
    assert result.stderr == f"error: {path}: {line}\n"
    assert result.stdout == ""
    assert _runs(tracking_uri) == 0


def test_a_folder_of_specs_needs_the_log(tmp_path: Path, tracking_uri: str) -> None:
    write_demo_spec(tmp_path / "churn" / "monitor.yaml")
    result = _cli("fleet", "run", str(tmp_path), "--tracking-uri", tracking_uri)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {tmp_path}: a folder of specs reads its windows from the log: give --log\n"
    )
    bad = _cli("fleet", "run", str(tmp_path), "--log", "log", "--period", "daily")
    assert bad.exit_code == 2
    assert (
        bad.stderr
        == f"error: {tmp_path}: period: not a duration: 'daily' (use e.g. 30m, 24h, 7d)\n"
    )
    assert _runs(tracking_uri) == 0


def test_help_says_what_the_exit_codes_mean() -> None:
    result = _cli("fleet", "run", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert (
        "Exit 0 when every window ran (whatever its health), 1 with --fail-on tripped, "
        "2 when a window failed" in text
    )
    for option in ("--log", "--period", "--grace", "--concurrency", "--fail-on", "--report"):
        assert option in text
