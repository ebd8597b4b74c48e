"""MonitorSpec: the one YAML file (``monitor.yaml``) that says how a model is monitored.

Validated with pydantic at the edge: unknown keys and impossible combinations are errors that
name the key. Values written ``${ENV_VAR}`` stay unresolved in the spec object (so the spec can
be logged, hashed and passed to notebooks safely); ``resolve_secret`` resolves one at the moment
of use (alert delivery) and the resolved value is never stored.

Paths written in the spec (``card``, ``notebooks.extra``) are read from the spec file's folder
and must stay inside it (``resolve_spec_path``; symlinks followed): a spec names the files that
travel with it, never ``/etc/passwd`` or ``../elsewhere``, whose first bytes a failing read could
otherwise carry into tags and alerts. ``load_spec`` refuses such a path before anything runs;
files named on the command line are the caller's choice and are not checked here.

What the spec alone can tell is checked here, before any data is read: metric names per task
(``TASK_METRICS``, the names ``stats.performance`` computes; spec sits below stats and keeps its
own table, tested equal), bounds that can never hold (``min`` above ``max``, ``share_warning``
above ``share_critical``, a history shorter than its minimum), drift overrides for columns drift
is not computed on, and keys the task cannot use. What needs the data, the baseline or the policy
files is checked by ``workflows.preflight`` before a run exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from mlflow_monitor.errors import SpecError

__all__ = [
    "CLASS_METRIC_PREFIX",
    "COMPARABLE_METRICS",
    "SCORE_METRICS",
    "TASK_METRICS",
    "AlertChannel",
    "AlertsSpec",
    "BeatRule",
    "BurnAlertSpec",
    "BurnAlertsSpec",
    "ColumnsSpec",
    "DriftMethod",
    "DriftSpec",
    "EscalationStep",
    "EstimationSpec",
    "FairnessSpec",
    "FavorableOutcome",
    "FleetModel",
    "FleetSpec",
    "GateSpec",
    "HistorySpec",
    "MetricCheck",
    "MonitorSpec",
    "NotebooksSpec",
    "PerformanceSpec",
    "QualitySpec",
    "SamplingSpec",
    "ScoringSpec",
    "SegmentsSpec",
    "Severity",
    "SloSpec",
    "Task",
    "comparison_metric",
    "find_secrets",
    "is_task_metric",
    "load_fleet",
    "load_spec",
    "parse_spec",
    "resolve_secret",
    "resolve_spec_path",
]

Task = Literal["binary_classification", "multiclass_classification", "regression"]
Severity = Literal["info", "warning", "critical"]
DriftMethod = Literal["auto", "psi", "ks", "wasserstein", "jensenshannon", "chisquare", "z"]

# The performance metrics each task computes (``stats.performance``; a test keeps them equal).
TASK_METRICS: dict[Task, tuple[str, ...]] = {
    "binary_classification": (
        "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier",
        "positive_rate", "tp", "fp", "tn", "fn",
    ),
    "multiclass_classification": ("accuracy", "f1_macro", "f1_weighted", "log_loss"),
    "regression": ("mae", "rmse", "mape", "r2"),
}  # fmt: skip
CLASS_METRIC_PREFIX = "recall_class_"  # multiclass: one class's recall, recall_class_<label>
# Metrics computed from the score (binary) or the probabilities (multiclass) only.
SCORE_METRICS = frozenset({"roc_auc", "pr_auc", "log_loss", "brier"})
# The metrics a paired test compares two versions on (``stats.paired``; a test keeps them equal).
COMPARABLE_METRICS: dict[Task, tuple[str, ...]] = {
    "binary_classification": (
        "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier",
    ),
    "multiclass_classification": ("accuracy", "f1_macro"),
    "regression": ("mae", "rmse"),
}  # fmt: skip

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class _KeyedError(ValueError):
    """A section's error about one of its keys: ``first_error`` names the key after the section."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class _Strict(BaseModel):
    """Base for every spec section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_duration(value: str | int | float) -> float:
    """Seconds from ``90``, ``"30m"``, ``"24h"``, ``"7d"`` or ``"1w"``."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION_PATTERN.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30m, 24h, 7d)")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]


Duration = Annotated[float, Field(ge=0)]


class ColumnsSpec(_Strict):
    """Which column plays which role. Every name may appear in one role list only."""

    id: str | None = None
    timestamp: str | None = None
    target: str | None = None
    prediction: str | None = None
    score: str | None = None
    probabilities: list[str] = Field(default_factory=list)
    numerical: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    protected: list[str] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)

    @property
    def features(self) -> list[str]:
        """Feature columns (numerical then categorical), the columns data drift is computed on."""
        return [*self.numerical, *self.categorical]

    def required(self) -> list[str]:
        """Every column a window must contain (target excepted: labels may arrive later)."""
        names = [self.id, self.timestamp, self.prediction, self.score]
        extra = [*self.probabilities, *self.features, *self.protected, *self.segments]
        return _unique([n for n in names if n] + extra)


class HistorySpec(_Strict):
    """Threshold from the metric's own history: median +/- k * MAD of the last ``window`` runs."""

    k: float = Field(default=3.0, gt=0)
    window: int = Field(default=12, ge=2)
    min_history: int = Field(default=4, ge=2)
    seasonal: Literal["none", "weekday", "hour_of_week"] = "none"

    @model_validator(mode="after")
    def _reachable(self) -> HistorySpec:
        if self.min_history > self.window:
            raise _KeyedError(
                "min_history",
                f"{self.min_history} is more than window {self.window}: the history would never "
                "be long enough",
            )
        return self


class MetricCheck(_Strict):
    """One threshold on one metric: static bounds, change against the baseline, or history.

    A violated check gives status ``fail`` when ``severity`` is critical, ``warn`` otherwise.
    ``max_drop``/``max_rise`` are absolute changes against the baseline value, or fractions of
    it when ``relative`` is true.
    """

    metric: str
    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(default=None, ge=0)
    max_rise: float | None = Field(default=None, ge=0)
    relative: bool = False
    history: HistorySpec | None = None
    severity: Severity = "critical"

    @model_validator(mode="after")
    def _has_a_bound(self) -> MetricCheck:
        bounds = (self.min, self.max, self.max_drop, self.max_rise, self.history)
        if all(b is None for b in bounds):
            raise ValueError(
                f"check on {self.metric!r} needs one of min, max, max_drop, max_rise, history"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _KeyedError("min", f"{self.min:g} is above max {self.max:g}: nothing could pass")
        if self.relative and self.max_drop is None and self.max_rise is None:
            raise _KeyedError(
                "relative", "applies to max_drop and max_rise; this check has neither"
            )
        return self


class DriftSpec(_Strict):
    """Drift method selection (``auto`` follows Evidently's defaults) and drift thresholds.

    A p-value method (``ks``, ``chisquare``, ``z``) flags a column only when the change is both
    significant and at least ``min_effect`` large (see ``stats.drift``), so large clean windows
    do not flag columns for differences nobody would act on.
    """

    method: DriftMethod = "auto"
    methods: dict[str, DriftMethod] = Field(default_factory=dict)
    thresholds: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=dict
    )
    bins: int = Field(default=100, ge=10, le=10_000)
    column_severity: Severity = "warning"
    min_effect: float = Field(default=0.1, ge=0)
    share_warning: float = Field(default=0.3, ge=0, le=1)
    share_critical: float = Field(default=0.6, ge=0, le=1)
    prediction: bool = True

    @model_validator(mode="after")
    def _ordered_levels(self) -> DriftSpec:
        if self.share_warning > self.share_critical:
            raise _KeyedError(
                "share_warning",
                f"{self.share_warning:g} is above share_critical {self.share_critical:g}",
            )
        return self


class PerformanceSpec(_Strict):
    """Performance checks; with none given the task's defaults apply (see ``checks``)."""

    checks: list[MetricCheck] = Field(default_factory=list)


class QualitySpec(_Strict):
    """Data-quality limits per window (shares are fractions of the window's rows)."""

    min_rows: int = Field(default=1, ge=1)
    max_missing_share: float = Field(default=0.1, ge=0, le=1)
    max_out_of_range_share: float = Field(default=0.05, ge=0, le=1)
    max_unseen_share: float = Field(default=0.05, ge=0, le=1)
    max_duplicate_share: float = Field(default=0.01, ge=0, le=1)
    severity: Severity = "warning"


class SegmentsSpec(_Strict):
    """Segment-level degradation: the metric per segment value against the baseline's.

    ``min_size`` counts a segment's rows, ``min_class_size`` its labelled rows of each class
    (a ROC AUC of 3 positives is not judged); a drop is judged with its confidence interval.
    """

    min_size: int = Field(default=100, ge=1)
    min_class_size: int = Field(default=20, ge=1)
    metric: str | None = None
    max_drop: float = Field(default=0.1, ge=0)
    severity: Severity = "warning"


ReferenceGroup = str  # "majority", "min_disparity", or a group value written as text
FavorableOutcome = Literal["positive", "negative"]


class FairnessSpec(_Strict):
    """Fairness and bias drift over ``columns.protected`` and declared intersections.

    ``min_group_size`` applies to each rate's own denominator (actual positives for an FNR,
    actual negatives for an FPR, rows for a selection rate). ``favorable_outcome`` says whether
    a positive prediction is good for the person (``positive``: approval, hire) or adverse
    (``negative`` favourable: a high-risk flag, a fraud alert); selection-rate rules and report
    wording follow it. A bias-drift change counts when it is significant (Benjamini-Hochberg at
    ``drift_alpha``) and at least ``drift_min_effect`` in absolute size.
    """

    intersections: list[list[str]] = Field(default_factory=list)
    reference_groups: dict[str, ReferenceGroup] = Field(default_factory=dict)
    min_group_size: int = Field(default=100, ge=1)
    decision_threshold: float = Field(default=0.5, ge=0, le=1)
    favorable_outcome: FavorableOutcome = "positive"
    policies: list[str] = Field(default_factory=list)
    overrides: dict[str, float] = Field(default_factory=dict)
    drift_alpha: float = Field(default=0.01, gt=0, lt=1)
    drift_min_effect: float = Field(default=0.05, ge=0, le=1)
    drift_severity: Severity = "warning"


class AlertChannel(_Strict):
    """An apprise URL (secrets as ``${ENV}``), the lowest severity it receives, and tags."""

    url: str
    min_severity: Severity = "warning"
    tags: list[str] = Field(default_factory=list)
    name: str | None = None


class EscalationStep(_Strict):
    """One step of an escalation policy: once a finding has fired unacknowledged for ``after``,
    it is sent to ``channels`` (names of ``alerts.channels``), once."""

    after: Duration = 0.0
    channels: list[str] = Field(min_length=1)

    @field_validator("after", mode="before")
    @classmethod
    def _duration(cls, value: str | int | float) -> float:
        return parse_duration(value)


class AlertsSpec(_Strict):
    """Where alerts go, how often a still-firing finding is repeated, and how it escalates.

    ``escalation`` maps a severity to its steps (``verdicts.escalation``): a channel named in a
    step hears of a finding of that severity only from its step on; channels named in no step,
    and severities without steps, route by ``min_severity`` alone.
    """

    channels: list[AlertChannel] = Field(default_factory=list)
    cooldown: Duration = 24 * 3600.0
    timeout_seconds: float = Field(default=10.0, gt=0)
    mlflow_url: str | None = None
    escalation: dict[Severity, list[EscalationStep]] = Field(default_factory=dict)

    @field_validator("cooldown", mode="before")
    @classmethod
    def _duration(cls, value: str | int | float) -> float:
        return parse_duration(value)

    @model_validator(mode="after")
    def _known_channels(self) -> AlertsSpec:
        names = [c.name for c in self.channels if c.name]
        for severity, steps in self.escalation.items():
            for index, step in enumerate(steps):
                key = f"escalation.{severity}.{index}"
                unknown = [n for n in step.channels if n not in names]
                if unknown:
                    known = ", ".join(names) or "none: give channels a name"
                    raise _KeyedError(
                        f"{key}.channels", f"no channel named {unknown[0]!r} (known: {known})"
                    )
                if index and step.after < steps[index - 1].after:
                    raise _KeyedError(f"{key}.after", "steps must be in order of `after`")
        return self


def _healthy_only() -> list[Literal["healthy", "warning", "critical", "error"]]:
    return ["healthy"]


class BeatRule(_Strict):
    """``must_beat``: the version must beat the one holding ``alias`` on the same window.

    Judged from the window's shadow comparison (``run --compare @<alias>``) by a paired test:
    granted when the one-sided lower confidence bound of the improvement (in the metric's
    better direction) is above ``margin``. A positive margin asks for a real improvement; a
    negative one allows that much loss (non-inferiority). ``metric`` defaults to ROC AUC when
    the spec has a score, else accuracy (classification), RMSE (regression).
    """

    alias: str = Field(min_length=1)
    metric: str | None = None
    margin: float = Field(default=0.0, allow_inf_nan=False)


class GateSpec(_Strict):
    """What a version needs before an alias may point at it."""

    allowed_health: list[Literal["healthy", "warning", "critical", "error"]] = Field(
        default_factory=_healthy_only
    )
    max_age: Duration | None = 7 * 86400.0
    must_pass: list[str] = Field(default_factory=list)
    require_baseline: bool = True
    require_card: bool = False
    auto_rollback: bool = False
    must_beat: BeatRule | None = None
    # an alias moved outside `promote` onto a version this gate refuses is moved back
    revert_bypass: bool = False

    @field_validator("must_beat", mode="before")
    @classmethod
    def _alias_only(cls, value: object) -> object:
        return {"alias": value.lstrip("@")} if isinstance(value, str) else value

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: str | int | float | None) -> float | None:
        return None if value is None else parse_duration(value)


class NotebooksSpec(_Strict):
    """Extra notebooks run with the same parameters, and the per-notebook timeout."""

    extra: list[str] = Field(default_factory=list)
    timeout_seconds: int = Field(default=900, ge=10)


class ScoringSpec(_Strict):
    """When the monitor scores a window with the version's own registered model.

    ``missing`` (default): rows that came without the model's output (the column absent, or
    empty in some rows) are scored in the monitoring notebook; ``always``: every row is scored
    again (the window's own outputs are replaced); ``never``: a window without outputs is an
    error, as before. ``batch_rows``: rows per ``predict`` call.
    """

    when: Literal["missing", "always", "never"] = "missing"
    batch_rows: int = Field(default=100_000, ge=1)


class EstimationSpec(_Strict):
    """Performance and fairness estimated before labels arrive (CBPE, DLE).

    A window without labels is judged on estimates with the same checks and thresholds as
    realized metrics; estimated findings are marked ``estimated`` everywhere and their severity
    is capped at ``max_severity`` (a page needs labels unless this says ``critical``).
    """

    enabled: bool = True
    max_severity: Severity = "warning"


class SamplingSpec(_Strict):
    """Bounded, seeded samples: the baseline's reference sample and the reports' samples."""

    baseline_rows: int = Field(default=100_000, ge=100)
    report_rows: int = Field(default=5_000, ge=100)
    seed: int = 42


class BurnAlertSpec(_Strict):
    """One burn-rate alert tier: fires while the burn rate over ``long`` and over ``short``
    both reach ``factor`` (``verdicts.slo``: Google SRE multiwindow, multi-burn-rate)."""

    long: Duration
    short: Duration
    factor: float = Field(gt=0, allow_inf_nan=False)
    severity: Severity

    @field_validator("long", "short", mode="before")
    @classmethod
    def _duration(cls, value: str | int | float) -> float:
        return parse_duration(value)

    @model_validator(mode="after")
    def _short_within_long(self) -> BurnAlertSpec:
        if not 0 < self.short <= self.long:
            raise _KeyedError("short", "must be above 0 and at most `long`")
        return self


class BurnAlertsSpec(_Strict):
    """The two tiers; defaults from the SRE workbook (page 1h/5m x14.4, ticket 3d/6h x1).

    ``null`` turns a tier off.
    """

    fast: BurnAlertSpec | None = BurnAlertSpec(
        long=3600.0, short=300.0, factor=14.4, severity="critical"
    )
    slow: BurnAlertSpec | None = BurnAlertSpec(
        long=3 * 86400.0, short=6 * 3600.0, factor=1.0, severity="warning"
    )


SloObjective = Literal["check", "freshness", "policies"]


class SloSpec(_Strict):
    """One service-level objective over a version's windows (``verdicts.slo`` says how it counts).

    ``check``: a window is good when ``metric`` lies in [``min``, ``max``] or the check
    ``check`` passed; ``freshness``: a completed window at least every ``max_gap``;
    ``policies``: every fairness policy rule judged in the window passed.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    objective: SloObjective
    target: float = Field(gt=0, lt=1)
    period: Duration = 28 * 86400.0
    metric: str | None = None
    min: float | None = None
    max: float | None = None
    check: str | None = None
    max_gap: Duration | None = None
    burn_alerts: BurnAlertsSpec = Field(default_factory=BurnAlertsSpec)
    description: str = ""

    @field_validator("period", "max_gap", mode="before")
    @classmethod
    def _duration(cls, value: str | int | float | None) -> float | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _fits_objective(self) -> SloSpec:
        if self.period <= 0:
            raise _KeyedError("period", "must be above 0 (e.g. 28d)")
        named = {"metric": self.metric, "min": self.min, "max": self.max, "check": self.check}
        given = [k for k, v in named.items() if v is not None]
        if self.objective == "freshness":
            if not self.max_gap:
                raise _KeyedError("max_gap", "objective freshness needs a max_gap above 0 (26h)")
            if given:
                raise _KeyedError(given[0], "not used by objective freshness")
        elif self.max_gap is not None:
            raise _KeyedError("max_gap", f"only objective freshness uses it, not {self.objective}")
        if self.objective == "policies" and given:
            raise _KeyedError(given[0], "not used by objective policies")
        if self.objective == "check":
            _check_slo_bound(self)
        return self


def _check_slo_bound(slo: SloSpec) -> None:
    if (slo.metric is None) == (slo.check is None):
        raise _KeyedError("metric", "objective check needs either metric (with min/max) or check")
    if slo.check is not None and (slo.min is not None or slo.max is not None):
        raise _KeyedError("min" if slo.min is not None else "max", "bounds go with metric")
    if slo.metric is not None and slo.min is None and slo.max is None:
        raise _KeyedError("min", f"metric {slo.metric!r} needs a min or a max")
    if slo.min is not None and slo.max is not None and slo.min > slo.max:
        raise _KeyedError("min", f"{slo.min} is above max {slo.max}")


def _unique_slos(slos: list[SloSpec]) -> list[SloSpec]:
    seen: set[str] = set()
    for index, slo in enumerate(slos):
        if slo.name in seen:
            raise _KeyedError(f"{index}.name", f"{slo.name!r} is used by another SLO")
        seen.add(slo.name)
    return slos


class MonitorSpec(_Strict):
    """The whole monitor definition for one registered model.

    ``model`` (the registered model's name) is needed only to log to MLflow (``baseline``,
    ``run``); a spec for pure evaluation (``evaluate_window`` on DataFrames) may leave it out.
    """

    model: str = ""
    task: Task
    positive_label: str | int | bool | None = None
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1)
    columns: ColumnsSpec
    drift: DriftSpec = Field(default_factory=DriftSpec)
    performance: PerformanceSpec = Field(default_factory=PerformanceSpec)
    quality: QualitySpec = Field(default_factory=QualitySpec)
    segments: SegmentsSpec = Field(default_factory=SegmentsSpec)
    fairness: FairnessSpec = Field(default_factory=FairnessSpec)
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)
    gates: dict[str, GateSpec] = Field(default_factory=dict)
    card: str | None = None
    notebooks: NotebooksSpec = Field(default_factory=NotebooksSpec)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    estimation: EstimationSpec = Field(default_factory=EstimationSpec)
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    # where baselines and windows are computed: "spark" profiles a table or parquet path per
    # partition (adapters/sources/spark.py, pip install mlflow-monitor[spark]); the CLI's
    # --engine overrides it
    engine: Literal["pandas", "spark"] = "pandas"
    slos: Annotated[list[SloSpec], AfterValidator(_unique_slos)] = Field(default_factory=list)
    # the folder the spec's relative paths (card, notebooks.extra) are read from: the spec
    # file's folder for ``load_spec``; None (the working directory) for a spec built in Python
    _folder: Path | None = PrivateAttr(default=None)

    @property
    def folder(self) -> Path:
        """Where the spec's relative paths are read from (its file's folder, else the cwd)."""
        return self._folder or Path.cwd()

    @field_validator("model")
    @classmethod
    def _searchable(cls, value: str) -> str:
        if "'" in value and '"' in value:  # MLflow's filter strings cannot quote such a value
            raise ValueError(
                "a registered model name with both ' and \" cannot be searched in MLflow: "
                "rename the model"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MonitorSpec:
        _check_roles(self)
        _check_task(self)
        _check_metrics(self)
        _check_drift_columns(self)
        _check_fairness(self)
        _check_gates(self)
        _check_slo_policies(self)
        return self

    def require_model(self, source: str = "spec") -> str:
        """The registered model's name; ``SpecError`` naming the key when the spec has none."""
        if not self.model.strip():
            raise SpecError(
                f"{source}: model: names no registered model (needed to log to MLflow); "
                "add `model: <name>` to the spec or pass model="
            )
        return self.model

    def to_yaml(self, *, minimal: bool = False) -> str:
        """The spec as YAML, secrets still written ``${ENV}`` (safe to log as an artifact).

        ``minimal`` leaves out every key at its default (what a person wrote, for display).
        """
        body = self.model_dump(mode="json", exclude_defaults=minimal)
        return yaml.safe_dump(body, sort_keys=False)

    def _repr_html_(self) -> str:
        """Jupyter's inline view: the keys that differ from their defaults, as YAML."""
        import html

        return (
            "<details open><summary>MonitorSpec (keys that differ from the defaults)</summary>"
            f"<pre>{html.escape(self.to_yaml(minimal=True))}</pre></details>"
        )


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _check_roles(spec: MonitorSpec) -> None:
    """A column may hold one role; segments and protected attributes may reuse features."""
    cols = spec.columns
    roles: dict[str, str] = {}
    singles = {
        "id": cols.id,
        "timestamp": cols.timestamp,
        "target": cols.target,
        "prediction": cols.prediction,
        "score": cols.score,
    }
    listed = [(k, v) for k, v in singles.items() if v]
    listed += [("probabilities", n) for n in cols.probabilities]
    listed += [("numerical", n) for n in cols.numerical]
    listed += [("categorical", n) for n in cols.categorical]
    for role, name in listed:
        if name in roles:
            raise ValueError(f"columns: {name!r} is listed twice ({roles[name]} and {role})")
        roles[name] = role
    for group in ("protected", "segments"):
        names: list[str] = getattr(cols, group)
        if len(set(names)) != len(names):
            raise ValueError(f"columns.{group}: a column is listed twice")


def _check_task(spec: MonitorSpec) -> None:
    cols = spec.columns
    if spec.task == "regression" and (cols.score or cols.probabilities):
        raise ValueError("columns.score: a regression task has no score or probabilities")
    if spec.task == "binary_classification" and cols.probabilities:
        raise ValueError("columns.probabilities: use columns.score for a binary task")
    if spec.task == "multiclass_classification" and cols.score:
        raise ValueError("columns.score: use columns.probabilities for a multiclass task")
    if not cols.prediction and not cols.score:
        raise ValueError("columns.prediction: a prediction (or score) column is required")
    if spec.task == "regression" and spec.positive_label is not None:
        raise _KeyedError("positive_label", "a regression task has no positive label")
    if spec.task == "regression" and cols.protected:
        raise _KeyedError("columns.protected", "fairness metrics need a classification task")
    if spec.task == "multiclass_classification" and cols.protected and spec.positive_label is None:
        raise _KeyedError(
            "positive_label",
            "fairness on a multiclass task needs the class counted as the favourable decision "
            "(positive_label), columns.protected names protected attributes",
        )


def is_task_metric(task: Task, metric: str) -> bool:
    """Whether ``stats.performance`` computes ``metric`` for ``task``."""
    if task == "multiclass_classification" and metric.startswith(CLASS_METRIC_PREFIX):
        return len(metric) > len(CLASS_METRIC_PREFIX)
    return metric in TASK_METRICS[task]


def _known_metrics(task: Task) -> str:
    extra = [f"{CLASS_METRIC_PREFIX}<label>"] if task == "multiclass_classification" else []
    return ", ".join([*TASK_METRICS[task], *extra])


def _check_metric(spec: MonitorSpec, key: str, metric: str) -> None:
    """A metric named under ``key`` exists for the task, and its input is in the spec."""
    if not is_task_metric(spec.task, metric):
        known = _known_metrics(spec.task)
        raise _KeyedError(key, f"{metric!r} is not a {spec.task} metric (known: {known})")
    cols = spec.columns
    if metric in SCORE_METRICS and not (cols.score or cols.probabilities):
        needed = (
            "columns.score" if spec.task == "binary_classification" else "columns.probabilities"
        )
        raise _KeyedError(
            key, f"{metric!r} is computed from {needed}, which the spec does not name"
        )


def _check_metrics(spec: MonitorSpec) -> None:
    """Performance checks and the segments' metric name metrics the task computes, once each."""
    seen: dict[str, int] = {}
    for index, check in enumerate(spec.performance.checks):
        key = f"performance.checks.{index}.metric"
        _check_metric(spec, key, check.metric)
        if check.metric in seen:
            raise _KeyedError(
                key,
                f"{check.metric!r} is checked twice (also checks.{seen[check.metric]}); "
                "put its bounds in one check",
            )
        seen[check.metric] = index
    if spec.segments.metric is not None:
        _check_metric(spec, "segments.metric", spec.segments.metric)


def _check_drift_columns(spec: MonitorSpec) -> None:
    """``drift.methods``/``thresholds`` name columns drift is computed on; methods fit them."""
    cols = spec.columns
    outputs = [c for c in (cols.prediction, cols.score) if c] if spec.drift.prediction else []
    drifted = [*cols.features, *outputs]
    roles = (
        "features, prediction, score"
        if spec.drift.prediction
        else "drift.prediction is false; features"
    )
    shown = f"{roles}: {', '.join(drifted) or 'none'}"
    for section, names in (("methods", spec.drift.methods), ("thresholds", spec.drift.thresholds)):
        for name in names:
            if name not in drifted:
                raise _KeyedError(
                    f"drift.{section}.{name}", f"not a column drift is computed on ({shown})"
                )
    for name, method in spec.drift.methods.items():
        if method in ("ks", "wasserstein") and name in cols.categorical:
            raise _KeyedError(
                f"drift.methods.{name}",
                f"method {method!r} needs a numerical column; {name!r} is in columns.categorical",
            )


def _check_fairness(spec: MonitorSpec) -> None:
    protected = set(spec.columns.protected)
    for combo in spec.fairness.intersections:
        for name in combo:
            if name not in protected:
                raise ValueError(f"fairness.intersections: {name!r} is not in columns.protected")
    for index, combo in enumerate(spec.fairness.intersections):
        if len(set(combo)) < 2:
            raise _KeyedError(
                f"fairness.intersections.{index}", "an intersection names two or more columns"
            )
    for name in spec.fairness.reference_groups:
        if name not in protected:
            raise ValueError(f"fairness.reference_groups: {name!r} is not in columns.protected")
    if (spec.fairness.policies or spec.fairness.intersections) and not protected:
        raise ValueError("fairness.policies: columns.protected lists no protected attribute")


def comparison_metric(spec: MonitorSpec, rule: BeatRule) -> str:
    """The metric a ``must_beat`` rule compares: its own, else the task's default."""
    if rule.metric:
        return rule.metric
    if spec.task == "regression":
        return "rmse"
    if spec.task == "binary_classification" and spec.columns.score:
        return "roc_auc"
    return "accuracy"


def _check_gates(spec: MonitorSpec) -> None:
    """A ``must_beat`` metric is one a paired test compares for the task, with its input."""
    for alias, gate in spec.gates.items():
        rule = gate.must_beat
        if rule is None or rule.metric is None:
            continue
        known = COMPARABLE_METRICS[spec.task]
        if rule.metric not in known:
            raise _KeyedError(
                f"gates.{alias}.must_beat.metric",
                f"{rule.metric!r} cannot be compared by a paired test for {spec.task} "
                f"(known: {', '.join(known)})",
            )
        if rule.metric in SCORE_METRICS and not spec.columns.score:
            raise _KeyedError(
                f"gates.{alias}.must_beat.metric", f"{rule.metric!r} needs columns.score"
            )


def _check_slo_policies(spec: MonitorSpec) -> None:
    for index, slo in enumerate(spec.slos):
        if slo.objective == "policies" and not spec.fairness.policies:
            raise _KeyedError(
                f"slos.{index}.objective", "policies needs fairness.policies (no rule to judge)"
            )


def parse_spec(data: object, source: str = "monitor.yaml") -> MonitorSpec:
    """Validate a mapping as a MonitorSpec; the error names the first offending key."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping at the top level")
    try:
        return MonitorSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{source}: {first_error(exc)}") from None


def load_spec(path: str | os.PathLike[str]) -> MonitorSpec:
    """Read and validate ``monitor.yaml``. Missing file, bad YAML, bad keys: ``SpecError``."""
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"{file}: spec file not found")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{file}: not valid YAML ({str(exc).splitlines()[0]})") from None
    spec = parse_spec(data, source=str(file))
    _check_paths(spec, file)
    spec._folder = file.parent.resolve()
    return spec


def _check_paths(spec: MonitorSpec, file: Path) -> None:
    """Every path the spec names resolves inside its folder; else ``SpecError`` naming the key."""
    named = [("card", spec.card)] if spec.card else []
    named += [("notebooks.extra", extra) for extra in spec.notebooks.extra]
    for key, value in named:
        try:
            resolve_spec_path(value, folder=file.parent, key=key)
        except SpecError as exc:
            raise SpecError(f"{file}: {exc}") from None


def resolve_spec_path(value: str, *, folder: str | os.PathLike[str], key: str) -> Path:
    """``value`` as written under ``key``, resolved in the spec's ``folder``; must stay inside.

    Relative paths are read from the spec's folder (not the working directory), so a spec means
    the same files wherever it is run from. Absolute paths are allowed inside the folder.
    Symlinks are followed first, so a link in the folder that points outside is refused too.
    """
    base = Path(folder).resolve()
    path = (base / value).resolve()
    if not path.is_relative_to(base):
        raise SpecError(
            f"{key}: {value!r} is outside the spec's folder {base}; spec paths must stay in it "
            "(move the file there)"
        )
    return path


def first_error(exc: ValidationError) -> str:
    """The first validation error as one line naming the key (shared with the policy packs)."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    raised = (err.get("ctx") or {}).get("error")
    if isinstance(raised, _KeyedError):
        key = f"{key}.{raised.key}" if key else raised.key
    key = key or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"unknown key {key!r}"
    if err["type"] == "missing":
        return f"missing key {key!r}"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{key}: {message}" if key != "(top level)" else message


def find_secrets(text: str) -> list[str]:
    """Names of the ``${ENV}`` references in a text."""
    return _ENV_PATTERN.findall(text)


def resolve_secret(text: str) -> str:
    """Replace each ``${ENV}`` with its value at the moment of use; a missing one is an error.

    The result must never be logged, tagged or written anywhere: use it and drop it.
    """

    def _value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise SpecError(f"environment variable {name} (used in the spec) is not set")
        return os.environ[name]

    return _ENV_PATTERN.sub(_value, text)


# -- the fleet file (``mlflow-monitor fleet run``) ------------------------------------------------


class FleetModel(_Strict):
    """One model of a fleet: its spec, which versions, and where its window comes from.

    ``versions``: numbers or ``@alias`` (resolved when the fleet runs); None: every version that
    holds an alias. ``log`` overrides the fleet's prediction log; ``current`` is a fixed window
    file instead of the log (``window_start``/``window_end`` then optional). Relative paths are
    read from the fleet file's folder.
    """

    spec: str = Field(min_length=1)
    versions: list[str] | None = Field(default=None, min_length=1)
    log: str | None = None
    current: str | None = None
    window_start: str | None = None
    window_end: str | None = None

    @field_validator("versions")
    @classmethod
    def _named(cls, values: list[str] | None) -> list[str] | None:
        for value in values or []:
            name = str(value).strip()
            if not (name[1:] if name.startswith("@") else name).strip() or (
                not name.startswith("@") and not name.lstrip("v").isdigit()
            ):
                raise ValueError(f"{value!r} is neither a version number nor an @alias")
        return values

    @model_validator(mode="after")
    def _one_source(self) -> FleetModel:
        if self.current and self.log:
            raise _KeyedError("current", "give log or current, not both")
        if (self.window_start or self.window_end) and not self.current:
            raise _KeyedError("window_start", "a window from the log is the latest complete one")
        return self


class FleetSpec(_Strict):
    """A fleet file: the models to monitor and how their latest complete windows are found."""

    log: str | None = None
    period: str = "1d"
    grace: str = "1h"
    concurrency: int | None = Field(default=None, ge=1)
    models: list[FleetModel]

    @field_validator("models")
    @classmethod
    def _some(cls, models: list[FleetModel]) -> list[FleetModel]:
        if not models:
            raise ValueError("list at least one model")
        return models

    @field_validator("period", "grace")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)  # ValueError names the value
        return value

    @field_validator("period")
    @classmethod
    def _positive(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError("the period must be positive (e.g. 1d, 6h)")
        return value

    @model_validator(mode="after")
    def _sources(self) -> FleetSpec:
        for index, model in enumerate(self.models):
            if not (model.current or model.log or self.log):
                raise _KeyedError(
                    f"models.{index}.log", "no prediction log: set log (here or at the top)"
                )
        return self

    @property
    def period_seconds(self) -> float:
        return parse_duration(self.period)

    @property
    def grace_seconds(self) -> float:
        return parse_duration(self.grace)


def load_fleet(path: str | os.PathLike[str]) -> FleetSpec:
    """Read and validate a fleet file; every error is ``SpecError`` naming the file and key."""
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"{file}: fleet file not found")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{file}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SpecError(f"{file}: expected a mapping at the top level")
    try:
        return FleetSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{file}: {_unknown_first(exc)}") from None


def _unknown_first(exc: ValidationError) -> str:
    """An unknown key (a typo) is named before the missing key it was meant to be."""
    for err in exc.errors():
        if err["type"] == "extra_forbidden":
            return f"unknown key {'.'.join(str(p) for p in err['loc'])!r}"
    return first_error(exc)
