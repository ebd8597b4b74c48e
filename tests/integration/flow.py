"""The pipeline flow shared by the SQLite, HTTP and PostgreSQL tests, with its assertions."""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import nbformat
from click.testing import CliRunner, Result
from mlflow.tracking import MlflowClient

from mlflow_monitor.cli import main
from mlflow_monitor.contract import (
    RESULTS_FILE,
    RESULTS_SCHEMA_VERSION,
    WindowResults,
    safe_metric_name,
)
from tests.integration.conftest import Registered

MODEL = "churn-classifier"
EXECUTABLE = str(Path(sys.executable).parent / "mlflow-monitor")


def cli(*args: str) -> Result:
    """Invoke ``mlflow-monitor`` in-process; stdout and stderr apart."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def attach_baseline(reg: Registered, reference: Path | None = None) -> str:
    result = cli(
        "baseline",
        "--spec",
        str(reg.spec),
        "--version",
        reg.version,
        "--reference",
        str(reference or reg.data.reference),
        "--tracking-uri",
        reg.uri,
    )
    assert result.exit_code == 0, result.stderr
    client = MlflowClient(reg.uri)
    run_id = client.get_model_version(MODEL, reg.version).tags["monitor.baseline_run_id"]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["monitor.kind"] == "baseline"
    assert run.data.tags["monitor.model_version"] == reg.version
    assert run.data.metrics["perf/roc_auc"] > 0.7
    names = {f.path for f in client.list_artifacts(run_id, "baseline")}
    assert names == {"baseline/baseline.json", "baseline/sample.parquet"}
    notebook = _download(client, run_id, "notebooks/baseline.ipynb")
    assert _outputs(notebook) >= 3
    return run_id


def run_args(reg: Registered, current: Path, *extra: str) -> list[str]:
    """Arguments of ``mlflow-monitor run`` for ``reg`` on the data file ``current``."""
    return [
        "run",
        "--spec",
        str(reg.spec),
        "--version",
        reg.version,
        "--current",
        str(current),
        "--tracking-uri",
        reg.uri,
        *extra,
    ]


def window_args(reg: Registered, name: str, *extra: str) -> list[str]:
    """``run_args`` for one of the churn windows, with its start and end."""
    window = ("--window-start", reg.data.starts[name], "--window-end", reg.data.ends[name])
    return run_args(reg, reg.data.windows[name], *window, *extra)


def run_window(reg: Registered, name: str, *extra: str) -> Result:
    return cli(*window_args(reg, name, *extra))


def check_window(reg: Registered, name: str, *, exit_code: int = 0) -> dict[str, object]:
    """Run one window (``--fail-on critical``) and assert the whole contract; its results.json."""
    result = run_window(reg, name, "--fail-on", "critical")
    assert result.exit_code == exit_code, result.stderr
    expected = reg.data.expected[name]
    assert f": {expected} (run " in result.stdout
    client = MlflowClient(reg.uri)
    tags = client.get_model_version(MODEL, reg.version).tags
    assert tags["monitor.health"] == expected
    datetime.fromisoformat(tags["monitor.last_checked"].replace("Z", "+00:00"))
    run = client.get_run(tags["monitor.last_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["monitor.kind"] == "window"
    assert run.data.tags["monitor.health"] == expected
    assert run.data.tags["monitor.model_name"] == MODEL
    assert run.data.tags["monitor.window_end"] == reg.data.ends[name]
    end_ms = int(
        datetime.fromisoformat(reg.data.ends[name].replace("Z", "+00:00")).timestamp() * 1000
    )
    for metric in (
        "perf/roc_auc",
        "drift/share_drifted",
        "drift/monthly_charges/wasserstein",
        "quality/age/missing_share",
        "segment/region=north/roc_auc",
    ):
        points = client.get_metric_history(run.info.run_id, safe_metric_name(metric))
        assert [p.timestamp for p in points] == [end_ms], metric
    results = json.loads(_download(client, run.info.run_id, RESULTS_FILE).read_text())
    assert results["health"] == expected
    read = WindowResults.from_dict(results)  # the contract's one reader
    assert read.schema_version == RESULTS_SCHEMA_VERSION and read.health == expected
    assert read.to_dict()["outcomes"] == results["outcomes"]
    assert dict((m.name, m.value) for m in read.metrics) == results["metrics"]
    assert results["rows"] == 3000
    assert {o["status"] for o in results["outcomes"]} <= {
        "pass",
        "warn",
        "fail",
        "insufficient_data",
    }
    notebook = _download(client, run.info.run_id, "notebooks/monitor.ipynb")
    assert _outputs(notebook) >= 5
    assert f"health: {expected}" in notebook.read_text()
    for report in ("reports/data_drift.html", "reports/classification.html"):
        html = _download(client, run.info.run_id, report).read_text()
        assert len(html) > 100_000 and "<html" in html.lower(), report
    spec = _download(client, run.info.run_id, "monitor.yaml").read_text()
    assert "model: churn-classifier" in spec
    return results


def status(outcomes: dict[str, object], check_id: str) -> str:
    found = [o for o in outcomes["outcomes"] if o["check_id"] == check_id]  # type: ignore[attr-defined]
    assert len(found) == 1, check_id
    return str(found[0]["status"])


def _download(client: MlflowClient, run_id: str, path: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="mm-test-"))
    return Path(client.download_artifacts(run_id, path, str(folder)))


def _outputs(path: Path) -> int:
    notebook = nbformat.read(path, as_version=4)
    return sum(len(c.get("outputs", [])) for c in notebook.cells if c.cell_type == "code")
