"""The public contract, defined once: tag names, artifact names, metric names, time text, results.

Everything mlflow-monitor writes to MLflow and everything it reads back goes through this module,
so a name or a format changes in one place:

- **Tags** on model versions (``monitor.health`` ...) and on runs (``monitor.kind`` ...).
  Every run in ``monitor/<model>`` carries ``monitor.kind``: ``window`` (one monitoring window),
  ``baseline``, ``alert_state`` (fatigue-control bookkeeping) or ``audit`` (one gate decision).
  The window runs are the list people read: in the MLflow UI filter the experiment with
  ``WINDOW_RUNS_FILTER`` (``tags.`monitor.kind` = 'window'``); bookkeeping runs say so in
  their description.
- **Artifacts**: ``results.json`` and the other files a run keeps.
- **Metric names**: ``perf/<metric>``, ``drift/<column>/<method>`` ...; ``safe_metric_name``
  replaces characters MLflow refuses (never drops them).
- **Time**: one UTC text format, ``2026-11-30T00:00:00Z`` (``utc_text``), read by ``parse_utc``.
- **Results schema** (``results.json``): ``CheckOutcome`` with its ``AppliedThreshold`` and
  evidence, ``MetricValue``, and ``WindowResults``, the one reader that gate, status, cards and
  alerts use. ``RESULTS_SCHEMA_VERSION`` is written into every file; readers accept every
  earlier version (a field added later reads as its default).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast, get_args

from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import Severity
from mlflow_monitor.views import page_html, window_html

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CAPTURE_DROPPED_COLUMN",
    "DEFAULT_CONFIDENCE",
    "FINDING_KIND_ORDER",
    "HEALTH_ORDER",
    "OUTCOME_COLUMNS",
    "RESULTS_SCHEMA_VERSION",
    "AppliedThreshold",
    "CheckOutcome",
    "Health",
    "Interval",
    "MetricValue",
    "RunKind",
    "ScoringRecord",
    "Status",
    "WindowResults",
    "experiment_name",
    "finding_order",
    "health",
    "level_text",
    "parse_utc",
    "read_results",
    "safe_metric_name",
    "unevaluated_critical",
    "utc_now",
    "utc_text",
    "write_results",
]

# -- tags on a model version -------------------------------------------------------------------
TAG_HEALTH = "monitor.health"
TAG_HEALTH_REASON = "monitor.health_reason"
TAG_LAST_RUN = "monitor.last_run_id"
TAG_LAST_CHECKED = "monitor.last_checked"
TAG_BASELINE_RUN = "monitor.baseline_run_id"
TAG_CARD_RUN = "monitor.card_run_id"
# The verdict's window (also run tags, below): staleness is measured from its end.
TAG_LAST_ERROR = "monitor.last_error"  # a failed attempt, recorded beside the verdict
TAG_LAST_ERROR_RUN = "monitor.last_error_run_id"
TAG_LAST_ERROR_AT = "monitor.last_error_at"
# The verdict's first finding ("check_id: message", at most TOP_FINDING_CHARS; "" when none),
# copied from its run so a fleet view needs no artifact download per version.
TAG_TOP_FINDING = "monitor.top_finding"
TOP_FINDING_CHARS = 250
# "true" when a critical check of the verdict was not evaluated (no labels yet): the health
# speaks for the rest only; copied from its run like the top finding ("" otherwise).
TAG_PARTIAL = "monitor.partial"
# the version's SLOs as last judged (``workflows.slo_report``): compact JSON, read by ``status``
TAG_SLO = "monitor.slo"
SLO_REPORT_FILE = "slo_report.json"  # written by ``slo report --out`` beside slo_report.html
SLO_REPORT_HTML = "slo_report.html"

# -- tags on a registered model ----------------------------------------------------------------
# ``monitor.health`` (TAG_HEALTH) on the registered model: the worst health among the versions
# that hold an alias (the latest version's when none does); where it comes from, for people:
TAG_HEALTH_VERSIONS = "monitor.health_versions"  # "champion=v3 critical; challenger=v4 healthy"

# -- tags on runs ------------------------------------------------------------------------------
TAG_KIND = "monitor.kind"
TAG_MODEL_NAME = "monitor.model_name"
TAG_MODEL_VERSION = "monitor.model_version"
TAG_WINDOW_START = "monitor.window_start"
TAG_WINDOW_END = "monitor.window_end"
TAG_HOST = "monitor.host"
TAG_PID = "monitor.pid"
TAG_SOURCE = "monitor.source"  # where the window's rows came from (no credential, no query)
TAG_COMPARE = "monitor.compare"  # the other version of a shadow comparison: "@champion (2)"
TAG_HEARTBEAT = "monitor.heartbeat"  # a running attempt's last sign of life (UTC text)
TAG_SUPERSEDED_BY = "monitor.superseded_by"  # a newer attempt of the same window
TAG_SUPERSEDES = "monitor.supersedes"
TAG_LEASE_RELEASED = "monitor.alert_lease_released"
TAG_AUDIT_ALIAS = "monitor.audit.alias"
TAG_AUDIT_DECISION = "monitor.audit.decision"
TAG_AUDIT_VERSION = "monitor.audit.version"
TAG_AUDIT_PREVIOUS = "monitor.audit.previous_version"
TAG_AUDIT_USER = "monitor.audit.user"
TAG_AUDIT_AT = "monitor.audit.at"
# A baseline run built from an accepted window (``mlflow-monitor rebaseline``): the window run it
# came from, why, who, the baseline it replaced and the window ("<start> -> <end>").
TAG_REBASELINE_FROM = "monitor.rebaseline.from_run"
TAG_REBASELINE_REASON = "monitor.rebaseline.reason"
TAG_REBASELINE_BY = "monitor.rebaseline.by"
TAG_REBASELINE_PREVIOUS = "monitor.rebaseline.previous_run"
TAG_REBASELINE_WINDOW = "monitor.rebaseline.window"
DECISION_REBASELINE = "rebaseline"  # an audit record's decision (monitor.audit.decision)
TAG_RUN_NOTE = "mlflow.note.content"  # MLflow's own tag for a run's description

RunKind = Literal["window", "baseline", "alert_state", "audit", "adjudication", "silence"]
KIND_WINDOW: RunKind = "window"
KIND_BASELINE: RunKind = "baseline"
KIND_ALERT_STATE: RunKind = "alert_state"
KIND_AUDIT: RunKind = "audit"
# An ack/dismiss/reopen of an alert (one FINISHED run each, append-only) and a silence (one run
# each; ``silence end`` adds its end tags): fields under these tag prefixes
# (``adapters.mlflow.adjudication``).
KIND_ADJUDICATION: RunKind = "adjudication"
KIND_SILENCE: RunKind = "silence"
TAG_ADJUDICATION_PREFIX = "monitor.adjudication."
TAG_SILENCE_PREFIX = "monitor.silence."
WINDOW_RUNS_FILTER = f"tags.`{TAG_KIND}` = '{KIND_WINDOW}'"

# -- artifacts ---------------------------------------------------------------------------------
SOURCE_FILE = "source.json"  # the window's source: location, kind, SQL query, rows, seconds
RESULTS_FILE = "results.json"
COMPLIANCE_FILE = "compliance.json"
COMPLIANCE_REPORT_FILE = "reports/compliance_report.html"
ALERTS_FILE = "alerts.json"
ERROR_FILE = "error.json"  # a FAILED window run: the error line and the failing cell
ROLLBACK_ALERTS_FILE = "rollback_alerts.json"
BASELINE_DIR = "baseline"
BASELINE_FILE = "baseline.json"
SAMPLE_FILE = "sample.parquet"
SPEC_FILE = "monitor.yaml"
AUDIT_FILE = "audit.json"
CARD_MARKDOWN_FILE = "model_card.md"
CARD_HTML_FILE = "model_card.html"
CARD_YAML_FILE = "card/card.yaml"
NOTEBOOKS_DIR = "notebooks"
REPORTS_DIR = "reports"

# -- names -------------------------------------------------------------------------------------
# A column of captured predictions: on the first row of each batch the capture recorder wrote,
# the records it dropped since its previous batch reached the log. A window holding it logs
# ``capture/dropped`` (its sum): predictions served but missing from the window.
CAPTURE_DROPPED_COLUMN = "mm_dropped"
_METRIC_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]")


def experiment_name(model_name: str) -> str:
    """The experiment that holds every baseline and monitoring run of one model."""
    return f"monitor/{model_name}"


def safe_metric_name(name: str) -> str:
    """The name MLflow accepts: refused characters become ``_`` (never dropped), and path
    segments MLflow refuses (empty, ``.``, ``..``: a column named ``../x``) become underscores."""
    segments = _METRIC_UNSAFE.sub("_", name).split("/")
    return "/".join(s if s.strip(".") else "_" * max(len(s), 1) for s in segments)


# -- time --------------------------------------------------------------------------------------
def utc_text(moment: datetime, *, precise: bool = False) -> str:
    """``2026-11-30T00:00:00Z``; ``precise`` keeps microseconds (ordering within a second)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if precise else "%Y-%m-%dT%H:%M:%SZ"
    return aware.astimezone(timezone.utc).strftime(pattern)


def parse_utc(text: str) -> datetime:
    """Read ISO 8601 text (``Z`` or an offset; naive text is taken as UTC) as an aware UTC time."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc)


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(timezone.utc)


# -- results schema ----------------------------------------------------------------------------
RESULTS_SCHEMA_VERSION = (
    4  # 2: health by window; 3: outcome interval, baseline; 4: scoring, comparison
)

# insufficient_data: evaluated, but a denominator is below its minimum (reported, never blocks);
# not_evaluated: the input is absent (no labels, no score): a critical one blocks a gate.
Status = Literal["pass", "warn", "fail", "insufficient_data", "not_evaluated", "error"]
Health = Literal["healthy", "warning", "critical", "error"]
HEALTH_ORDER: dict[Health, int] = {"healthy": 0, "warning": 1, "critical": 2, "error": 3}
_STATUSES = frozenset(get_args(Status))
_SEVERITIES = frozenset(get_args(Severity))
_FINDING_ORDER = {"error": 0, "fail": 1, "warn": 2}
# Among findings of one status, what people act on first: the model's own performance and the
# regulatory rules, then the data (drift, quality), then slices (segments, group metrics).
FINDING_KIND_ORDER = {
    "performance": 0, "policy": 1, "drift": 2, "quality": 3, "segment": 4, "bias_drift": 5,
    "fairness": 5,
}  # fmt: skip

Evidence = dict[str, float | int | str | None]
Basis = Literal["measured", "estimated"]


@dataclass(frozen=True)
class AppliedThreshold:
    """The bound actually applied to a value, and where it came from.

    ``source`` is one of ``static``, ``baseline``, ``history``, ``history_seasonal``,
    ``static_fallback`` (history requested but too short), ``policy:<pack>``, ``drift_method``.
    """

    lower: float | None
    upper: float | None
    source: str
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        """JSON-safe fields."""
        return {"lower": self.lower, "upper": self.upper, "source": self.source, "note": self.note}

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> AppliedThreshold:
        """Inverse of ``to_dict``."""
        return cls(
            _number(raw.get("lower")),
            _number(raw.get("upper")),
            str(raw.get("source") or ""),
            str(raw.get("note") or ""),
        )

    def text(self) -> str:
        """``[0.7, +inf] (baseline)``."""
        low = f"{self.lower:.4g}" if self.lower is not None else "-inf"
        high = f"{self.upper:.4g}" if self.upper is not None else "+inf"
        return f"[{low}, {high}] ({self.source})"


DEFAULT_CONFIDENCE = 0.95  # the product's one confidence level; ``confidence_level`` in the spec


def level_text(level: float) -> str:
    """A confidence level for people: ``95%``, ``98.3%``, ``99.95%`` (never rounded to 100%)."""
    percent = level * 100
    for digits in range(4):
        text = f"{percent:.{digits}f}"
        if abs(float(text) - percent) < 1e-9 or (float(text) < 100 and digits >= 1):
            return f"{text}%"
    return f"{percent:.4f}%"


@dataclass(frozen=True)
class Interval:
    """A confidence interval around an outcome's value, with the counts it rests on.

    ``method`` names the interval (``wilson``, ``newcombe``, ``katz_log``, ``delong``,
    ``hanley_mcneil``, ``bootstrap``); ``denominator`` is the count the rate is taken over (the
    group's actual positives for an FNR ...) and ``reference_denominator`` the other side's for a
    comparison. Either bound may be ``None`` (unbounded: an infinite ratio's upper end).
    ``of`` says what the interval is of: the outcome's ``value`` itself, or the ``change``
    against the baseline (bias drift), the ``drop`` or ``rise`` (a segment against its baseline).
    """

    low: float | None
    high: float | None
    level: float
    method: str
    denominator: int | None = None
    reference_denominator: int | None = None
    of: str = "value"

    def to_dict(self) -> dict[str, object]:
        """JSON-safe fields."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Interval:
        """Inverse of ``to_dict``."""
        return cls(
            _number(raw.get("low")),
            _number(raw.get("high")),
            _number(raw.get("level")) or DEFAULT_CONFIDENCE,
            str(raw.get("method") or ""),
            _count(raw.get("denominator")),
            _count(raw.get("reference_denominator")),
            str(raw.get("of") or "value"),
        )

    def text(self) -> str:
        """``[0.12, 0.31] (95% wilson, n=45)`` for reports and messages."""
        low = "-inf" if self.low is None else f"{self.low:.4g}"
        high = "+inf" if self.high is None else f"{self.high:.4g}"
        counts = ""
        if self.denominator is not None:
            counts = f", n={self.denominator}"
            if self.reference_denominator is not None:
                counts += f" vs {self.reference_denominator}"
        of = "" if self.of == "value" else f" of the {self.of}"
        return f"[{low}, {high}] ({level_text(self.level)} {self.method}{of}{counts})"


@dataclass(frozen=True)
class CheckOutcome:
    """One check's verdict with the evidence behind it (serialized into ``results.json``)."""

    check_id: str
    kind: str
    status: Status
    severity: Severity
    value: float | None
    threshold: AppliedThreshold | None
    message: str
    metric: str | None = None
    evidence: Evidence = field(default_factory=dict)
    basis: Basis = "measured"  # "estimated": judged before labels arrived (no labels yet)
    cause: str | None = None  # the root cause this finding is grouped under, when known
    interval: Interval | None = None  # confidence interval of ``value``, with its denominators
    baseline: float | None = None  # the baseline's value of the same metric, when compared

    @property
    def firing(self) -> bool:
        """True when the outcome is a finding people should hear about."""
        return self.status in ("warn", "fail", "error")

    @property
    def source(self) -> str:
        """Where the applied threshold came from (``policy:<pack>`` for policy rules)."""
        return self.threshold.source if self.threshold else ""

    def to_dict(self) -> dict[str, object]:
        """JSON-safe fields, as in ``results.json``."""
        return {
            "check_id": self.check_id,
            "kind": self.kind,
            "status": self.status,
            "severity": self.severity,
            "value": self.value,
            "threshold": self.threshold.to_dict() if self.threshold else None,
            "message": self.message,
            "metric": self.metric,
            "evidence": dict(self.evidence),
            "basis": self.basis,
            "cause": self.cause,
            "interval": self.interval.to_dict() if self.interval else None,
            "baseline": self.baseline,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> CheckOutcome:
        """Inverse of ``to_dict``; an unknown status or severity is a ``DataError``."""
        if "check_id" not in raw:
            raise DataError("results.json: an outcome has no 'check_id'")
        status = str(raw.get("status", "error"))
        severity = str(raw.get("severity", "critical"))
        if status not in _STATUSES or severity not in _SEVERITIES:
            raise DataError(
                f"results.json: outcome {raw['check_id']!r} has status {status!r} / "
                f"severity {severity!r}"
            )
        threshold = raw.get("threshold")
        evidence = raw.get("evidence")
        metric = raw.get("metric")
        basis: Basis = "estimated" if raw.get("basis") == "estimated" else "measured"
        cause = raw.get("cause")
        interval = raw.get("interval")
        return cls(
            check_id=str(raw["check_id"]),
            kind=str(raw.get("kind", "")),
            status=cast(Status, status),
            severity=cast(Severity, severity),
            value=_number(raw.get("value")),
            threshold=AppliedThreshold.from_dict(threshold)
            if isinstance(threshold, Mapping)
            else None,
            message=str(raw.get("message", "")),
            metric=None if metric is None else str(metric),
            evidence=dict(evidence) if isinstance(evidence, Mapping) else {},
            basis=basis,
            cause=None if cause in (None, "") else str(cause),
            interval=Interval.from_dict(interval) if isinstance(interval, Mapping) else None,
            baseline=_number(raw.get("baseline")),
        )

    def matches(self, name: str) -> bool:
        """``name`` is this check's id, an id prefix, a path segment or its policy pack."""
        prefix = name.rstrip("/")
        return (
            self.check_id == prefix
            or self.check_id.startswith(prefix + "/")
            or prefix in self.check_id.split("/")
            or self.source == f"policy:{prefix}"
        )


@dataclass(frozen=True)
class MetricValue:
    """A metric to log: contract name (``perf/roc_auc``) and value."""

    name: str
    value: float


def health(outcomes: Iterable[CheckOutcome]) -> Health:
    """Worst of the outcomes: error > critical (any fail) > warning (any warn) > healthy."""
    statuses = {o.status for o in outcomes}
    if "error" in statuses:
        return "error"
    if "fail" in statuses:
        return "critical"
    if "warn" in statuses:
        return "warning"
    return "healthy"


def findings(outcomes: Iterable[CheckOutcome]) -> tuple[CheckOutcome, ...]:
    """The outcomes that are findings (error, fail, warn): worst status first, then by kind
    (``FINDING_KIND_ORDER``: performance and policy rules before drift, slices last), measured
    before estimated, then by check id."""
    found = [o for o in outcomes if o.firing]
    return tuple(sorted(found, key=finding_order))


def finding_order(outcome: CheckOutcome) -> tuple[int, int, int, str]:
    """The sort key of ``findings``: status, kind, basis, check id."""
    kind = FINDING_KIND_ORDER.get(outcome.kind, len(FINDING_KIND_ORDER))
    return (
        _FINDING_ORDER.get(outcome.status, 9),
        kind,
        int(outcome.basis == "estimated"),
        outcome.check_id,
    )


def unevaluated_critical(outcomes: Iterable[CheckOutcome]) -> tuple[CheckOutcome, ...]:
    """The critical checks whose input was absent (``not_evaluated``), by check id.

    They are not findings (nobody is paged, health ignores them), but the window's verdict does
    not cover them: the window is partial and a gate refuses on them.
    """
    absent = [o for o in outcomes if o.status == "not_evaluated" and o.severity == "critical"]
    return tuple(sorted(absent, key=lambda o: o.check_id))


@dataclass(frozen=True)
class WindowResults:
    """``results.json`` as every reader sees it: the window, its health, outcomes and metrics.

    The statistics sections (drift, performance, quality, segments, fairness) stay as the JSON
    they were written as, in ``sections``; the cards read their tables from there.
    """

    model: str
    model_version: str
    window_start: str | None
    window_end: str
    rows: int
    health: Health
    outcomes: tuple[CheckOutcome, ...]
    metrics: tuple[MetricValue, ...]
    notes: tuple[str, ...] = ()
    sections: Mapping[str, object] = field(default_factory=dict)
    schema_version: int = RESULTS_SCHEMA_VERSION

    @property
    def findings(self) -> tuple[CheckOutcome, ...]:
        """Outcomes that are findings, worst first."""
        return findings(self.outcomes)

    @property
    def partial(self) -> bool:
        """True when a critical check was not evaluated: health speaks for the rest only."""
        return bool(unevaluated_critical(self.outcomes))

    def statistics(self) -> Mapping[str, object]:
        """The statistics sections as JSON (a subclass that holds them typed renders them)."""
        return self.sections

    @property
    def scoring(self) -> ScoringRecord | None:
        """How the monitor scored rows that came without the model's output (None: it did not)."""
        raw = self.statistics().get("scoring")
        return ScoringRecord.from_dict(raw) if isinstance(raw, Mapping) else None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self.model!r}, version={self.model_version!r}, "
            f"window_end={self.window_end!r}, rows={self.rows}, health={self.health!r}, "
            f"checks={len(self.outcomes)}, findings={len(self.findings)})"
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per check, findings first: status, value, baseline, bound, interval, message."""
        import pandas as pd

        ordered = (*self.findings, *(o for o in self.outcomes if not o.firing))
        return pd.DataFrame([_outcome_row(o) for o in ordered], columns=list(OUTCOME_COLUMNS))

    def _repr_html_(self) -> str:
        """Jupyter's inline view: health, findings, a drift chart, every check folded."""
        return window_html(self.to_dict())

    def save_html(self, path: str | Path) -> Path:
        """The inline view as a standalone HTML page (like Evidently's ``save_html``)."""
        title = f"{self.model or 'window'} {self.window_end}: {self.health}"
        target = Path(path)
        target.write_text(page_html(self._repr_html_(), title=title), encoding="utf-8")
        return target

    def to_dict(self) -> dict[str, object]:
        """The JSON body of ``results.json`` (non-finite numbers are the writer's concern)."""
        return {
            "schema_version": self.schema_version,
            "model": self.model,
            "model_version": self.model_version,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "rows": self.rows,
            "health": self.health,
            "counts": _counts(self.outcomes),
            "outcomes": [o.to_dict() for o in self.outcomes],
            "metrics": {m.name: m.value for m in self.metrics},
            **dict(self.statistics()),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> WindowResults:
        """Read any schema version up to ``RESULTS_SCHEMA_VERSION``; a newer one is refused."""
        version = raw.get("schema_version", 1)
        if not isinstance(version, int) or version > RESULTS_SCHEMA_VERSION:
            raise DataError(
                f"results.json: schema_version {version!r} is newer than this release reads "
                f"({RESULTS_SCHEMA_VERSION}); upgrade mlflow-monitor"
            )
        items = raw.get("outcomes")
        if not isinstance(items, list):
            raise DataError("results.json: 'outcomes' must be a list")
        outcomes = tuple(CheckOutcome.from_dict(i) for i in items if isinstance(i, Mapping))
        stated = str(raw.get("health") or health(outcomes))
        if stated not in HEALTH_ORDER:
            raise DataError(f"results.json: unknown health {stated!r}")
        metrics = raw.get("metrics")
        pairs = metrics.items() if isinstance(metrics, Mapping) else ()
        start = raw.get("window_start")
        notes = raw.get("notes")
        return cls(
            schema_version=version,
            model=str(raw.get("model", "")),
            model_version=str(raw.get("model_version", "")),
            window_start=None if start in (None, "") else str(start),
            window_end=str(raw.get("window_end", "")),
            rows=int(cast(int, raw.get("rows") or 0)),
            health=stated,  # type: ignore[arg-type]  # checked against HEALTH_ORDER above
            outcomes=outcomes,
            metrics=tuple(
                MetricValue(str(k), float(v)) for k, v in pairs if isinstance(v, (int, float))
            ),
            notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
            sections={k: v for k, v in raw.items() if k in _SECTIONS},
        )


OUTCOME_COLUMNS = (
    "check", "kind", "status", "severity", "value", "baseline", "lower", "upper",
    "interval_low", "interval_high", "level", "denominator", "cause", "basis", "message",
)  # fmt: skip


def _outcome_row(o: CheckOutcome) -> dict[str, object]:
    """One outcome as a flat table row (``WindowResults.to_frame``)."""
    interval = o.interval
    return {
        "check": o.check_id,
        "kind": o.kind,
        "status": o.status,
        "severity": o.severity,
        "value": o.value,
        "baseline": o.baseline,
        "lower": o.threshold.lower if o.threshold else None,
        "upper": o.threshold.upper if o.threshold else None,
        "interval_low": interval.low if interval else None,
        "interval_high": interval.high if interval else None,
        "level": interval.level if interval else None,
        "denominator": interval.denominator if interval else None,
        "cause": o.cause,
        "basis": o.basis,
        "message": o.message,
    }


_SECTIONS = (
    "drift", "prediction_drift", "performance", "quality", "segments", "fairness", "scoring",
    "comparison",
)  # fmt: skip


@dataclass(frozen=True)
class ScoringRecord:
    """Rows the monitor scored itself with a registered model (``results.json`` ``scoring``).

    ``reason``: ``absent`` (an output column was missing from the window), ``missing`` (some
    rows had no output), ``always`` (the spec asks to score every row), ``comparison`` (the
    other side of a shadow comparison). ``columns`` maps each output column filled to the number
    of rows it was filled in. ``model_uri`` is a registry URI (``models:/name/3``): no secret.
    """

    model_uri: str
    rows: int
    rows_scored: int
    columns: Mapping[str, int]
    reason: str
    seconds: float
    batch_rows: int
    method: str

    def to_dict(self) -> dict[str, object]:
        """JSON-safe mapping."""
        return {
            "model_uri": self.model_uri,
            "rows": self.rows,
            "rows_scored": self.rows_scored,
            "columns": dict(self.columns),
            "reason": self.reason,
            "seconds": round(self.seconds, 4),
            "batch_rows": self.batch_rows,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> ScoringRecord:
        """Inverse of ``to_dict``."""
        columns = raw.get("columns")
        return cls(
            model_uri=str(raw.get("model_uri", "")),
            rows=_count(raw.get("rows")) or 0,
            rows_scored=_count(raw.get("rows_scored")) or 0,
            columns={str(k): int(cast(int, v)) for k, v in columns.items()}
            if isinstance(columns, Mapping)
            else {},
            reason=str(raw.get("reason", "")),
            seconds=_number(raw.get("seconds")) or 0.0,
            batch_rows=_count(raw.get("batch_rows")) or 0,
            method=str(raw.get("method", "")),
        )

    def text(self) -> str:
        """``scored 4,000 of 4,000 rows with models:/churn/3 in 0.42 s (score absent)``."""
        return (
            f"scored {self.rows_scored:,} of {self.rows:,} rows with {self.model_uri} "
            f"in {self.seconds:.2f} s ({self.reason})"
        )


def read_results(path: str | Path) -> WindowResults:
    """Read a ``results.json`` file; a missing or unreadable file is one ``DataError`` line."""
    source = Path(path)
    try:
        raw = json.loads(source.read_text())
    except FileNotFoundError:
        raise DataError(f"{source}: no results.json") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{source}: unreadable results.json ({exc})") from None
    if not isinstance(raw, Mapping):
        raise DataError(f"{source}: results.json must hold an object")
    return WindowResults.from_dict(raw)


def write_results(body: Mapping[str, object], output_dir: str | Path) -> Path:
    """Write ``results.json`` (strict JSON: no NaN or inf) into ``output_dir``; returns its path."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RESULTS_FILE
    path.write_text(json.dumps(body, indent=1, allow_nan=False))
    return path


def _counts(outcomes: Iterable[CheckOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)
