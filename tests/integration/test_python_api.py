"""The Python API against real MLflow: one window via ``mm.monitor`` and via ``mlflow-monitor run``.

The audit record must not depend on the entry point: the same window through both gives equal
``results.json`` (timestamps aside) and the same artifact list; the in-memory ``mm.evaluate``
gives the same outcomes; ``status``, ``history`` and ``card`` read what was logged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

import mlflow_monitor as mm
from tests.integration.conftest import Registered
from tests.integration.flow import cli

MODEL = "churn-classifier"
WINDOW = "drifted"


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def _json(client: MlflowClient, run_id: str, path: str, tmp: Path) -> dict[str, object]:
    local = client.download_artifacts(run_id, path, str(tmp))
    body: dict[str, object] = json.loads(Path(local).read_text())
    return body


def _without_times(body: dict[str, object]) -> dict[str, object]:
    """``results.json`` with the fields that record when it was computed removed."""
    text = json.dumps(body, sort_keys=True)
    clean: dict[str, object] = json.loads(text)
    for key in ("created_at", "computed_at"):
        clean.pop(key, None)
    return clean


@pytest.mark.integration
def test_one_window_through_the_api_and_the_cli_leaves_the_same_record(
    registered: Registered, tmp_path: Path
) -> None:
    data, uri = registered.data, registered.uri
    spec = mm.load_spec(registered.spec)
    attached = mm.attach_baseline(
        spec=spec,
        version=registered.version,
        reference=pd.read_parquet(data.reference),
        tracking_uri=uri,
    )
    assert attached.rows == len(pd.read_parquet(data.reference))
    assert "baseline" in attached._repr_html_().lower()

    window = [
        "--window-start", data.starts[WINDOW], "--window-end", data.ends[WINDOW],
    ]  # fmt: skip
    by_cli = cli(
        "run", "--spec", str(registered.spec), "--version", registered.version,
        "--current", str(data.windows[WINDOW]), "--tracking-uri", uri, *window,
    )  # fmt: skip
    assert by_cli.exit_code == 0, by_cli.stderr
    client = MlflowClient(uri)
    cli_run = client.get_model_version(MODEL, registered.version).tags["monitor.last_run_id"]

    frame = pd.read_parquet(data.windows[WINDOW])
    by_api = mm.monitor(
        spec=spec,  # an object: staged as monitor.yaml with its card, the frame as parquet
        version=registered.version,
        current=frame,
        window_start=data.starts[WINDOW],
        window_end=data.ends[WINDOW],
        tracking_uri=uri,
    )
    assert by_api.run_id != cli_run
    assert by_api.health == data.expected[WINDOW]

    # the same record: results.json equal (timestamps aside), the same artifacts
    cli_results = _json(client, cli_run, "results.json", tmp_path / "cli")
    api_results = _json(client, by_api.run_id, "results.json", tmp_path / "api")
    assert _without_times(api_results) == _without_times(cli_results)
    assert _artifacts(client, by_api.run_id) == _artifacts(client, cli_run)
    specs = [
        yaml.safe_load(
            Path(client.download_artifacts(r, "monitor.yaml", str(tmp_path / r))).read_text()
        )
        for r in (cli_run, by_api.run_id)
    ]
    assert mm.make_spec(**specs[0]) == mm.make_spec(**specs[1])

    # the typed result agrees with what was logged, and renders
    assert (
        by_api.results is not None
        and by_api.results.to_dict()["outcomes"] == api_results["outcomes"]
    )
    table = by_api.to_frame()
    assert len(table) == len(api_results["outcomes"])  # type: ignore[arg-type]
    assert set(table["status"]) >= {"pass"}
    assert by_api.to_dict()["run_id"] == by_api.run_id
    assert data.expected[WINDOW] in by_api._repr_html_()

    # the same judgement in memory, without MLflow
    baseline = mm.build_baseline(spec=spec, reference=pd.read_parquet(data.reference))
    in_memory = mm.evaluate(
        spec=spec,
        baseline=baseline,
        current=frame,
        window_start=data.starts[WINDOW],
        window_end=data.ends[WINDOW],
        version=registered.version,
    )
    assert in_memory.to_dict()["outcomes"] == api_results["outcomes"]
    assert in_memory.health == by_api.health

    # the registry views read the verdict: the API run superseded the CLI run of its window
    status = mm.status(model=MODEL, tracking_uri=uri)
    assert [(r.version, r.verdict) for r in status.rows] == [(registered.version, by_api.health)]
    assert list(status.to_frame()["health"]) == [by_api.health]
    history = mm.history(model=MODEL, version=registered.version, tracking_uri=uri)
    assert [w.run_id for w in history.windows] == [by_api.run_id]
    trend = history.to_frame()
    assert trend.loc[0, "health"] == by_api.health
    assert trend.loc[0, "perf/roc_auc"] == pytest.approx(
        dict((m.name, m.value) for m in by_api.results.metrics)["perf/roc_auc"]
    )
    assert "<svg" in history._repr_html_()
    card = mm.card(model=MODEL, version=registered.version, tracking_uri=uri, publish=False)
    assert MODEL in card.markdown and "<iframe" in card._repr_html_()

    # the gate refuses a warning (and stale) version; an override is audited
    with pytest.raises(mm.GateRefused) as refused:
        mm.promote(
            model=MODEL, version=registered.version, alias="champion", spec=spec, tracking_uri=uri
        )
    assert any("warning" in line for line in refused.value.reasons)
    assert refused.value.__notes__ == [f"  - {line}" for line in refused.value.reasons]
    forced = mm.promote(
        model=MODEL, version=registered.version, alias="champion", spec=spec,
        force=True, reason="api test", tracking_uri=uri,
    )  # fmt: skip
    assert forced.forced and forced.to_dict()["override_reason"] == "api test"
    assert "forced" in forced._repr_html_()
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == registered.version


@pytest.mark.integration
def test_bad_dataframe_creates_no_run(registered: Registered) -> None:
    spec = mm.load_spec(registered.spec)
    reference = pd.read_parquet(registered.data.reference)
    with pytest.raises(mm.DataError, match=r"the reference DataFrame: missing column 'region'"):
        mm.attach_baseline(
            spec=spec,
            version=registered.version,
            reference=reference.drop(columns=["region"]),
            tracking_uri=registered.uri,
        )
    unnamed = spec.model_copy(update={"model": ""})
    with pytest.raises(mm.SpecError, match=r"model: names no registered model"):
        mm.monitor(
            spec=unnamed, version=registered.version, current=reference, tracking_uri=registered.uri
        )
    window = pd.read_parquet(registered.data.windows["stable"])
    with pytest.raises(mm.DataError, match=r"the window DataFrame: the window is empty"):
        mm.monitor(
            spec=spec,
            version=registered.version,
            current=window,
            window_start="2030-01-01T00:00:00Z",
            window_end="2030-01-08T00:00:00Z",
            tracking_uri=registered.uri,
        )
    with pytest.raises(mm.RegistryError, match=r"model 'no-such-model': no registered versions"):
        mm.history(model="no-such-model", tracking_uri=registered.uri)
    client = MlflowClient(registered.uri)
    assert client.get_experiment_by_name(f"monitor/{MODEL}") is None
    assert "monitor.baseline_run_id" not in client.get_model_version(MODEL, registered.version).tags
