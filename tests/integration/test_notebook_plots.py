"""Plots in the audit trail, on a real SQLite store: the executed monitor.ipynb shows the figures
as images, the run keeps them as ``plots/*.png``, and the card HTML embeds the trends."""

from __future__ import annotations

import base64
import json
import re
import tempfile
from pathlib import Path

import nbformat
import pytest
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.plots import MAX_DRIFT_PLOTS, trend_plot
from mlflow_monitor.contract import RESULTS_FILE
from mlflow_monitor.workflows.version_trends import ArtifactCache, version_trends
from tests.integration.conftest import Registered
from tests.integration.flow import MODEL, run_window

pytestmark = pytest.mark.integration


def _download(client: MlflowClient, run_id: str, path: str, folder: Path) -> Path:
    return Path(client.download_artifacts(run_id, path, str(folder)))


def test_a_window_run_logs_its_figures_and_the_card_embeds_the_trends(
    with_baseline: Registered, tmp_path: Path
) -> None:
    for name in ("stable", "drifted"):
        result = run_window(with_baseline, name)
        assert result.exit_code == 0, result.stderr
    client = MlflowClient(with_baseline.uri)
    run_id = client.get_model_version(MODEL, with_baseline.version).tags["monitor.last_run_id"]
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    results = json.loads(_download(client, run_id, RESULTS_FILE, folder).read_text())
    assert not [n for n in results["notes"] if n.startswith("plots:")]

    # the run keeps a figure per drifted column (the worst eight), performance, groups, trends
    drift = [*results["drift"]["columns"], *results["prediction_drift"]["columns"]]
    drifted = {c["column"] for c in drift if c["drifted"]}
    assert {"monthly_charges", "contract"} <= drifted
    logged = {Path(f.path).name for f in client.list_artifacts(run_id, "plots")}
    drawn = {name.removeprefix("drift_").removesuffix(".png") for name in logged}
    assert len(logged & {f"drift_{c}.png" for c in drifted}) == min(len(drifted), MAX_DRIFT_PLOTS)
    assert {"performance", "groups_gender", "trends"} <= drawn
    png = _download(client, run_id, "plots/trends.png", folder).read_bytes()
    assert png.startswith(b"\x89PNG")

    # the executed notebook shows the same figures as images
    notebook = nbformat.read(
        _download(client, run_id, "notebooks/monitor.ipynb", folder), as_version=4
    )
    (cell,) = [c for c in notebook.cells if c.get("id") == "plots"]
    images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == len(logged)
    shown = {base64.b64decode(o["data"]["image/png"]) for o in images}
    assert png in shown
    # the notebook's trends: the previous window (written by the workflow) and this one
    printed = "".join(o.get("text", "") for o in cell.outputs)
    assert f"plots/trends.png: {MODEL}: last 2 windows" in printed

    # the trends cross where the drifted window's checks fired; the card embeds them
    trends = version_trends(
        MODEL, version=with_baseline.version, tracking_uri=with_baseline.uri, cache=ArtifactCache()
    )
    plot = trend_plot(trends)
    assert plot is not None and plot.data.healths == ("healthy", "warning")
    end = with_baseline.data.ends["drifted"]
    assert all(ends == (end,) for ends in plot.data.crossed.values())
    assert any(plot.data.crossed.values())
    html = _download(client, run_id, "model_card.html", folder).read_text()
    assert '<h3 id="trends">Trends</h3>' in html
    (image,) = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"', html)
    assert base64.b64decode(image[0]).startswith(b"\x89PNG")
    assert f"crossed in {end}" in image[1]
