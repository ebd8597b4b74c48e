"""Paths in monitor.yaml: read from the spec's folder, refused outside it, never quoted.

``card`` and ``notebooks.extra`` name files that travel with the spec. A path that resolves
outside the spec's folder is a ``SpecError`` naming the key (exit 2, before MLflow is touched);
a file inside that is not a notebook fails by its name, with none of its bytes in the error,
the store or the version's tags. Real MLflow (SQLite) and the real CLI; no mocks.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from mlflow_monitor.cli import main
from mlflow_monitor.errors import SpecError
from mlflow_monitor.spec import load_spec, parse_spec, resolve_spec_path
from mlflow_monitor.workflows.model_cards import refresh_card

MODEL = "paths-model"
SPEC = {"model": MODEL, "task": "regression", "columns": {"prediction": "p"}}
NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _spec_folder(tmp_path: Path, **keys: object) -> Path:
    """``<tmp>/project/monitor.yaml`` with ``keys`` added; a real notebook beside ``project``."""
    folder = tmp_path / "project"
    folder.mkdir()
    (tmp_path / "outside.ipynb").write_text(json.dumps(NOTEBOOK))
    (folder / "monitor.yaml").write_text(json.dumps({**SPEC, **keys}))  # JSON is YAML
    return folder / "monitor.yaml"


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("extra", ["../outside.ipynb", "/etc/passwd"])
def test_an_extra_notebook_outside_the_spec_folder_is_refused_naming_the_key(
    tmp_path: Path, extra: str
) -> None:
    spec = _spec_folder(tmp_path, notebooks={"extra": ["ok.ipynb", extra]})
    with pytest.raises(SpecError) as refused:
        load_spec(spec)
    message = str(refused.value)
    assert message.startswith(f"{spec}: notebooks.extra: {extra!r} is outside the spec's folder")
    assert "root:" not in message


@pytest.mark.parametrize("card", ["../card.yaml", "/etc/passwd", "link.yaml"])
def test_a_card_outside_the_spec_folder_is_refused_naming_the_key(
    tmp_path: Path, card: str
) -> None:
    spec = _spec_folder(tmp_path, card=card)
    (tmp_path / "card.yaml").write_text("overview: elsewhere\n")
    (spec.parent / "link.yaml").symlink_to(tmp_path / "card.yaml")  # a link inside, to outside
    with pytest.raises(SpecError, match=rf"^{spec}: card: '{card}' is outside the spec's folder"):
        load_spec(spec)


def test_the_card_path_is_checked_where_the_card_is_read(tmp_path: Path) -> None:
    # A spec built in code (no file, so load_spec checked nothing): refused before MLflow.
    spec = parse_spec({**SPEC, "card": "../card.yaml"})
    store = tmp_path / "never.db"
    with pytest.raises(SpecError, match=r"^card: '\.\./card\.yaml' is outside the spec's folder"):
        refresh_card(spec, MODEL, "1", None, tracking_uri=f"sqlite:///{store}", card_dir=tmp_path)
    assert not store.exists()


def test_relative_spec_paths_are_read_in_the_spec_folder_wherever_run_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project"
    monkeypatch.chdir(tmp_path)  # the working directory is not the spec's folder
    found = resolve_spec_path("notebooks/../extra.ipynb", folder=folder, key="notebooks.extra")
    assert found == folder.resolve() / "extra.ipynb"
    inside = resolve_spec_path(str(folder / "card.yaml"), folder=folder, key="card")
    assert inside == folder.resolve() / "card.yaml"  # absolute, but inside: allowed


def test_run_refuses_an_outside_notebook_before_touching_mlflow(
    tmp_path: Path, tracking_uri: str
) -> None:
    spec = _spec_folder(tmp_path, notebooks={"extra": ["../outside.ipynb"]})
    current = tmp_path / "window.csv"
    current.write_text("p\n1.0\n")
    args = ["run", "--spec", str(spec), "--version", "1", "--current", str(current)]
    result = _cli(*args, "--tracking-uri", tracking_uri)
    assert result.exit_code == 2
    assert "notebooks.extra: '../outside.ipynb' is outside the spec's folder" in result.stderr
    client = MlflowClient(tracking_uri)
    assert [e.name for e in client.search_experiments()] == ["Default"]  # nothing created


def test_a_file_that_is_not_a_notebook_fails_by_name_without_its_bytes(
    tmp_path: Path, tracking_uri: str
) -> None:
    secret = f"root:x:0:0:{uuid.uuid4().hex}:/root:/bin/bash"
    spec = _spec_folder(tmp_path, notebooks={"extra": ["notes.ipynb"]})
    (spec.parent / "notes.ipynb").write_text(secret + "\n")
    current = tmp_path / "window.csv"
    current.write_text("p\n1.0\n2.0\n")
    client = _registered_with_baseline(tracking_uri)

    args = ["run", "--spec", str(spec), "--version", "1", "--current", str(current)]
    result = _cli(*args, "--tracking-uri", tracking_uri)

    assert result.exit_code == 2
    assert "notes.ipynb: not a Jupyter notebook (notebooks.extra)" in result.stderr
    assert "root:" not in result.output + result.stderr
    assert _window_runs(client) == []  # refused before any run
    everything = [*client.get_model_version(MODEL, "1").tags.values()]
    for run in client.search_runs(_experiments(client), run_view_type=ViewType.ALL):
        everything += [*run.data.tags.values(), *run.data.params.values()]
    assert not [text for text in everything if "root:" in text]


def _registered_with_baseline(tracking_uri: str) -> MlflowClient:
    """Version 1 of MODEL whose baseline tag points at an active run (what ``run`` checks first)."""
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment(f"monitor/{MODEL}")
    baseline = client.create_run(experiment, tags={"monitor.kind": "baseline"}).info.run_id
    client.set_terminated(baseline, "FINISHED")
    client.create_registered_model(MODEL)
    client.create_model_version(MODEL, f"runs:/{baseline}/model", run_id=baseline)
    client.set_model_version_tag(MODEL, "1", "monitor.baseline_run_id", baseline)
    return client


def _experiments(client: MlflowClient) -> list[str]:
    return [e.experiment_id for e in client.search_experiments()]


def _window_runs(client: MlflowClient) -> list[str]:
    query = "tags.`monitor.kind` = 'window'"
    runs = client.search_runs(_experiments(client), query, run_view_type=ViewType.ALL)
    return [r.info.run_id for r in runs]
