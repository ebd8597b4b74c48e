"""A spec object staged for the CLI's workflow: secrets stay ``${ENV}``, named files travel."""

from __future__ import annotations

from pathlib import Path

import pytest

import mlflow_monitor as mm
from mlflow_monitor.api import _write_spec


def test_staged_spec_keeps_secrets_unresolved_and_copies_its_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cr3t-value")
    source = tmp_path / "project"
    (source / "cards").mkdir(parents=True)
    (source / "cards" / "card.yaml").write_text("model_details:\n  overview: staged\n")
    (source / "monitor.yaml").write_text(
        "model: m\ntask: regression\ncard: cards/card.yaml\n"
        "columns: {prediction: p, numerical: [a]}\n"
        "alerts: {channels: [{url: 'json://127.0.0.1/${HOOK_TOKEN}'}]}\n"
    )
    spec = mm.load_spec(source / "monitor.yaml")
    staged = _write_spec(spec, tmp_path / "staged")
    text = staged.read_text()
    assert "${HOOK_TOKEN}" in text and "s3cr3t-value" not in text
    copy = mm.load_spec(staged)  # loads: its card is beside it, at the same relative path
    assert copy.card == "cards/card.yaml"
    assert (staged.parent / "cards" / "card.yaml").read_text().endswith("overview: staged\n")
    assert copy.model_dump() == spec.model_dump()


def test_a_python_spec_reads_its_files_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = mm.make_spec(
        model="m", task="regression", columns={"prediction": "p"}, card="../outside.yaml"
    )
    with pytest.raises(mm.SpecError, match=r"card: '../outside.yaml' is outside the spec's folder"):
        _write_spec(spec, tmp_path / "staged")
    missing = mm.make_spec(model="m", task="regression", columns={"prediction": "p"}, card="c.yaml")
    with pytest.raises(mm.SpecError, match=r"card: 'c.yaml' not found in"):
        _write_spec(missing, tmp_path / "staged2")
