"""MonitorSpec: YAML loading, unknown keys, impossible combinations, secrets resolved late."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlflow_monitor.errors import SpecError
from mlflow_monitor.spec import find_secrets, load_spec, parse_duration, parse_spec, resolve_secret

BASE: dict[str, object] = {
    "model": "churn",
    "task": "binary_classification",
    "columns": {
        "target": "churned",
        "prediction": "pred",
        "score": "score",
        "numerical": ["tenure", "charges"],
        "categorical": ["contract"],
        "protected": ["sex"],
    },
}


def _with(**changes: object) -> dict[str, object]:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return data


def test_minimal_spec_gets_defaults() -> None:
    spec = parse_spec(BASE)
    assert spec.drift.method == "auto"
    assert spec.columns.features == ["tenure", "charges", "contract"]
    assert spec.sampling.baseline_rows == 100_000


def test_load_spec_from_file(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert load_spec(path).model == "churn"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"colour": "blue"}, "unknown key 'colour'"),
        ({"drift__bogus": 1}, "unknown key 'drift.bogus'"),
        ({"columns__numerical": ["tenure", "score"]}, "'score' is listed twice"),
        ({"task": "regression"}, "columns.score: a regression task has no score"),
        ({"task": "ranking"}, "task"),
        ({"fairness__intersections": [["sex", "race"]]}, "'race' is not in columns.protected"),
    ],
)
def test_bad_spec_names_the_key(changes: dict[str, object], expected: str) -> None:
    with pytest.raises(SpecError, match=expected.replace("(", r"\(")):
        parse_spec(_with(**changes))


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_check_without_bound_is_refused() -> None:
    data = _with(performance__checks=[{"metric": "roc_auc"}])
    with pytest.raises(SpecError, match="needs one of min, max"):
        parse_spec(data)


def test_secrets_stay_unresolved_in_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cr3t-value")
    data = _with(alerts__channels=[{"url": "json://127.0.0.1:9/${HOOK_TOKEN}"}])
    spec = parse_spec(data)
    assert "s3cr3t-value" not in spec.to_yaml()
    assert find_secrets(spec.alerts.channels[0].url) == ["HOOK_TOKEN"]
    assert resolve_secret(spec.alerts.channels[0].url).endswith("/s3cr3t-value")


def test_unset_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(SpecError, match="NOT_SET_ANYWHERE"):
        resolve_secret("json://host/${NOT_SET_ANYWHERE}")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("24h", 86400), ("7d", 604800), (90, 90)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_cooldown_accepts_duration_text() -> None:
    spec = parse_spec(_with(alerts__cooldown="2h"))
    assert spec.alerts.cooldown == 7200
