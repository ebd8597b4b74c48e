"""Model cards that follow the model: Mitchell et al.'s sections plus a live Monitoring section.

A card is filled from MLflow (version, source run, signature, tags), the baseline (reference
performance, fairness per group, segment performance), the latest monitoring windows and a small
human-written YAML (``card:`` in the spec; ``HumanCard``). ``build_context`` assembles a typed
``CardContext`` (pure), ``render_card`` renders ``model_card.md`` and ``model_card.html`` with
the Jinja2 templates shipped in ``mlflow_monitor.resources.model_cards`` (HTML autoescaped), and
``refresh_card`` (called after every monitoring run) attaches both to the run and the baseline
run and rewrites the managed summary in the version's description; the card YAML goes beside
the card as ``card/card.yaml``. ``write_card`` (the ``card`` command) renders on demand, taking
the spec and card YAML the baseline run kept when none is given, and never publishes a card
without any human field over an existing one. Missing human fields render as "Not provided",
never as a blank.

The Monitoring section counts the latest window's checks per status with the gate's rule
(``verdicts.promotion.judged_summary``): ``insufficient_data`` and ``not_evaluated`` are "not
judged", never "passing"; each policy rule row shows its estimate, confidence interval and
denominators (or, not judged, its counts); and the rules the reference data already broke when
the baseline was built (``reference_outcomes`` in ``baseline.json``, warn or fail) are listed, so
a clean window does not find them by paging.

Before labels arrive a window is judged on estimated performance (CBPE, DLE;
``verdicts.estimated_checks``): every finding or rule judged on an estimate is marked
"(estimated, no labels yet)" wherever the card lists it, the check counts say how many were
estimated, the latest window's estimates are one line with their intervals (the ``estimation``
section of its ``results.json``), and a small table shows how well estimation tracked: per
window with labels, the estimate on its labelled rows, the realized metric and their difference
(``perf_est_error/<m>``, logged by each window run, a backfilled one included).

The HTML card has a Trends section: the trend figure of the version's last windows
(``workflows.version_trends``, drawn by ``adapters.plots.trend_plot``: each key metric with the
band allowed in each window, the crossings in red, the health strip) embedded as a
``data:image/png;base64`` image, so the card stays one self-contained file that shows in a
sandboxed viewer. A figure that cannot be read or drawn is a line saying so, never a failed card.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from mlflow_monitor.contract import (
    TAG_REBASELINE_BY,
    TAG_REBASELINE_FROM,
    TAG_REBASELINE_PREVIOUS,
    TAG_REBASELINE_REASON,
    TAG_REBASELINE_WINDOW,
    TAG_SUPERSEDED_BY,
    CheckOutcome,
    WindowResults,
    findings,
    unevaluated_critical,
    utc_text,
)
from mlflow_monitor.errors import DataError, MonitorError, SpecError
from mlflow_monitor.spec import MonitorSpec, parse_spec, resolve_spec_path
from mlflow_monitor.verdicts.promotion import (
    NOT_JUDGED,
    judged_summary,
    not_judged_reason,
    policy_status,
)

if TYPE_CHECKING:
    from mlflow_monitor.adapters.mlflow.card_store import CardFacts, RunFacts
    from mlflow_monitor.verdicts.trends import VersionTrends

__all__ = [
    "NOT_PROVIDED",
    "CardContext",
    "CardError",
    "CardRefresh",
    "EstimationRow",
    "Finding",
    "GroupRow",
    "GroupTable",
    "HumanCard",
    "NamedValue",
    "RenderedCard",
    "TrendImage",
    "WindowRow",
    "WrittenCard",
    "build_context",
    "load_human_card",
    "parse_human_card",
    "refresh_card",
    "render_card",
    "trend_images",
    "write_card",
]

NOT_PROVIDED = "Not provided"
MARKDOWN_FILE = "model_card.md"
HTML_FILE = "model_card.html"
_TEMPLATES = "mlflow_monitor.resources.model_cards"
_GROUP_METRIC = re.compile(r"^(fairness|segment)/([^/=]+)=(.+)/([^/]+)$")
_MAX_ROWS = 30
_MAX_TREND_METRICS = 5
_MAX_PARTIAL_LISTED = 3
_MAX_ESTIMATION_METRICS = 3  # metrics in the estimation-error table and the estimate line
ESTIMATED_MARK = "(estimated, no labels yet)"
_EST_ERROR = "perf_est_error/"
_MACRO = ("f1", "precision", "recall")  # named <m>_macro in a multiclass window's metrics
_ESTIMATION_FALLBACK = ("roc_auc", "f1", "f1_macro", "accuracy", "rmse", "mae")
CARD_TREND_WINDOWS = 12  # windows on the card's trend figure
_log = logging.getLogger(__name__)
_STATUS_TEXT = {
    "pass": "pass",
    "warn": "warn",
    "fail": "fail",
    "error": "error",
    "insufficient_data": "insufficient data (not judged)",
    "not_evaluated": "not evaluated (not judged)",
}


class CardError(MonitorError):
    """The card could not be built or rendered; the message names the file or step."""


# -- the human-written part ------------------------------------------------------------------------
class _CardYaml(BaseModel):
    """The YAML a person writes for a card; unknown keys are errors that name the key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    overview: str | None = None
    owners: list[str] = []
    license: str | None = None
    references: list[str] = []
    intended_use: str | None = None
    intended_users: list[str] = []
    out_of_scope_uses: list[str] = []
    factors: list[str] = []
    training_data: str | None = None
    evaluation_data: str | None = None
    ethical_considerations: list[str] = []
    limitations: list[str] = []
    recommendations: list[str] = []


@dataclass(frozen=True)
class HumanCard:
    """The human-written fields; ``None``/empty means "Not provided" on the card."""

    overview: str | None = None
    owners: tuple[str, ...] = ()
    license: str | None = None
    references: tuple[str, ...] = ()
    intended_use: str | None = None
    intended_users: tuple[str, ...] = ()
    out_of_scope_uses: tuple[str, ...] = ()
    factors: tuple[str, ...] = ()
    training_data: str | None = None
    evaluation_data: str | None = None
    ethical_considerations: tuple[str, ...] = ()
    limitations: tuple[str, ...] = ()
    recommendations: tuple[str, ...] = ()


def load_human_card(path: str | Path) -> HumanCard:
    """Read and validate the card YAML; ``SpecError`` naming the file and the key at fault."""
    return _read_human_card(path)[0]


def _read_human_card(path: str | Path) -> tuple[HumanCard, str]:
    """The card YAML file as a ``HumanCard`` and its text (kept beside the published card)."""
    file = Path(path)
    if not file.is_file():
        raise SpecError(f"{file}: card file not found (spec key 'card')")
    text = file.read_text()
    return parse_human_card(text, str(file)), text


def parse_human_card(text: str, source: str) -> HumanCard:
    """Validate card YAML text; ``SpecError`` naming ``source`` and the key at fault."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: expected a mapping at the top level")
    try:
        parsed = _CardYaml.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        what = "unknown key" if err["type"] == "extra_forbidden" else str(err["msg"])
        raise SpecError(f"{source}: {what} {key!r}") from None
    return HumanCard(
        overview=parsed.overview,
        owners=tuple(parsed.owners),
        license=parsed.license,
        references=tuple(parsed.references),
        intended_use=parsed.intended_use,
        intended_users=tuple(parsed.intended_users),
        out_of_scope_uses=tuple(parsed.out_of_scope_uses),
        factors=tuple(parsed.factors),
        training_data=parsed.training_data,
        evaluation_data=parsed.evaluation_data,
        ethical_considerations=tuple(parsed.ethical_considerations),
        limitations=tuple(parsed.limitations),
        recommendations=tuple(parsed.recommendations),
    )


# -- the context the templates render ---------------------------------------------------------
@dataclass(frozen=True)
class NamedValue:
    """A name and its value, already formatted for display."""

    name: str
    value: str


@dataclass(frozen=True)
class GroupRow:
    """One group of an attribute or segment column: rows, and one cell per metric.

    Each is ``baseline → window`` once there is a window, a value with its interval and
    denominator where known (``0.31 [0.29, 0.33] n=2,400 → 0.41 [0.36, 0.46] n=310``), ``—``
    for a side without a value.
    """

    group: str
    size: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class GroupTable:
    """A disaggregated table: one attribute (protected or segment) by group and metric.

    ``compared``: the cells read ``baseline → latest window`` (there is a window).
    """

    attribute: str
    kind: str
    metrics: tuple[str, ...]
    rows: tuple[GroupRow, ...]
    compared: bool = False


@dataclass(frozen=True)
class WindowRow:
    """One monitoring window in the trend table."""

    run_id: str
    window: str
    health: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """A check outcome shown on the card (open finding or policy rule).

    ``estimate`` is the value with its confidence interval and denominators
    (``0.62 [0.48, 0.79] (95% katz_log, n=45 vs 400)``) or, not judged, why and the counts.
    """

    check_id: str
    status: str
    severity: str
    message: str
    estimate: str = ""
    basis: str = "measured"  # "estimated": judged on estimated performance, no labels yet

    @property
    def check(self) -> str:
        """The check id, marked ``(estimated, no labels yet)`` when judged on an estimate."""
        return f"{self.check_id} {ESTIMATED_MARK}" if self.basis == "estimated" else self.check_id


@dataclass(frozen=True)
class EstimationRow:
    """How well estimation tracked one metric of one window that had labels.

    ``estimated`` is the estimate on the window's labelled rows (realized + error), so
    ``error`` = ``estimated`` - ``realized`` reads off the row; ``labelled`` the label coverage.
    The window's run is the one of the same window end in the trend table.
    """

    window_end: str
    metric: str
    estimated: str
    realized: str
    error: str
    labelled: str


@dataclass(frozen=True)
class TrendImage:
    """A trend figure embedded in the HTML card: ``data:image/png;base64,...`` and its text."""

    title: str
    data_uri: str
    alt: str


@dataclass(frozen=True)
class CardContext:
    """Everything the card templates show, formatted; built by ``build_context``."""

    model: str
    version: str
    generated_at: str
    task: str
    created: str
    aliases: tuple[str, ...]
    description: str
    flavors: tuple[str, ...]
    signature_inputs: tuple[str, ...]
    signature_outputs: tuple[str, ...]
    source_run_id: str | None
    human: HumanCard
    factors: tuple[str, ...]
    metrics_used: tuple[str, ...]
    training_params: tuple[NamedValue, ...]
    training_metrics: tuple[NamedValue, ...]
    evaluation_data: tuple[str, ...]
    baseline_run_id: str | None
    reference_performance: tuple[NamedValue, ...]
    disaggregated: tuple[GroupTable, ...]
    health: str | None
    health_reason: str | None
    last_checked: str | None
    trend_metrics: tuple[str, ...]
    windows: tuple[WindowRow, ...]
    open_findings: tuple[Finding, ...]
    policy: tuple[Finding, ...]
    policy_status: str
    partial: str = ""  # "partial: ..." when the latest window left critical checks unevaluated
    checks_status: str = ""  # "42 checks: 38 pass, 2 warn, 2 insufficient data (not judged)"
    reference_breaks: tuple[Finding, ...] = ()  # rules the reference data already broke
    # "performance estimated (CBPE) before labels: roc_auc 0.77 [0.75, 0.79], ...": the latest
    # window was judged on estimates (no labels); "" otherwise
    estimation: str = ""
    estimation_errors: tuple[EstimationRow, ...] = ()  # windows with labels, oldest first
    # "scored by the monitor: ...; compared with @champion (version 2): ...": where the latest
    # window's outputs came from and its shadow comparison; "" when neither happened
    provenance: str = ""
    trend_images: tuple[TrendImage, ...] = ()  # the last windows' trends (HTML card)
    trend_note: str = ""  # why there is no trend figure, when one was expected
    # one line per SLO as last judged (the version's monitor.slo tag, workflows.slo_report)
    service_levels: tuple[str, ...] = ()
    # alert decisions (ack/dismiss/reopen) and silences of the version, newest first
    alert_decisions: tuple[str, ...] = ()


def build_context(
    facts: CardFacts,
    human: HumanCard,
    spec: MonitorSpec | None,
    *,
    now: datetime,
    trends: Sequence[TrendImage] = (),
    trend_note: str = "",
) -> CardContext:
    """Assemble the card's context from registry facts, the human YAML and the spec. Pure.

    ``trends`` are the trend figures already drawn (``trend_images``); ``trend_note`` says why
    there is none when the figure could not be read or drawn.
    """
    from mlflow_monitor.adapters.mlflow.card_store import user_description

    version, tags = facts.version, facts.version.tags
    baseline = _as_map(facts.baseline_json)
    checked = _latest_outcomes(facts.last_results)
    outcomes = _outcomes(checked)
    policy = tuple(f for f in outcomes if f.check_id.startswith("policy/"))
    partial = _partial_note(facts.last_results)
    return CardContext(
        model=version.name,
        version=version.version,
        generated_at=utc_text(now),
        task=spec.task if spec else NOT_PROVIDED,
        created=_iso_ms(version.created_ms),
        aliases=version.aliases,
        description=user_description(version.description),
        flavors=facts.signature.flavors if facts.signature else (),
        signature_inputs=facts.signature.inputs if facts.signature else (),
        signature_outputs=facts.signature.outputs if facts.signature else (),
        source_run_id=version.source_run_id,
        human=human,
        factors=_factors(spec, human),
        metrics_used=_metrics_used(spec),
        training_params=_named(facts.source_run.params if facts.source_run else {}),
        training_metrics=_named(facts.source_run.metrics if facts.source_run else {}),
        evaluation_data=_evaluation_data(facts, baseline, human),
        baseline_run_id=facts.baseline_run.run_id if facts.baseline_run else None,
        reference_performance=_reference_performance(facts, baseline),
        disaggregated=_disaggregated(baseline, facts.last_results, spec),
        health=tags.get("monitor.health"),
        health_reason=_joined(tags.get("monitor.health_reason"), partial) or None,
        last_checked=tags.get("monitor.last_checked"),
        trend_metrics=(trend := _trend_metrics(facts.windows, spec, checked)),
        windows=_window_rows(
            facts.windows, trend, partial_run=tags.get("monitor.last_run_id") if partial else None
        ),
        open_findings=tuple(f for f in outcomes if f.status in ("warn", "fail", "error")),
        policy=policy,
        policy_status=_policy_status(checked, spec),
        partial=partial,
        checks_status=_checks_status(checked),
        reference_breaks=_reference_breaks(baseline),
        estimation=_estimation_line(facts.last_results, spec, checked),
        estimation_errors=_estimation_rows(facts.windows, spec, checked),
        provenance=_provenance_line(facts.last_results),
        trend_images=tuple(trends),
        trend_note=trend_note,
        service_levels=_service_levels(tags),
    )


def _service_levels(tags: Mapping[str, str]) -> tuple[str, ...]:
    from mlflow_monitor.contract import TAG_SLO
    from mlflow_monitor.workflows.slo_report import read_slo_tag

    return read_slo_tag(tags.get(TAG_SLO))


def _joined(*parts: str | None) -> str:
    return "; ".join(p for p in parts if p)


def _as_map(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def _as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _fmt(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def _iso_ms(ms: int) -> str:
    return utc_text(datetime.fromtimestamp(ms / 1000, tz=timezone.utc)) if ms else NOT_PROVIDED


def _named(values: Mapping[str, object]) -> tuple[NamedValue, ...]:
    return tuple(NamedValue(k, _fmt(values[k])) for k in sorted(values)[:_MAX_ROWS])


def _factors(spec: MonitorSpec | None, human: HumanCard) -> tuple[str, ...]:
    found = list(human.factors)
    if spec and spec.columns.protected:
        found.append("Protected attributes: " + ", ".join(spec.columns.protected))
    if spec and spec.fairness.intersections:
        found.append(
            "Intersections: " + "; ".join(" × ".join(c) for c in spec.fairness.intersections)
        )
    if spec and spec.columns.segments:
        found.append("Segments: " + ", ".join(spec.columns.segments))
    return tuple(found)


def _metrics_used(spec: MonitorSpec | None) -> tuple[str, ...]:
    if spec is None:
        return ()
    lines = []
    for check in spec.performance.checks:
        bounds = [
            f"{k} {v:g}"
            for k, v in (
                ("min", check.min),
                ("max", check.max),
                ("max_drop", check.max_drop),
                ("max_rise", check.max_rise),
            )
            if v is not None
        ]
        if check.history:
            bounds.append(f"history median ± {check.history.k:g}·MAD")
        rel = " (relative)" if check.relative else ""
        lines.append(f"{check.metric}: {', '.join(bounds)}{rel} — {check.severity}")
    drift = spec.drift
    lines.append(
        f"Data drift ({drift.method}): share of drifted columns warning at "
        f"{drift.share_warning:g}, critical at {drift.share_critical:g}"
    )
    if spec.fairness.policies:
        lines.append("Fairness policy packs: " + ", ".join(spec.fairness.policies))
    return tuple(lines)


def _evaluation_data(
    facts: CardFacts, baseline: Mapping[str, object], human: HumanCard
) -> tuple[str, ...]:
    lines = [human.evaluation_data] if human.evaluation_data else []
    if facts.baseline_run is not None:
        rows = baseline.get("rows")
        size = f"{_fmt(rows)} rows" if rows is not None else "reference data"
        built = baseline.get("created_at") or _iso_ms(facts.baseline_run.start_time_ms)
        lines.append(
            f"Baseline reference: {size}, built {built} (run {facts.baseline_run.run_id})."
        )
        lines += _rebaselined(facts.baseline_run.tags)
        lines += [str(n) for n in _as_list(baseline.get("notes"))]
    return tuple(lines)


def _rebaselined(tags: Mapping[str, str]) -> list[str]:
    """The re-baseline line (``mlflow-monitor rebaseline``): the accepted window, who, why."""
    window_run = tags.get(TAG_REBASELINE_FROM)
    if not window_run:
        return []
    previous = tags.get(TAG_REBASELINE_PREVIOUS) or "none"
    return [
        f"Re-baselined from window run {window_run} ({tags.get(TAG_REBASELINE_WINDOW, '')}) "
        f"by {tags.get(TAG_REBASELINE_BY, 'unknown')}: {tags.get(TAG_REBASELINE_REASON, '')} "
        f"(previous baseline run {previous})."
    ]


def _reference_performance(
    facts: CardFacts, baseline: Mapping[str, object]
) -> tuple[NamedValue, ...]:
    metrics = _as_map(_as_map(baseline.get("performance")).get("metrics"))
    if not metrics and facts.baseline_run is not None:
        metrics = {
            k.removeprefix("perf/"): v
            for k, v in facts.baseline_run.metrics.items()
            if k.startswith("perf/")
        }
    return _named(metrics)


def _disaggregated(
    baseline: Mapping[str, object], results: object, spec: MonitorSpec | None
) -> tuple[GroupTable, ...]:
    """Per protected attribute and segment column, each group's baseline → latest window.

    Each side shows the value with its interval and denominator where the files hold them
    (the fairness reports of ``baseline.json`` and ``results.json``: Wilson intervals and each
    rate's own denominator; segments: the metric's denominator); a side without a value is "—",
    so a rate the window could not compute never reads as unchanged. Rows are counted on both
    sides too. Without a monitoring window, only the baseline side is shown.
    """
    compared = isinstance(results, Mapping)
    reference = _baseline_sides(baseline)
    window = _window_sides(_as_map(results)) if compared else {}
    tables = []
    for key in dict.fromkeys([*reference, *window]):
        kind, attr = key
        before, after = reference.get(key, {}), window.get(key, {})
        groups = list(dict.fromkeys([*before, *after]))[:_MAX_ROWS]
        names = _table_metrics([s.values for s in (*before.values(), *after.values())], spec)
        rows = tuple(
            GroupRow(
                group,
                _pair(_fmt(_side(before, group).rows), _fmt(_side(after, group).rows), compared),
                tuple(
                    _pair(_side(before, group).text(m), _side(after, group).text(m), compared)
                    for m in names
                ),
            )
            for group in groups
        )
        tables.append(GroupTable(attr, _KIND_LABEL[kind], names, rows, compared))
    return tuple(tables)


_KIND_LABEL = {"fairness": "protected attribute", "segment": "segment"}
_COUNTS = {"tp", "fp", "tn", "fn"}


@dataclass(frozen=True)
class _GroupSide:
    """One side (baseline or latest window) of one group: rows and per-metric value, interval
    bounds and denominator, as read from the JSON files (anything may be absent)."""

    rows: object = None
    values: Mapping[str, object] = field(default_factory=dict)
    intervals: Mapping[str, object] = field(default_factory=dict)
    denominators: Mapping[str, object] = field(default_factory=dict)

    def text(self, metric: str) -> str:
        """``0.31 [0.29, 0.33] n=2,400``; ``—`` when the side has no value."""
        value = self.values.get(metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "—"
        if not math.isfinite(value):
            return "—"
        out = _fmt(value)
        bounds = self.intervals.get(metric)
        if isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b) for b in bounds):
            out += f" [{_fmt(bounds[0])}, {_fmt(bounds[1])}]"
        n = self.denominators.get(metric)
        if isinstance(n, int) and not isinstance(n, bool):
            out += f" n={n:,}"
        return out


_NO_SIDE = _GroupSide()
_Sides = dict[tuple[str, str], dict[str, _GroupSide]]


def _side(sides: Mapping[str, _GroupSide], group: str) -> _GroupSide:
    return sides.get(group, _NO_SIDE)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _pair(before: str, after: str, compared: bool) -> str:
    """``before → after`` once there is a window (either side may be ``—``), else ``before``."""
    return f"{before} → {after}" if compared else before


def _table_metrics(
    groups: Iterable[Mapping[str, object]], spec: MonitorSpec | None
) -> tuple[str, ...]:
    """The spec's key metrics first, then the rest; raw confusion counts left out; at most 8."""
    present = list(dict.fromkeys(m for g in groups for m in g if m not in _COUNTS))
    key = [spec.segments.metric] if spec and spec.segments.metric else []
    key += [c.metric for c in spec.performance.checks] if spec else []
    ordered = [m for m in key if m in present] + present
    return tuple(dict.fromkeys(ordered))[:8]


def _fairness_sides(report: Mapping[str, object], sides: _Sides) -> None:
    """Groups of a fairness report (``FairnessReport.to_dict``): size, rates, intervals, counts."""
    for attr in _as_list(report.get("attributes")):
        name = str(_as_map(attr).get("attribute"))
        for raw in _as_list(_as_map(attr).get("groups")):
            g = _as_map(raw)
            sides.setdefault(("fairness", name), {})[str(g.get("group"))] = _GroupSide(
                g.get("size"),
                _as_map(g.get("rates")),
                _as_map(g.get("intervals")),
                _as_map(g.get("denominators")),
            )


def _baseline_sides(baseline: Mapping[str, object]) -> _Sides:
    """The baseline side of every group, from baseline.json's fairness and segments."""
    sides: _Sides = {}
    _fairness_sides(_as_map(baseline.get("fairness")), sides)
    for seg in _as_list(_as_map(baseline.get("segments")).get("segments")):
        s = _as_map(seg)
        perf = _as_map(s.get("performance"))
        sides.setdefault(("segment", str(s.get("column"))), {})[str(s.get("segment"))] = _GroupSide(
            s.get("rows"),
            _as_map(perf.get("metrics")),
            denominators=_as_map(perf.get("denominators")),
        )
    return sides


def _window_sides(results: Mapping[str, object]) -> _Sides:
    """The latest window's side: its fairness report and segment results, then the logged
    ``fairness/<attr>=<group>/<m>`` and ``segment/<col>=<value>/<m>`` metrics for any value
    those sections lack (results written before they held the report)."""
    sides: _Sides = {}
    _fairness_sides(_as_map(_as_map(results.get("fairness")).get("report")), sides)
    for raw in _as_list(_as_map(results.get("segments")).get("results")):
        r = _as_map(raw)
        spread = _as_map(r.get("spread"))
        metric = str(r.get("metric"))
        sides.setdefault(("segment", str(r.get("column"))), {})[str(r.get("segment"))] = _GroupSide(
            r.get("rows"),
            {metric: r.get("value")},
            denominators={metric: spread.get("denominator")},
        )
    for name, value in _as_map(results.get("metrics")).items():
        match = _GROUP_METRIC.match(name)
        if match is None:
            continue
        kind, attr, group, metric = match.groups()
        groups = sides.setdefault((kind, attr), {})
        side = groups.get(group, _NO_SIDE)
        if side.values.get(metric) is None:
            groups[group] = replace(side, values={**side.values, metric: value})
    return sides


def _trend_metrics(
    windows: Sequence[RunFacts], spec: MonitorSpec | None, outcomes: Sequence[CheckOutcome] = ()
) -> tuple[str, ...]:
    """The performance checks' metrics first, the label coverage (how much of the performance
    the labels back), the drifted share, then other ``perf/*``.

    The checks are the spec's, the defaults the window applied when it names none
    (``stats.performance.default_checks``), or, without a spec, the latest window's
    ``performance/*`` checks: the metric a critical check failed on is always a column.
    """
    if not windows:
        return ()
    wanted = [f"perf/{m}" for m in _checked_metrics(spec, outcomes)]
    present = {k for w in windows for k in w.metrics}
    perf = sorted(k for k in present if k.startswith("perf/") and k[5:] not in _COUNTS)
    first = ["labels/coverage", "drift/share_drifted"]
    rest = [n for n in dict.fromkeys([*first, *perf]) if n in present]
    names = list(dict.fromkeys([*wanted, *rest]))
    return tuple(names[: max(_MAX_TREND_METRICS, len(wanted))])


def _checked_metrics(spec: MonitorSpec | None, outcomes: Sequence[CheckOutcome]) -> list[str]:
    """The metrics of the performance checks a window applies (see ``_trend_metrics``)."""
    if spec is None:
        ids = [o.check_id for o in outcomes if o.check_id.startswith("performance/")]
        return list(dict.fromkeys(i.split("/", 1)[1] for i in ids))
    if spec.performance.checks:
        return [c.metric for c in spec.performance.checks]
    from mlflow_monitor.stats.performance import default_checks  # sklearn: only when needed

    has_score = bool(spec.columns.score or spec.columns.probabilities)
    return [c.metric for c in default_checks(spec.task, has_score=has_score)]


def _window_rows(
    windows: Sequence[RunFacts], metrics: Sequence[str], *, partial_run: str | None = None
) -> tuple[WindowRow, ...]:
    """The trend rows in window order (end, then start), one per window: ``windows`` are the
    counting windows (``card_store.collect_card_facts``, superseded attempts left out, as on the
    trend figure); ``partial_run``'s health reads ``<health> (partial)``."""
    ordered = sorted(windows, key=_window_order)
    return tuple(
        WindowRow(
            run_id=w.run_id,
            window=f"{w.tags.get('monitor.window_start') or '…'} – "
            f"{w.tags.get('monitor.window_end') or _iso_ms(w.start_time_ms)}",
            health=_window_health(w) + (" (partial)" if w.run_id == partial_run else ""),
            values=tuple(_fmt(w.metrics.get(m)) for m in metrics),
        )
        for w in ordered
    )


def _window_order(w: RunFacts) -> tuple[str, str, int]:
    end, start = w.tags.get("monitor.window_end", ""), w.tags.get("monitor.window_start", "")
    return (end, start, w.start_time_ms)


def _window_health(w: RunFacts) -> str:
    return w.tags.get("monitor.health") or ("error" if w.status == "FAILED" else w.status)


def _latest_results(results: object) -> WindowResults | None:
    """The latest ``results.json`` read by the contract's reader; None when absent or unreadable."""
    if not isinstance(results, Mapping):
        return None
    try:
        return WindowResults.from_dict(results)
    except DataError:
        return None


def _latest_outcomes(results: object) -> tuple[CheckOutcome, ...]:
    """The outcomes of the latest ``results.json`` (none when absent or unreadable)."""
    latest = _latest_results(results)
    return latest.outcomes if latest is not None else ()


def _outcomes(outcomes: Sequence[CheckOutcome]) -> tuple[Finding, ...]:
    """Every outcome: findings (worst first), then the rest."""
    ordered = (*findings(outcomes), *(o for o in outcomes if not o.firing))
    return tuple(_finding(o) for o in ordered)


def _finding(outcome: CheckOutcome) -> Finding:
    return Finding(
        outcome.check_id,
        outcome.status,
        outcome.severity,
        outcome.message,
        _estimate(outcome),
        outcome.basis,
    )


def _checks_status(outcomes: Sequence[CheckOutcome]) -> str:
    """The gate's count of every check, then how many of them were judged on estimates."""
    if not outcomes:
        return ""
    return judged_summary(outcomes).text() + _estimated_note(outcomes)


def _estimated_note(outcomes: Sequence[CheckOutcome]) -> str:
    """``; 3 of them estimated before labels (2 pass, 1 warn)``, or "" when none was."""
    estimated = [o for o in outcomes if o.basis == "estimated"]
    if not estimated:
        return ""
    counts = judged_summary(estimated).counts
    parts = ", ".join(f"{n} {_STATUS_TEXT.get(s, s)}" for s, n in counts.items())
    return f"; {len(estimated)} of them estimated before labels ({parts})"


def _estimate(outcome: CheckOutcome) -> str:
    """The value, its interval and denominators; for a check not judged, why and its counts."""
    if outcome.status in NOT_JUDGED:
        return not_judged_reason(outcome)
    value = "—" if outcome.value is None else _fmt(outcome.value)
    if outcome.interval is not None:
        return f"{value} {outcome.interval.text()}"
    size = outcome.evidence.get("size")
    return f"{value} (n={size})" if isinstance(size, int) else value


def _reference_breaks(baseline: Mapping[str, object]) -> tuple[Finding, ...]:
    """The policy rules the reference data already broke (warn or fail) at baseline time."""
    found = []
    for raw in _as_list(baseline.get("reference_outcomes")):
        try:
            outcome = CheckOutcome.from_dict(_as_map(raw))
        except DataError:
            continue
        if outcome.status in ("warn", "fail"):
            found.append(outcome)
    return tuple(_finding(o) for o in findings(found))


def _partial_note(results: object) -> str:
    """``partial: ...`` naming the critical checks the latest window could not evaluate, or "".

    Health counts fail, warn and error only, so a window without labels can read healthy; the
    card says which critical checks that verdict does not cover.
    """
    latest = _latest_results(results)
    if latest is None or not latest.partial:
        return ""
    absent = unevaluated_critical(latest.outcomes)
    names = ", ".join(o.check_id for o in absent[:_MAX_PARTIAL_LISTED])
    extra = len(absent) - _MAX_PARTIAL_LISTED
    return f"partial: critical checks not evaluated: {names}" + (
        f" and {extra} more" if extra > 0 else ""
    )


def _policy_status(outcomes: Sequence[CheckOutcome], spec: MonitorSpec | None) -> str:
    """The rule checks counted per status, as the gate and ``status`` count them."""
    counted = policy_status(outcomes)
    if counted:
        return counted + _estimated_note([o for o in outcomes if o.check_id.startswith("policy/")])
    packs = ", ".join(spec.fairness.policies) if spec and spec.fairness.policies else ""
    return f"no policy outcome recorded yet for {packs}" if packs else "no policy packs configured"


def _estimation_method(task: object) -> str:
    return "DLE" if task == "regression" else "CBPE"


def _estimated_metrics(
    spec: MonitorSpec | None, outcomes: Sequence[CheckOutcome], present: Iterable[str]
) -> list[str]:
    """The metrics to show: the performance checks' first, then common ones; at most three."""
    available = list(dict.fromkeys(present))
    wanted = [*_checked_metrics(spec, outcomes), *_ESTIMATION_FALLBACK, *available]
    return [m for m in dict.fromkeys(wanted) if m in available][:_MAX_ESTIMATION_METRICS]


def _provenance_line(results: object) -> str:
    """The latest window's scoring by the monitor and its shadow comparison, in one line."""
    body = _as_map(results)
    parts = []
    scoring = _as_map(body.get("scoring"))
    if scoring:
        parts.append(
            f"scored by the monitor: {_count_text(scoring.get('rows_scored'))} of "
            f"{_count_text(scoring.get('rows'))} rows with {scoring.get('model_uri')} "
            f"({scoring.get('reason')})"
        )
    comparison = _as_map(body.get("comparison"))
    if comparison:
        tests = [_as_map(t) for t in _as_list(comparison.get("paired"))]
        shown = ", ".join(
            f"{t.get('metric')} {_fmt(t.get('challenger'))} vs {_fmt(t.get('champion'))} "
            f"({t.get('method')}, two-sided p={_fmt(t.get('p_value'))})"
            for t in tests[:_MAX_ESTIMATION_METRICS]
            if t.get("metric") in ("roc_auc", "accuracy", "f1", "rmse", "mae", "f1_macro")
        )
        parts.append(
            f"compared with {comparison.get('against')} (version "
            f"{comparison.get('against_version')}) on the same rows: "
            + (shown or "no labels, no paired test")
        )
    return "; ".join(parts)


def _count_text(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "?"


def _estimation_line(
    results: object, spec: MonitorSpec | None, outcomes: Sequence[CheckOutcome]
) -> str:
    """One line on the latest window's estimates, when it was judged on them (no labels).

    Read from its ``results.json`` ``estimation`` section (``PerformanceEstimate.to_dict``):
    ``performance estimated (CBPE) before labels: roc_auc 0.7687 [0.7527, 0.7847], ...``;
    an estimate whose assumptions failed says so (its checks are then not judged).
    """
    section = _as_map(_as_map(results).get("estimation"))
    if section.get("judged") is not True:
        return ""
    performance = _as_map(section.get("performance"))
    metrics = _as_map(performance.get("metrics"))
    # a multiclass estimate names f1, precision, recall; its checks (and metrics) f1_macro, ...
    macro = performance.get("task") == "multiclass_classification"
    names = {f"{m}_macro" if macro and m in _MACRO else m: m for m in metrics}
    shown = []
    for name in _estimated_metrics(spec, outcomes, names):
        body = _as_map(metrics.get(names[name]))
        value, low, high = body.get("value"), body.get("low"), body.get("high")
        if not _is_number(value):
            continue
        bounds = f" [{_fmt(low)}, {_fmt(high)}]" if _is_number(low) and _is_number(high) else ""
        shown.append(f"{name} {_fmt(value)}{bounds}")
    if not shown:
        return ""
    level, rows = performance.get("level"), performance.get("rows")
    about = (
        f"{level:.0%} intervals" if isinstance(level, float) else "",
        f"{rows:,} rows" if isinstance(rows, int) and not isinstance(rows, bool) else "",
    )
    context = ", ".join(a for a in about if a)
    line = (
        f"performance estimated ({_estimation_method(performance.get('task'))}) before labels: "
        + ", ".join(shown)
        + (f" ({context})" if context else "")
    )
    if performance.get("trustworthy") is False:
        notes = "; ".join(str(n) for n in _as_list(performance.get("notes")))
        line += f"; not trusted: {notes or 'the assumptions do not hold'}"
    return line


def _estimation_rows(
    windows: Sequence[RunFacts], spec: MonitorSpec | None, outcomes: Sequence[CheckOutcome]
) -> tuple[EstimationRow, ...]:
    """Per counting window with labels, oldest first: estimated, realized and their difference.

    From the metrics each window run logged: ``perf_est_error/<m>`` (the estimate on the
    labelled rows minus the realized metric) and ``perf/<m>``. A superseded or unfinished
    attempt is left out (a backfill's re-run replaces it).
    """
    counted = [
        w
        for w in windows
        if w.status == "FINISHED"
        and not w.tags.get(TAG_SUPERSEDED_BY)
        and any(k.startswith(_EST_ERROR) for k in w.metrics)
    ]
    if not counted:
        return ()
    present = [
        k.removeprefix(_EST_ERROR)
        for w in counted
        for k in w.metrics
        if k.startswith(_EST_ERROR) and k != _EST_ERROR + "positive_rate"  # observed: no error
    ]
    metrics = _estimated_metrics(spec, outcomes, present)
    ordered = sorted(counted, key=lambda w: (w.tags.get("monitor.window_end", ""), w.start_time_ms))
    rows = []
    for w in ordered:
        coverage = w.metrics.get("labels/coverage")
        for metric in metrics:
            error, realized = w.metrics.get(_EST_ERROR + metric), w.metrics.get(f"perf/{metric}")
            if error is None or realized is None:
                continue
            rows.append(
                EstimationRow(
                    window_end=w.tags.get("monitor.window_end") or _iso_ms(w.start_time_ms),
                    metric=metric,
                    estimated=_fmt(realized + error),
                    realized=_fmt(realized),
                    error=f"{error:+.3f}",
                    labelled="—" if coverage is None else f"{coverage:.0%}",
                )
            )
    return tuple(rows)


# -- rendering ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenderedCard:
    """The rendered card (Markdown and HTML) and the short summary for the description."""

    markdown: str
    html: str
    summary: str


def render_card(context: CardContext) -> RenderedCard:
    """Render both templates and the description summary; ``CardError`` on a template error."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["provided"] = _provided
    env.filters["cell"] = _md_cell
    names = {"c": context, "NP": NOT_PROVIDED, "ESTIMATED": ESTIMATED_MARK}
    try:
        markdown = env.get_template("model_card.md.j2").render(**names)
        html = env.get_template("model_card.html.j2").render(**names)
    except jinja2.TemplateError as exc:
        raise CardError(f"model card template: {exc}") from None
    return RenderedCard(markdown, html, _summary(context))


def _template_source(name: str) -> str:
    """Template text from the installed package (works from a wheel or an editable install)."""
    resource = files(_TEMPLATES).joinpath(name)
    if not resource.is_file():
        raise CardError(f"model card template {name} is missing from {_TEMPLATES}")
    return resource.read_text(encoding="utf-8")


def _provided(value: object) -> object:
    if value is None or (isinstance(value, (str, tuple, list)) and not value):
        return NOT_PROVIDED
    return value


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _summary(c: CardContext) -> str:
    owners = ", ".join(c.human.owners) or NOT_PROVIDED
    lines = [
        f"**Model card** (mlflow-monitor, refreshed {c.generated_at})",
        f"- Health: **{c.health or 'not monitored yet'}**"
        + (f" ({c.partial})" if c.partial else "")
        + (f" (last checked {c.last_checked})" if c.last_checked else ""),
        f"- Open findings: {len(c.open_findings)}{_estimated_count(c.open_findings)}; "
        f"policy: {c.policy_status}",
        *([f"- Latest window: {c.estimation}"] if c.estimation else []),
        *(
            [f"- The reference data already breaks: {_listed(c.reference_breaks)}"]
            if c.reference_breaks
            else []
        ),
        f"- Owners: {owners}",
        f"- Intended use: {_first_line(c.human.intended_use) or NOT_PROVIDED}",
    ]
    if c.baseline_run_id:
        lines.append(
            f"- Full card: `{MARKDOWN_FILE}` / `{HTML_FILE}` on baseline run `{c.baseline_run_id}`"
        )
    return "\n".join(lines)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:200] if text and text.strip() else ""


def _estimated_count(found: Sequence[Finding]) -> str:
    estimated = sum(f.basis == "estimated" for f in found)
    return f" ({estimated} estimated, no labels yet)" if estimated else ""


def _listed(found: Sequence[Finding]) -> str:
    shown = ", ".join(f"{f.check} ({f.status})" for f in found[:_MAX_PARTIAL_LISTED])
    extra = len(found) - _MAX_PARTIAL_LISTED
    return shown + (f" and {extra} more" if extra > 0 else "")


# -- workflows -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CardRefresh:
    """A published card: where it went and the description the version now has."""

    model: str
    version: str
    run_ids: tuple[str, ...]
    card_run_id: str | None
    description: str
    card: RenderedCard


def _named_card(
    spec: MonitorSpec | None, card_path: str | Path | None, card_dir: str | Path | None
) -> tuple[HumanCard, str | None]:
    """The human card from ``card_path``, else the spec's ``card`` (relative: in ``card_dir``).

    ``card_path`` (named on the command line) is read as given. The spec's ``card`` must stay
    inside ``card_dir`` (the spec's folder; the working directory when not given), like every
    spec path (``spec.resolve_spec_path``). Returns the card and its YAML text;
    ``(HumanCard(), None)`` when neither names a file.
    """
    if card_path:
        return _read_human_card(card_path)
    if spec is not None and spec.card:
        folder = Path(card_dir) if card_dir else Path.cwd()
        return _read_human_card(resolve_spec_path(spec.card, folder=folder, key="card"))
    return HumanCard(), None


def _render(
    facts: CardFacts, human: HumanCard, spec: MonitorSpec | None, *, tracking_uri: str | None
) -> RenderedCard:
    images, note = _read_trends(facts, tracking_uri)
    context = build_context(
        facts, human, spec, now=datetime.now(timezone.utc), trends=images, trend_note=note
    )
    decided = _alert_decision_lines(facts.version.name, facts.version.version, tracking_uri)
    return render_card(replace(context, alert_decisions=decided))


def _alert_decision_lines(model: str, version: str, tracking_uri: str | None) -> tuple[str, ...]:
    """``2026-03-03T12:10:00Z ack performance/f1 by ana: retraining``; silences first (at most
    ten lines); none when MLflow cannot be read (optional output never fails a card)."""
    from mlflow_monitor.workflows.fleet_view import alert_decisions

    try:
        view = alert_decisions(model, version, tracking_uri=tracking_uri)
    except Exception:
        return ()
    lines = [
        f"silence of {s.scope} until {utc_text(s.until)}"
        f"{'' if s.silence_id in view.holding else ' (over)'} by {s.user}: {s.reason}"
        for s in view.silences
    ]
    for d in view.decisions:
        lines.append(f"{utc_text(d.at)} {d.action} {d.key} by {d.user}: {d.reason}")
    return tuple(lines[:10])


def trend_images(trends: VersionTrends) -> tuple[TrendImage, ...]:
    """The trend figure of ``trends`` as an embeddable image (none without a window)."""
    from mlflow_monitor.adapters.plots import trend_plot

    plot = trend_plot(trends)
    if plot is None:
        return ()
    data = base64.b64encode(plot.png).decode("ascii")
    crossed = sorted({end for ends in plot.data.crossed.values() for end in ends})
    alt = f"{plot.title}: {', '.join(plot.data.metrics)}; crossed in " + (
        ", ".join(crossed) if crossed else "no window"
    )
    return (TrendImage(plot.title, f"data:image/png;base64,{data}", alt),)


def _read_trends(facts: CardFacts, tracking_uri: str | None) -> tuple[tuple[TrendImage, ...], str]:
    """The version's trend figure, or none and why (optional: a card never fails on it)."""
    if not facts.windows:
        return (), ""
    try:
        from mlflow_monitor.workflows.version_trends import version_trends

        trends = version_trends(
            facts.version.name,
            version=facts.version.version,
            last=CARD_TREND_WINDOWS,
            tracking_uri=tracking_uri,
        )
        return trend_images(trends), ""
    except Exception as exc:  # optional output: the card says so instead
        _log.warning("model card trends not drawn: %s: %s", type(exc).__name__, exc)
        return (), f"trend figure not drawn ({type(exc).__name__}: {exc})"


def refresh_card(
    spec: MonitorSpec,
    model: str,
    version: str | int,
    run_id: str | None,
    *,
    tracking_uri: str | None = None,
    card_dir: str | Path | None = None,
) -> CardRefresh:
    """Re-render the card and attach it to ``run_id`` and the baseline run; update the summary.

    Called by the pipeline after each monitoring run (and after a baseline is built). A relative
    ``spec.card`` is read from ``card_dir`` (the spec's folder) when given, else from the working
    directory; its YAML is kept beside the card (``card/card.yaml``) so ``write_card`` can
    re-render without it. Any failure is a ``MonitorError`` (``CardError`` for template
    problems); nothing is written to the run until the card has rendered.
    """
    from mlflow_monitor.adapters.mlflow.card_store import collect_card_facts

    try:
        human, card_yaml = _named_card(spec, None, card_dir)
        facts = collect_card_facts(model, str(version), tracking_uri=tracking_uri)
        card = _render(facts, human, spec, tracking_uri=tracking_uri)
        baseline = facts.baseline_run.run_id if facts.baseline_run else None
        return _publish(
            model,
            str(version),
            card,
            [r for r in (run_id, baseline) if r],
            baseline or run_id,
            tracking_uri,
            card_yaml=card_yaml,
        )
    except MonitorError:
        raise
    except Exception as exc:  # a card must never take a monitoring run down with a traceback
        raise CardError(f"model card for {model}/{version}: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class WrittenCard:
    """A card written to disk: its files, whether it was published, and why not.

    ``kept_card_run`` names the run whose published card was left alone because this one
    lacked every human-written field (None when that did not happen).
    """

    markdown: Path
    html: Path
    published: bool
    kept_card_run: str | None = None


def write_card(
    spec: MonitorSpec | None,
    model: str,
    version: str | int,
    out_dir: str | Path,
    *,
    tracking_uri: str | None = None,
    card_path: str | Path | None = None,
    card_dir: str | Path | None = None,
    publish: bool = True,
) -> WrittenCard:
    """Render the card into ``out_dir`` (and, with ``publish``, attach it to the baseline run).

    ``card_path`` overrides ``spec.card``; a relative ``spec.card`` is read from ``card_dir``.
    Without ``spec`` the baseline run's ``monitor.yaml`` is used, and without a named card YAML
    the baseline run's ``card/card.yaml``. A card with no human-written field at all is never
    published over an existing one (``WrittenCard.kept_card_run``).
    """
    from mlflow_monitor.adapters.mlflow.card_store import collect_card_facts
    from mlflow_monitor.contract import TAG_CARD_RUN

    human, card_yaml = _named_card(spec, card_path, card_dir)
    facts = collect_card_facts(model, str(version), tracking_uri=tracking_uri)
    baseline = facts.baseline_run.run_id if facts.baseline_run else None
    if baseline and (spec is None or card_yaml is None):
        spec, stored = _stored_inputs(baseline, spec, tracking_uri)
        if card_yaml is None and stored is not None:
            human = stored
    card = _render(facts, human, spec, tracking_uri=tracking_uri)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    md, html = folder / MARKDOWN_FILE, folder / HTML_FILE
    md.write_text(card.markdown, encoding="utf-8")
    html.write_text(card.html, encoding="utf-8")
    kept = facts.version.tags.get(TAG_CARD_RUN) if human == HumanCard() else None
    if not publish or kept:
        return WrittenCard(md, html, published=False, kept_card_run=kept if publish else None)
    run_ids = [baseline] if baseline else []
    _publish(model, str(version), card, run_ids, baseline, tracking_uri, card_yaml=card_yaml)
    return WrittenCard(md, html, published=True)


def _stored_inputs(
    run_id: str, spec: MonitorSpec | None, tracking_uri: str | None
) -> tuple[MonitorSpec | None, HumanCard | None]:
    """``spec``, else the baseline run's spec copy; and the run's stored human card, if any.

    The stored spec's own ``card`` path is not followed: it was relative to a folder we no
    longer know; ``card/card.yaml`` on the run is the card YAML that went with it.
    """
    from mlflow_monitor.adapters.mlflow.card_store import CARD_YAML, SPEC_FILE, read_card_inputs

    stored = read_card_inputs(run_id, tracking_uri=tracking_uri)
    if spec is None and stored.spec_text is not None:
        source = f"{SPEC_FILE} of baseline run {run_id}"
        try:
            raw = yaml.safe_load(stored.spec_text)
        except yaml.YAMLError as exc:
            raise SpecError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
        spec = parse_spec(raw, source=source)
    human = None
    if stored.card_yaml is not None:
        human = parse_human_card(stored.card_yaml, f"{CARD_YAML} of baseline run {run_id}")
    return spec, human


def _publish(
    model: str,
    version: str,
    card: RenderedCard,
    run_ids: Sequence[str],
    card_run_id: str | None,
    tracking_uri: str | None,
    *,
    card_yaml: str | None = None,
) -> CardRefresh:
    from mlflow_monitor.adapters.mlflow.card_store import publish_card

    with tempfile.TemporaryDirectory() as tmp:
        md, html = Path(tmp) / MARKDOWN_FILE, Path(tmp) / HTML_FILE
        md.write_text(card.markdown, encoding="utf-8")
        html.write_text(card.html, encoding="utf-8")
        description = publish_card(
            model,
            version,
            [md, html],
            run_ids=run_ids,
            card_run_id=card_run_id,
            summary=card.summary,
            card_yaml=card_yaml,
            tracking_uri=tracking_uri,
        )
    return CardRefresh(model, version, tuple(run_ids), card_run_id, description, card)
