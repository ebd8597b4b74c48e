"""Preflight: bad input found before a run exists is one line, exit 2, and changes nothing.

The pure checks run on small files; the command tests use the churn story on a real SQLite store
(``with_baseline``/``registered``) and stop before any notebook runs: the preflight fails first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.sources import files as data
from mlflow_monitor.cli import main
from mlflow_monitor.cli.pipeline_commands import _warning_first
from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.resources import policies_dir
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.workflows import preflight
from tests.cli.conftest import churn, registered, with_baseline
from tests.integration.conftest import Registered

__all__ = ["churn", "registered", "with_baseline"]  # fixtures, re-exported for pytest

MODEL = "churn-classifier"


def _spec(**fairness: object) -> MonitorSpec:
    return parse_spec(
        {
            "model": "m",
            "task": "binary_classification",
            "columns": {
                "target": "y",
                "prediction": "pred",
                "score": "score",
                "numerical": ["x"],
                "protected": ["sex"],
                "segments": ["region"],
            },
            "fairness": fairness,
        }
    )


def _file(tmp_path: Path, score: list[float], suffix: str = ".parquet") -> data.DataInfo:
    rows = len(score)
    frame = pd.DataFrame(
        {
            "y": np.arange(rows) % 2,
            "pred": (np.array(score) >= 0.5).astype(int),
            "score": score,
            "x": np.linspace(0, 1, rows),
            "sex": ["female", "male"] * (rows // 2) + ["female"] * (rows % 2),
            "region": "north",
        }
    )
    path = tmp_path / f"data{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    return data.inspect_data(path)


# -- policy packs ---------------------------------------------------------------------------------


def test_a_misspelled_policy_pack_is_one_line_naming_the_key() -> None:
    with pytest.raises(SpecError) as caught:
        preflight.check_policies(_spec(policies=["four_fith_rule"]))
    assert str(caught.value).startswith(
        "fairness.policies: unknown policy pack 'four_fith_rule' (shipped: "
    )


def test_a_pack_file_must_be_named_by_an_absolute_path(tmp_path: Path) -> None:
    pack = tmp_path / "mine.yaml"
    shutil.copyfile(policies_dir() / "four_fifths_rule.yaml", pack)
    preflight.check_policies(_spec(policies=[str(pack)]))  # absolute: loads
    with pytest.raises(SpecError, match=r"^fairness\.policies: 'packs/mine\.yaml' is a relative"):
        preflight.check_policies(_spec(policies=["packs/mine.yaml"]))


def test_an_override_of_no_rule_is_refused() -> None:
    spec = _spec(policies=["four_fifths_rule"], overrides={"four_fifths_rule.nope": 0.7})
    with pytest.raises(SpecError, match=r"^fairness\.overrides: 'four_fifths_rule\.nope' names no"):
        preflight.check_policies(spec)


# -- reference groups and columns -----------------------------------------------------------------


def test_a_misspelled_reference_group_in_the_reference_data_lists_the_groups(
    tmp_path: Path,
) -> None:
    info = _file(tmp_path, [0.2, 0.7, 0.4, 0.9])
    with pytest.raises(SpecError) as caught:
        preflight.check_baseline(_spec(reference_groups={"sex": "Female"}), info.path)
    assert str(caught.value) == (
        "fairness.reference_groups.sex: group 'Female' is not in the reference data "
        "(groups: female, male)"
    )
    preflight.check_baseline(_spec(reference_groups={"sex": "female"}), info.path)
    preflight.check_baseline(_spec(reference_groups={"sex": "majority"}), info.path)


@pytest.mark.parametrize(("column", "role"), [("sex", "protected"), ("region", "segments")])
def test_protected_and_segment_columns_are_checked_from_the_schema(
    tmp_path: Path, column: str, role: str
) -> None:
    info = _file(tmp_path, [0.2, 0.7])
    pd.read_parquet(info.path).drop(columns=[column]).to_parquet(tmp_path / "w.parquet")
    with pytest.raises(DataError) as caught:
        data.validate_data(_spec(), tmp_path / "w.parquet")
    assert str(caught.value) == f"w.parquet: missing column {column!r} (columns.{role})"


# -- the score against the decision threshold ---------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_score_all_below_the_threshold_names_both_keys(tmp_path: Path, suffix: str) -> None:
    info = _file(tmp_path, [0.01, 0.2, 0.3, np.nan], suffix)
    with pytest.raises(DataError) as caught:
        preflight.check_score(_spec(), info, one_sided=True)
    assert str(caught.value) == (
        f"fairness.decision_threshold 0.5 decides every row alike: columns.score 'score' ranges "
        f"0.01 to 0.3 in data{suffix}, all below it (set the threshold inside the scores' range)"
    )


def test_a_window_may_lie_on_one_side_of_the_threshold(tmp_path: Path) -> None:
    """A quiet week of a low-prevalence model: every score below 0.5 is no error in a window."""
    preflight.check_score(_spec(), _file(tmp_path, [0.01, 0.2, 0.3]), one_sided=False)
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        preflight.check_score(_spec(), _file(tmp_path, [0.01, 1.3]), one_sided=False)


def test_a_score_all_above_the_threshold_is_refused(tmp_path: Path) -> None:
    info = _file(tmp_path, [0.5, 0.8, 0.9])
    with pytest.raises(DataError, match=r"decision_threshold 0\.5 .* all at or above it"):
        preflight.check_score(_spec(), info, one_sided=True)


def test_a_score_outside_the_unit_interval_is_refused(tmp_path: Path) -> None:
    info = _file(tmp_path, [-2.0, 0.4, 3.5])
    with pytest.raises(DataError) as caught:
        preflight.check_score(_spec(), info, one_sided=True)
    assert str(caught.value) == (
        "columns.score 'score' ranges -2 to 3.5 in data.parquet, outside [0, 1] "
        "(fairness.decision_threshold 0.5 compares a probability)"
    )


def test_scores_on_both_sides_of_the_threshold_pass(tmp_path: Path) -> None:
    info = _file(tmp_path, [0.1, 0.6])
    preflight.check_score(_spec(), info, one_sided=True)
    preflight.check_score(_spec(decision_threshold=0.6), info, one_sided=True)  # 0.6 >= 0.6
    with pytest.raises(DataError, match="all at or above it"):
        preflight.check_score(_spec(decision_threshold=0.05), info, one_sided=True)


def test_one_sided_scores_pass_when_the_threshold_decides_nothing(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "model": "m",
            "task": "binary_classification",
            "columns": {"prediction": "pred", "score": "score", "numerical": ["x"]},
        }
    )
    # decisions come from the prediction column
    preflight.check_score(spec, _file(tmp_path, [0.01, 0.2]), one_sided=True)
    with pytest.raises(DataError, match=r"outside \[0, 1\] \(a score is a probability\)"):
        preflight.check_score(spec, _file(tmp_path, [0.01, 1.2]), one_sided=True)


# -- unset ${VAR} in alert URLs: a warning, after validation ------------------------------------


def _alerting(monkeypatch: pytest.MonkeyPatch) -> MonitorSpec:
    monkeypatch.setenv("PREFLIGHT_SET_TOKEN", "s3cr3t-value")
    monkeypatch.delenv("PREFLIGHT_UNSET_TOKEN", raising=False)
    return parse_spec(
        {
            "model": "m",
            "task": "regression",
            "columns": {"prediction": "p"},
            "alerts": {
                "mlflow_url": "https://${PREFLIGHT_UNSET_TOKEN}@mlflow.example",
                "channels": [
                    {"url": "json://hooks.example/${PREFLIGHT_SET_TOKEN}"},
                    {"url": "json://hooks.example/${PREFLIGHT_UNSET_TOKEN}"},
                ],
            },
        }
    )


def test_unset_variables_are_one_warning_line_without_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = _alerting(monkeypatch)
    line = preflight.unset_secrets(spec)
    assert line == (
        "warning: not set in the environment: ${PREFLIGHT_UNSET_TOKEN} (alerts.channels.1.url), "
        "${PREFLIGHT_UNSET_TOKEN} (alerts.mlflow_url) (alerts using it will fail)"
    )
    assert "s3cr3t" not in line and "PREFLIGHT_SET_TOKEN" not in line
    monkeypatch.setenv("PREFLIGHT_UNSET_TOKEN", "x")
    assert preflight.unset_secrets(spec) == ""


def test_the_warning_comes_with_the_first_progress_line_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(_alerting(monkeypatch).to_yaml())
    echo = _warning_first(str(path))
    assert capsys.readouterr().err == ""  # nothing before the run starts
    echo("[run] m v1: run abc")
    echo("[run] executing monitor.ipynb")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("warning: not set in the environment: ${PREFLIGHT_UNSET_TOKEN}")
    assert lines[1].endswith("[run] m v1: run abc")


# -- the commands: one line, exit 2, no run, no tag changed --------------------------------------


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _bad_spec(reg: Registered, name: str, **fairness: object) -> Path:
    """The churn spec with ``fairness`` changes, beside it (its card.yaml stays reachable)."""
    spec = yaml.safe_load(reg.spec.read_text())
    spec["fairness"] = {**spec.get("fairness", {}), **fairness}
    path = reg.spec.parent / name
    path.write_text(yaml.safe_dump(spec))
    return path


def _store(reg: Registered) -> tuple[list[str], dict[str, str]]:
    """Run ids of the model's experiment and the version's tags."""
    client = MlflowClient(reg.uri)
    experiment = client.get_experiment_by_name(f"monitor/{MODEL}")
    runs = [] if experiment is None else client.search_runs([experiment.experiment_id])
    tags = dict(client.get_model_version(MODEL, reg.version).tags)
    return sorted(r.info.run_id for r in runs), tags


@pytest.mark.integration
def test_run_refuses_a_misspelled_reference_group_or_pack_before_any_run(
    with_baseline: Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = with_baseline
    MlflowClient(reg.uri).set_model_version_tag(MODEL, reg.version, "monitor.health", "healthy")
    before = _store(reg)
    [baseline_run] = before[0]
    group = _bad_spec(reg, "group.yaml", reference_groups={"gender": "Female"})
    monkeypatch.delenv("PREFLIGHT_UNSET_TOKEN", raising=False)
    spec = yaml.safe_load(_bad_spec(reg, "pack.yaml", policies=["four_fith_rule"]).read_text())
    spec["alerts"] = {"channels": [{"url": "json://hooks.example/${PREFLIGHT_UNSET_TOKEN}"}]}
    (reg.spec.parent / "pack.yaml").write_text(yaml.safe_dump(spec))
    expected = {
        group: (
            "error: fairness.reference_groups.gender: group 'Female' is not in the baseline's "
            f"fairness report (run {baseline_run}; groups: female, male)"
        ),
        reg.spec.parent / "pack.yaml": (
            "error: fairness.policies: unknown policy pack 'four_fith_rule' (shipped: "
        ),
    }
    for path, line in expected.items():
        result = _cli(
            "run", "--spec", str(path), "--version", reg.version,
            "--current", str(reg.data.windows["stable"]), "--tracking-uri", reg.uri,
        )  # fmt: skip
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [result.stderr.strip()]  # one line, no warning
        assert result.stderr.startswith(line)
        assert _store(reg) == before  # no run created, no tag changed


@pytest.mark.integration
def test_baseline_refuses_a_misspelled_pack_or_reference_group_before_any_run(
    registered: Registered,
) -> None:
    reg = registered
    before = _store(reg)
    assert before[0] == [] and "monitor.baseline_run_id" not in before[1]
    expected = {
        _bad_spec(reg, "pack.yaml", policies=["four_fith_rule"]): (
            "error: fairness.policies: unknown policy pack 'four_fith_rule' (shipped: "
        ),
        _bad_spec(reg, "group.yaml", reference_groups={"gender": "femal"}): (
            "error: fairness.reference_groups.gender: group 'femal' is not in the reference data "
            "(groups: female, male)"
        ),
    }
    for path, line in expected.items():
        result = _cli(
            "baseline", "--spec", str(path), "--version", reg.version,
            "--reference", str(reg.data.reference), "--tracking-uri", reg.uri,
        )  # fmt: skip
        assert result.exit_code == 2
        assert result.stderr.splitlines() == [result.stderr.strip()]
        assert result.stderr.startswith(line)
        assert _store(reg) == before  # no baseline run, no monitor.baseline_run_id
