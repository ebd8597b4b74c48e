"""``--version @alias`` on every command that takes a version: baseline, run, card, promote.

The alias is read from the registry before the workflow starts (for baseline and run, of the
spec's model); an unknown alias is one line naming it and the model's aliases, exit 2, and
nothing is written.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from mlflow import MlflowClient

from mlflow_monitor.adapters.mlflow.models import resolve_version
from mlflow_monitor.cli import main
from mlflow_monitor.contract import TAG_BASELINE_RUN, TAG_HEALTH, TAG_LAST_RUN, experiment_name
from mlflow_monitor.errors import RegistryError
from mlflow_monitor.workflows.demo import MODEL_NAME
from tests.integration.conftest import Registered, write_spec
from tests.integration.flow import window_args
from tests.workflows.test_status import add_versions

GATES = "gates:\n  champion:\n    max_age: null\n"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def unknown_alias_args(spec: Path, uri: str, tmp_path: Path) -> dict[str, list[str]]:
    """Each command with ``--version @nope`` (and whatever else it requires)."""
    model, common = ["--model", MODEL_NAME], ["--version", "@nope", "--tracking-uri", uri]
    data = str(tmp_path / "data.parquet")
    return {
        "baseline": ["baseline", "--spec", str(spec), "--reference", data, *common],
        "run": ["run", "--spec", str(spec), "--current", data, *common],
        "card": ["card", *model, "--out", str(tmp_path / "card"), "--no-publish", *common],
        "promote": ["promote", *model, "--alias", "champion", *common],
    }


@pytest.mark.parametrize("command", ["baseline", "run", "card", "promote"])
def test_an_unknown_alias_is_one_line_and_changes_nothing(
    command: str, tracking_uri: str, tmp_path: Path
) -> None:
    add_versions(tracking_uri, MODEL_NAME, 2, tmp_path)
    client = MlflowClient(tracking_uri, tracking_uri)
    client.set_registered_model_alias(MODEL_NAME, "candidate", "2")
    client.set_registered_model_alias(MODEL_NAME, "champion", "1")
    spec = write_spec(tmp_path)

    result = cli(*unknown_alias_args(spec, tracking_uri, tmp_path)[command])

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: alias @nope not found for model '{MODEL_NAME}' "
        "(its aliases: @candidate, @champion)\n"
    )
    assert client.get_experiment_by_name(experiment_name(MODEL_NAME)) is None
    assert client.get_registered_model(MODEL_NAME).aliases == {"candidate": 2, "champion": 1}
    assert not (tmp_path / "card").exists()


def test_resolve_version(tracking_uri: str, tmp_path: Path) -> None:
    add_versions(tracking_uri, "plain", 3, tmp_path)
    MlflowClient(tracking_uri, tracking_uri).set_registered_model_alias("plain", "shadow", "2")

    assert resolve_version("plain", "@shadow", tracking_uri=tracking_uri) == "2"
    assert resolve_version("plain", "3", tracking_uri=tracking_uri) == "3"  # passes through
    with pytest.raises(RegistryError, match=r"^alias @gone not found .* \(its aliases: @shadow\)"):
        resolve_version("plain", "@gone", tracking_uri=tracking_uri)
    with pytest.raises(RegistryError, match=r"^model 'missing' not found in the registry"):
        resolve_version("missing", "@shadow", tracking_uri=tracking_uri)


@pytest.mark.integration
def test_every_version_option_takes_an_alias(registered: Registered, tmp_path: Path) -> None:
    """baseline, run, card and promote on ``@candidate``: each acts on the version it names."""
    client = MlflowClient(registered.uri, registered.uri)
    add_versions(registered.uri, "unrelated", 1, tmp_path)  # other models' aliases don't count
    client.set_registered_model_alias(MODEL_NAME, "candidate", registered.version)
    registered.spec.write_text(registered.spec.read_text() + GATES)  # the demo's windows are old
    reg = dataclasses.replace(registered, version="@candidate")
    version = registered.version

    baseline = cli("baseline", "--spec", str(reg.spec), "--version", "@candidate",
                   "--reference", str(reg.data.reference), "--tracking-uri", reg.uri)  # fmt: skip
    assert baseline.exit_code == 0, baseline.stderr
    assert f"{MODEL_NAME}@candidate is version {version}" in baseline.stderr
    assert TAG_BASELINE_RUN in client.get_model_version(MODEL_NAME, version).tags

    run = cli(*window_args(reg, "stable"))
    assert run.exit_code == 0, run.stderr
    tags = client.get_model_version(MODEL_NAME, version).tags
    assert tags[TAG_HEALTH] == "healthy"
    assert client.get_run(tags[TAG_LAST_RUN]).data.tags["monitor.model_version"] == version

    out = tmp_path / "card"
    card = cli("card", "--model", MODEL_NAME, "--version", "@candidate", "--out", str(out),
               "--no-publish", "--tracking-uri", reg.uri)  # fmt: skip
    assert card.exit_code == 0, card.stderr
    assert (out / "model_card.md").is_file()

    promote = cli("promote", "--model", MODEL_NAME, "--version", "@candidate", "--alias",
                  "champion", "--spec", str(reg.spec), "--tracking-uri", reg.uri)  # fmt: skip
    assert promote.exit_code == 0, promote.stderr
    assert f"{MODEL_NAME}@champion -> version {version}" in promote.stdout
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == version
