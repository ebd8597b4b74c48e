"""`mlflow-monitor init`: roles guessed from names and dtypes, a spec that loads, no overwrite."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from pydantic import BaseModel

from mlflow_monitor.cli import main
from mlflow_monitor.spec import (
    AlertsSpec,
    BeatRule,
    DriftSpec,
    FairnessSpec,
    GateSpec,
    HistorySpec,
    MonitorSpec,
    NotebooksSpec,
    PerformanceSpec,
    QualitySpec,
    SamplingSpec,
    SegmentsSpec,
    load_spec,
    parse_spec,
)
from mlflow_monitor.stats.performance import default_metric
from mlflow_monitor.workflows.init_spec import (
    GuessedRoles,
    guess_roles,
    headline_metric,
    render_spec,
)


def _frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(rows),
            "event_time": pd.date_range("2025-01-01", periods=rows, freq="h"),
            "income": rng.normal(50, 10, rows),
            "plan": rng.choice(["a", "b", "c"], rows),
            "visits": rng.integers(0, 5, rows),
            "score": rng.uniform(0, 1, rows),
            "prediction": rng.integers(0, 2, rows),
            "label": rng.integers(0, 2, rows),
        }
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_init_writes_a_spec_that_loads(tmp_path: Path, suffix: str) -> None:
    data = tmp_path / f"sample{suffix}"
    frame = _frame()
    frame.to_parquet(data) if suffix == ".parquet" else frame.to_csv(data, index=False)
    out = tmp_path / "monitor.yaml"
    result = CliRunner().invoke(
        main, ["init", "--model", "churn", "--data", str(data), "--out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    spec = load_spec(out)
    assert spec.model == "churn"
    assert spec.task == "binary_classification"
    cols = spec.columns
    assert (cols.id, cols.target, cols.prediction, cols.score) == (
        "customer_id",
        "label",
        "prediction",
        "score",
    )
    assert cols.timestamp == "event_time"
    assert cols.numerical == ["income"]
    assert cols.categorical == ["plan", "visits"]
    assert "# Check every role below" in out.read_text()


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    data = tmp_path / "sample.parquet"
    _frame().to_parquet(data)
    out = tmp_path / "monitor.yaml"
    out.write_text("keep me")
    result = CliRunner().invoke(
        main, ["init", "--model", "m", "--data", str(data), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {out}: already exists (use --force to overwrite)"
    assert out.read_text() == "keep me"


def test_regression_target_is_recognised() -> None:
    frame = _frame().drop(columns=["score"])
    frame["label"] = np.linspace(0, 100, len(frame))
    frame["prediction"] = frame["label"] + 1.5
    assert guess_roles(frame).task == "regression"


# -- every option shown, with its default and a comment -------------------------------------------

_ROLES = GuessedRoles(
    target="label",
    prediction="prediction",
    score="score",
    numerical=["income"],
    categorical=["plan"],
)


def _models(annotation: object) -> list[type[BaseModel]]:
    """The spec sections in an annotation (``list[MetricCheck]``, ``dict[str, GateSpec]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models(arg)]


def _keys(model: type[BaseModel]) -> set[str]:
    """Every key of a section, nested sections' keys included."""
    keys = set(model.model_fields)
    for field in model.model_fields.values():
        for nested in _models(field.annotation):
            keys |= _keys(nested)
    return keys


def _block(text: str, section: str) -> list[str]:
    """The lines of a top-level section, its commented examples included."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(f"{section}:"))
    end = next(
        (i for i in range(first + 1, len(lines)) if lines[i][:1] not in (" ", "")), len(lines)
    )
    return lines[first:end]


def _shown_with_comment(lines: list[str], key: str) -> bool:
    pattern = re.compile(rf"^\s*(# )?\s*(- )?{key}:(\s.*)?\s# \S")
    return any(pattern.match(line) for line in lines)


@pytest.mark.parametrize(
    "task", ["binary_classification", "multiclass_classification", "regression"]
)
def test_the_template_shows_every_option_with_a_comment(task: str) -> None:
    roles = replace(_ROLES, task=task, score=None if task != "binary_classification" else "score")
    text = render_spec("churn", roles, "sample.parquet")
    missing = []
    for name, field in MonitorSpec.model_fields.items():
        sections = _models(field.annotation)
        if not sections:  # a top-level option: model, task, positive_label ...
            missing += [] if _shown_with_comment(text.splitlines(), name) else [name]
            continue
        lines = _block(text, name)
        missing += [
            f"{name}.{k}" for k in sorted(_keys(sections[0])) if not _shown_with_comment(lines, k)
        ]
    assert missing == []
    for key in (
        "confidence_level",
        "favorable_outcome",
        "drift_min_effect",
        "min_effect",
        "min_class_size",
    ):
        assert f" {key}: " in text or f"\n{key}: " in text


def test_the_template_writes_the_defaults() -> None:
    spec = parse_spec(yaml.safe_load(render_spec("churn", _ROLES, "sample.parquet")))
    defaults = MonitorSpec.model_fields
    assert spec.confidence_level == defaults["confidence_level"].default
    assert (spec.drift, spec.performance, spec.quality, spec.segments) == (
        DriftSpec(),
        PerformanceSpec(),
        QualitySpec(),
        SegmentsSpec(),
    )
    assert (spec.fairness, spec.alerts, spec.notebooks, spec.sampling) == (
        FairnessSpec(),
        AlertsSpec(),
        NotebooksSpec(),
        SamplingSpec(),
    )
    assert (spec.gates, spec.card) == ({}, None)


def test_the_template_examples_are_valid_when_uncommented() -> None:
    text = render_spec("churn", _ROLES, "sample.parquet")
    for empty in ("checks: []", "channels: []", "gates: {}", "slos: []"):
        text = text.replace(empty, empty[: empty.index(":") + 1], 1)
    text = re.sub(r"(?m)^(\s+)# (?=(?:- )?\s*[a-z_]+:)", r"\1", text)
    spec = parse_spec(yaml.safe_load(text))
    [check] = spec.performance.checks
    assert (check.metric, check.max_drop, check.history) == ("roc_auc", 0.05, HistorySpec())
    assert spec.alerts.channels[0].url == "slack://${SLACK_TOKEN}"
    rule = BeatRule(alias="champion", metric="roc_auc", margin=0.0)
    assert spec.gates["champion"] == GateSpec(must_beat=rule)
    assert [(s.name, s.objective) for s in spec.slos] == [
        ("auc-floor", "check"), ("no-drift", "check"), ("freshness", "freshness"),
    ]  # fmt: skip


@pytest.mark.parametrize("has_score", [True, False])
@pytest.mark.parametrize(
    "task", ["binary_classification", "multiclass_classification", "regression"]
)
def test_the_template_names_the_tasks_headline_metric(task: str, has_score: bool) -> None:
    assert headline_metric(task, has_score=has_score) == default_metric(task, has_score=has_score)
