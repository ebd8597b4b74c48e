"""``mlflow-monitor init``: a commented monitor.yaml guessed from a data file's columns.

Roles are guessed from names and dtypes (``target``/``label``/``churn``... -> target,
``prediction``/``pred`` -> prediction, a float column in [0, 1] named ``score``/``proba`` -> score,
``id``/``*_id`` -> id, datetime or ``*time*``/``*date*`` -> timestamp); the rest are features:
numerical when numeric with more than 20 distinct values in the first rows, else categorical.
The file shows every option of the spec with its default and a one-line comment (examples of
list items and gates commented out, ready to uncomment); it is validated with ``parse_spec``
before it is written, so it always loads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from mlflow_monitor.adapters.sources import files as data
from mlflow_monitor.errors import SpecError
from mlflow_monitor.spec import (
    TASK_METRICS,
    AlertChannel,
    AlertsSpec,
    DriftSpec,
    EstimationSpec,
    FairnessSpec,
    HistorySpec,
    NotebooksSpec,
    QualitySpec,
    SamplingSpec,
    ScoringSpec,
    SegmentsSpec,
    Task,
    parse_spec,
)

__all__ = ["GuessedRoles", "guess_roles", "headline_metric", "render_spec", "write_spec"]

_SAMPLE_ROWS = 10_000
_FEW_VALUES = 20
_TARGET = ("target", "label", "y", "outcome", "actual", "y_true")
_TARGET_PARTS = ("target", "label", "churn", "fraud", "default", "outcome")
_PREDICTION = ("prediction", "predicted", "pred", "y_pred", "predicted_label")
_SCORE = ("score", "proba", "probability", "y_score", "prediction_score")


@dataclass
class GuessedRoles:
    """Column roles guessed from a frame (mutable while guessing, then rendered)."""

    task: Task = "binary_classification"
    id: str | None = None
    timestamp: str | None = None
    target: str | None = None
    prediction: str | None = None
    score: str | None = None
    numerical: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)


def _match(name: str, names: tuple[str, ...], contains: tuple[str, ...] = ()) -> bool:
    lowered = name.lower()
    return lowered in names or any(part in lowered for part in contains)


def _is_score(series: pd.Series) -> bool:
    if not pd.api.types.is_float_dtype(series):
        return False
    values = series.dropna()
    return bool(len(values)) and bool(values.between(0, 1).all())


def guess_roles(frame: pd.DataFrame) -> GuessedRoles:
    """Guess each column's role from its name and values (see the module docstring)."""
    roles = GuessedRoles()
    for name in map(str, frame.columns):
        series = frame[name]
        if roles.target is None and _match(name, _TARGET, _TARGET_PARTS):
            roles.target = name
        elif roles.score is None and _match(name, _SCORE, ("score", "proba")) and _is_score(series):
            roles.score = name
        elif roles.prediction is None and _match(name, _PREDICTION, ("prediction",)):
            roles.prediction = name
        elif roles.timestamp is None and (
            pd.api.types.is_datetime64_any_dtype(series) or _match(name, ("ts",), ("time", "date"))
        ):
            roles.timestamp = name
        elif roles.id is None and (name.lower() == "id" or name.lower().endswith("_id")):
            roles.id = name
        elif (
            pd.api.types.is_numeric_dtype(series)
            and not pd.api.types.is_bool_dtype(series)
            and (series.nunique() > _FEW_VALUES)
        ):
            roles.numerical.append(name)
        else:
            roles.categorical.append(name)
    roles.task = _task(frame, roles)
    if roles.task == "multiclass_classification" and roles.score:
        roles.numerical.append(roles.score)
        roles.score = None
    return roles


def _task(frame: pd.DataFrame, roles: GuessedRoles) -> Task:
    column = roles.target or roles.prediction
    if column is None:
        return "binary_classification"
    series = frame[column].dropna()
    distinct = series.nunique()
    if pd.api.types.is_float_dtype(series) and distinct > _FEW_VALUES:
        return "regression"
    return "binary_classification" if distinct <= 2 else "multiclass_classification"


def _value(value: object) -> str:
    """A value as YAML flow text: plain words stay plain, the rest is JSON (valid YAML)."""
    if isinstance(value, str) and value and yaml.safe_load(value) == value and ":" not in value:
        return value
    return json.dumps(value)


def _key(indent: int, key: str, value: object, comment: str) -> str:
    """One option on one line with its comment."""
    return f"{'  ' * indent + key + ': ' + _value(value):<38}# {comment}"


def _example(indent: int, text: str, comment: str) -> str:
    """A commented-out option of an example block: delete ``# `` and it is YAML in place."""
    return f"{'  ' * indent}# {text:<{36 - 2 * indent}}# {comment}"


def _top(model: str, roles: GuessedRoles) -> list[str]:
    task = roles.task
    positive = {
        "binary_classification": _key(0, "positive_label", 1, "the label value meaning positive"),
        "multiclass_classification": _key(
            0, "positive_label", None, "fairness: the class whose prediction is the decision"
        ),
        "regression": _example(0, "positive_label: 1", "classification tasks only"),
    }[task]
    return [
        _key(0, "model", model, "registered model name"),
        _key(0, "task", task, "binary_classification | multiclass_classification | regression"),
        positive,
        _key(0, "confidence_level", 0.95, "level of the segment and fairness intervals"),
    ]


def _columns(roles: GuessedRoles) -> list[str]:
    return [
        "columns:                              # which column plays which role (one role each)",
        _key(1, "id", roles.id, "row identifier (not monitored)"),
        _key(1, "timestamp", roles.timestamp, "filters rows for --window-start/--window-end"),
        _key(1, "target", roles.target, "labels; may be missing from a window"),
        _key(1, "prediction", roles.prediction, "the model's predicted label or value"),
        _key(1, "score", roles.score, "binary: probability of the positive label"),
        _key(1, "probabilities", [], "multiclass: one probability column per class"),
        _key(1, "numerical", roles.numerical, "numeric features (profiled, drift-checked)"),
        _key(1, "categorical", roles.categorical, "categorical features"),
        _key(1, "segments", [], "columns judged value by value, e.g. [region]"),
        _key(1, "protected", [], "protected attributes for fairness, e.g. [sex, race]"),
    ]


def _drift() -> list[str]:
    d = DriftSpec()
    return [
        "drift:                                # data and prediction drift against the baseline",
        _key(1, "method", d.method, "auto (Evidently's choice), psi, ks, wasserstein, ..."),
        _key(1, "methods", d.methods, "per column, e.g. {tenure: ks}: features, prediction, score"),
        _key(1, "thresholds", d.thresholds, "per column drift limit, e.g. {tenure: 0.2}"),
        _key(1, "bins", d.bins, "quantile bins of numerical profiles (10 to 10000)"),
        _key(1, "column_severity", d.column_severity, "severity of one drifted column"),
        _key(1, "min_effect", d.min_effect, "ks/chisquare/z also need an effect this large"),
        _key(1, "share_warning", d.share_warning, "share of drifted features for a warning"),
        _key(1, "share_critical", d.share_critical, "... for critical (>= share_warning)"),
        _key(1, "prediction", d.prediction, "also check drift of prediction and score"),
    ]


def _performance(roles: GuessedRoles) -> list[str]:
    task, h = roles.task, HistorySpec()
    return [
        "performance:                          # metrics need labels (columns.target)",
        f"  # metrics of this task: {', '.join(TASK_METRICS[task])}",
        _key(1, "checks", [], "empty: the task's defaults; or a list like this one:"),
        _example(2, f"- metric: {_headline(roles)}", "a metric of this task (above)"),
        _example(2, "  min: null", "static lower bound"),
        _example(2, "  max: null", "static upper bound"),
        _example(2, "  max_drop: 0.05", "largest fall from the baseline's value"),
        _example(2, "  max_rise: null", "largest rise from the baseline's value"),
        _example(2, "  relative: false", "true: max_drop/max_rise are fractions of it"),
        _example(2, "  history:", "or null; a band from past windows, median +/- k MAD"),
        _example(2, f"    k: {_value(h.k)}", "width of the band in MADs"),
        _example(2, f"    window: {h.window}", "past windows the band is drawn from"),
        _example(2, f"    min_history: {h.min_history}", "fewer past values: insufficient data"),
        _example(2, f"    seasonal: {h.seasonal}", "none | weekday | hour_of_week"),
        _example(2, "  severity: critical", "info | warning | critical"),
    ]


def headline_metric(task: Task, *, has_score: bool) -> str:
    """``stats.performance.default_metric`` (tested equal), without importing the statistics."""
    if task == "binary_classification":
        return "roc_auc" if has_score else "f1"
    return "f1_macro" if task == "multiclass_classification" else "rmse"


def _headline(roles: GuessedRoles) -> str:
    return headline_metric(roles.task, has_score=roles.score is not None)


def _quality() -> list[str]:
    q = QualitySpec()
    return [
        "quality:                              # data quality of each window",
        _key(1, "min_rows", q.min_rows, "fewer rows: insufficient data"),
        _key(1, "max_missing_share", q.max_missing_share, "missing values per column"),
        _key(1, "max_out_of_range_share", q.max_out_of_range_share, "outside the reference range"),
        _key(1, "max_unseen_share", q.max_unseen_share, "categories the reference never had"),
        _key(1, "max_duplicate_share", q.max_duplicate_share, "repeated rows or repeated ids"),
        _key(1, "severity", q.severity, "severity of a breached limit"),
    ]


def _segments(roles: GuessedRoles) -> list[str]:
    g = SegmentsSpec()
    return [
        "segments:                             # each value of columns.segments on its own",
        _key(1, "min_size", g.min_size, "fewer rows: insufficient data"),
        _key(1, "min_class_size", g.min_class_size, "fewer labelled rows of a class: same"),
        _key(1, "metric", g.metric, f"null: the task's headline ({_headline(roles)})"),
        _key(1, "max_drop", g.max_drop, "largest fall from the segment's baseline value"),
        _key(1, "severity", g.severity, "severity of a degraded segment"),
    ]


def _fairness() -> list[str]:
    f = FairnessSpec()
    return [
        "fairness:                             # over columns.protected; classification only",
        _key(1, "intersections", f.intersections, "combined attributes, e.g. [[sex, race]]"),
        _key(1, "reference_groups", f.reference_groups, "e.g. {race: white}; default majority"),
        _key(1, "min_group_size", f.min_group_size, "smaller groups: insufficient data"),
        _key(1, "decision_threshold", f.decision_threshold, "score >= it is a positive decision"),
        _key(1, "favorable_outcome", f.favorable_outcome, "negative if a positive is adverse"),
        _key(1, "policies", f.policies, "packs: four_fifths_rule, equal_opportunity, ..."),
        _key(1, "overrides", f.overrides, "e.g. {four_fifths_rule.<rule id>: 0.85}"),
        _key(1, "drift_alpha", f.drift_alpha, "bias drift: Benjamini-Hochberg level"),
        _key(1, "drift_min_effect", f.drift_min_effect, "bias drift: smallest change that counts"),
        _key(1, "drift_severity", f.drift_severity, "severity of a bias-drift finding"),
    ]


def _alerts() -> list[str]:
    a, c = AlertsSpec(), AlertChannel(url="-")
    return [
        "alerts:                               # apprise channels; secrets as ${ENV_VAR}",
        _key(1, "channels", [], "none; or a list like this one:"),
        _example(2, "- url: slack://${SLACK_TOKEN}", "an apprise URL"),
        _example(2, f"  min_severity: {c.min_severity}", "lowest severity it receives"),
        _example(2, "  tags: []", "labels kept with the channel"),
        _example(2, "  name: team-chat", "shown in delivery reports"),
        _key(1, "cooldown", "24h", "repeat a still-firing finding after this"),
        _key(1, "timeout_seconds", a.timeout_seconds, "per delivery"),
        _key(1, "mlflow_url", a.mlflow_url, "MLflow UI base URL for links in messages"),
        _key(1, "escalation", {}, "none; or steps per severity, like:"),
        _example(1, "escalation:", "unacknowledged findings go further"),
        _example(2, "critical:", "`alerts escalate` sends the later steps"),
        _example(3, "- after: 0m", "this long after the first message"),
        _example(3, "  channels: [team-chat]", "channel names from the list above"),
    ]


def _gates() -> list[str]:
    return [
        _key(0, "gates", {}, "per alias; an alias without one gets these defaults:"),
        _example(1, "champion:", "the alias the gate guards"),
        _example(1, "  allowed_health: [healthy]", "healths that may be promoted"),
        _example(1, "  max_age: 7d", "newest window at most this old; null: any"),
        _example(1, "  must_pass: []", "check ids that must be judged and pass"),
        _example(1, "  require_baseline: true", "a baseline must be attached"),
        _example(1, "  require_card: false", "a model card must exist"),
        _example(1, "  auto_rollback: false", "move the alias back when health fails"),
        _example(1, "  revert_bypass: false", "undo a refused move made outside promote"),
        _example(1, "  must_beat:", "beat the alias's version on one window (paired test)"),
        _example(1, "    alias: champion", "compared by `run --compare @champion`"),
        _example(1, "    metric: roc_auc", "default roc_auc with a score, else accuracy; rmse"),
        _example(1, "    margin: 0.0", "needed improvement; negative: loss allowed"),
    ]


def _slos() -> list[str]:
    return [
        _key(0, "slos", [], "service-level objectives (`mlflow-monitor slo report`):"),
        _example(1, "- name: auc-floor", "a window is good when ..."),
        _example(1, "  objective: check", "check | freshness | policies"),
        _example(1, "  metric: perf/roc_auc", "... a logged metric is within"),
        _example(1, "  min: 0.75", "lower bound"),
        _example(1, "  max: null", "upper bound"),
        _example(1, "  target: 0.95", "share of good windows to keep"),
        _example(1, "  period: 28d", "rolling period judged"),
        _example(1, '  description: ""', "shown in the report"),
        _example(1, "- name: no-drift", "or: a check passes"),
        _example(1, "  objective: check", "windows without it are excluded"),
        _example(1, "  check: drift", "a check id or id prefix"),
        _example(1, "  target: 0.9", "share of good windows"),
        _example(1, "- name: freshness", "a completed window at least every ..."),
        _example(1, "  objective: freshness", "late time counts against the budget"),
        _example(1, "  max_gap: 26h", "longest allowed gap between window ends"),
        _example(1, "  target: 0.99", "share of on-time time"),
        _example(1, "  burn_alerts:", "two tiers; null turns one off; defaults:"),
        _example(1, "    fast:", "a page"),
        _example(1, "      long: 1h", "burn rate over this lookback ..."),
        _example(1, "      short: 5m", "... and over this one both reach"),
        _example(1, "      factor: 14.4", "this factor: fire"),
        _example(1, "      severity: critical", "alert severity"),
        _example(1, "    slow:", "a ticket"),
        _example(1, "      long: 3d", "long lookback"),
        _example(1, "      short: 6h", "short lookback"),
        _example(1, "      factor: 1", "1: spending the budget exactly"),
        _example(1, "      severity: warning", "alert severity"),
    ]


def _rest() -> list[str]:
    n, m, c, e = NotebooksSpec(), SamplingSpec(), ScoringSpec(), EstimationSpec()
    return [
        _key(0, "card", None, "card.yaml with the model's own card sections"),
        "notebooks:",
        _key(1, "extra", n.extra, "more notebooks beside this file, run each window"),
        _key(1, "timeout_seconds", n.timeout_seconds, "per notebook"),
        "scoring:",
        _key(1, "when", c.when, "rows without the model's output: missing | always | never"),
        _key(1, "batch_rows", c.batch_rows, "rows per predict call of the version's model"),
        "estimation:",
        _key(1, "enabled", e.enabled, "judge windows without labels on estimates (CBPE/DLE)"),
        _key(1, "max_severity", e.max_severity, "the most an estimated finding can be"),
        "sampling:",
        _key(1, "baseline_rows", m.baseline_rows, "reference rows kept for reports"),
        _key(1, "report_rows", m.report_rows, "rows the Evidently reports are drawn on"),
        _key(1, "seed", m.seed, "seed of both samples"),
        _key(0, "engine", "pandas", "pandas | spark (pip install mlflow-monitor[spark])"),
    ]


def render_spec(model: str, roles: GuessedRoles, source: str) -> str:
    """The commented YAML text of a spec for ``model``: every option, defaults written out."""
    lines = [
        f"# monitor.yaml for {model}, guessed by `mlflow-monitor init` from {source}.",
        "# Check every role below, then: mlflow-monitor baseline --spec monitor.yaml ...",
        "# Every option is shown with its default; '# key:' lines are examples to uncomment.",
        *_top(model, roles),
        *_columns(roles),
        *_drift(),
        *_performance(roles),
        *_quality(),
        *_segments(roles),
        *_fairness(),
        *_alerts(),
        *_gates(),
        *_slos(),
        *_rest(),
    ]
    return "\n".join(lines) + "\n"


def write_spec(model: str, data_path: str | Path, out: Path, *, force: bool = False) -> Path:
    """Guess, render, validate and write the spec; refuses to overwrite without ``force``."""
    if out.exists() and not force:
        raise SpecError(f"{out}: already exists (use --force to overwrite)")
    frame = next(data.iter_chunks(data.inspect_data(data_path).path, rows=_SAMPLE_ROWS), None)
    if frame is None or frame.empty:
        raise SpecError(f"{data_path}: no rows to infer column roles from")
    text = render_spec(model, guess_roles(frame), Path(data_path).name)
    parse_spec(yaml.safe_load(text), source=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out
