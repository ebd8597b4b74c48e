"""The compliance report of one window: ``compliance.json`` and ``reports/compliance_report.html``.

Built from a ``FairnessEvaluation``: model name and version, window, row counts, a plain-language
summary a non-statistician can act on (naming the adversely affected groups: those on which a
policy rule warns or fails, "none" when no rule finds a gap; the lowest and highest selection or
flag rate per attribute is shown beside them for information only, never as a finding),
how to read a rule's status, every policy rule with its status counts and the evidence table
behind it (NYC LL144 packs laid out as the law's bias-audit tables), group metric tables,
disparity charts against each rule's tolerance band (inline SVG, so the HTML is one
self-contained file) and the trend against the baseline: every change the summary can name (each
significant one, whatever its metric), then the other selection-rate, FNR and FPR changes;
adjusted p-values below 0.0001 read ``<0.0001``, others have three significant digits.

Every rate is shown with its counts and its confidence interval at the report's level
(``FairnessReport.level``, the spec's ``confidence_level``): ``42.1% (16/38 positives), 95% CI
[27.2%, 58.5%]`` (Wilson); every rule row with its measure's interval (Katz log for an impact
ratio, Newcombe for a difference) and, not judged, its counts.

Wording follows ``fairness.favorable_outcome`` (``Wording``): with ``positive`` a positive
decision is an approval (selection rate, "wrongly rejected"); with ``negative`` it is an adverse
flag (flag rate, favourable-outcome rate, "wrongly flagged"; rule titles and chart legends about
selection rates are reworded for it). The side is passed in, else read from the rules (a
selection-rate rule reads ``favorable_rate`` when a positive decision is adverse), else
``positive``.

Fairness is computed once per window: ``monitor.ipynb`` evaluates the window (fairness included)
and writes both files from that result (``window_compliance`` + ``write_compliance``);
``fairness_audit.ipynb`` reads ``compliance.json`` back (``ComplianceRecord``) and displays it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from mlflow_monitor.adapters.compliance_html import TEMPLATE
from mlflow_monitor.contract import (
    COMPLIANCE_FILE,
    COMPLIANCE_REPORT_FILE,
    Interval,
    level_text,
    utc_now,
    utc_text,
)
from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import FavorableOutcome
from mlflow_monitor.stats.bias_drift import BiasChange
from mlflow_monitor.stats.fairness import (
    FAVORABLE_RATE,
    AttributeFairness,
    Disparity,
    GroupMetrics,
    denominator_word,
)
from mlflow_monitor.verdicts.evaluation import WindowResult
from mlflow_monitor.verdicts.fairness_checks import (
    FairnessEvaluation,
    RuleResult,
    RuleRow,
)
from mlflow_monitor.verdicts.policies import PolicyRule
from mlflow_monitor.verdicts.promotion import NOT_JUDGED, policy_status, status_summary

__all__ = [
    "AdverseGroup",
    "ComplianceRecord",
    "ComplianceReport",
    "EvidenceRow",
    "RateRange",
    "Wording",
    "build_compliance",
    "evidence_frame",
    "level_text",
    "p_text",
    "reading_lines",
    "rule_title",
    "rules_frame",
    "window_compliance",
    "write_compliance",
]
_VERDICTS = {
    "fail": "NOT COMPLIANT",
    "warn": "NEEDS REVIEW",
    "insufficient_data": "INCOMPLETE",
    "not_evaluated": "INCOMPLETE",
    "pass": "COMPLIANT",
}


# ---------------------------------------------------------------- wording


_RATE_WORDS: dict[FavorableOutcome, dict[str, str]] = {
    "positive": {
        "selection_rate": "selection (approval) rate",
        FAVORABLE_RATE: "selection (approval) rate",
        "fpr": "false-positive rate (wrongly approved)",
        "fnr": "false-negative rate (wrongly rejected)",
    },
    "negative": {
        "selection_rate": "flag rate",
        FAVORABLE_RATE: "favourable-outcome rate (not flagged)",
        "fpr": "false-positive rate (wrongly flagged)",
        "fnr": "false-negative rate (missed, not flagged)",
    },
}
_COMMON_WORDS = {
    "prevalence": "share of actual positives",
    "tpr": "true-positive rate",
    "fdr": "false-discovery rate",
    "for": "false-omission rate",
    "precision": "precision",
}
_SHORT = {"tpr": "TPR", "fpr": "FPR", "fnr": "FNR", "fdr": "FDR", "for": "FOR"}
_MEASURES = {"ratio": "impact ratio", "difference": "difference", "abs_difference": "gap"}
_METHODS = {"katz_log": "Katz log", "newcombe": "Newcombe", "wilson": "Wilson"}


@dataclass(frozen=True)
class Wording:
    """The report's words for decisions and rates, following ``fairness.favorable_outcome``."""

    favorable_outcome: FavorableOutcome = "positive"

    @property
    def adverse(self) -> bool:
        """True when a positive decision is adverse to the person (a flag)."""
        return self.favorable_outcome == "negative"

    def rate(self, metric: str) -> str:
        """``selection (approval) rate``, ``flag rate``, ``false-negative rate (missed ...)``."""
        return _RATE_WORDS[self.favorable_outcome].get(metric) or _COMMON_WORDS.get(metric, metric)

    def short(self, metric: str) -> str:
        """A column header: ``flag rate``, ``selection rate``, ``FNR``."""
        if metric == "selection_rate":
            return "flag rate" if self.adverse else "selection rate"
        return _SHORT.get(metric) or self.rate(metric)

    @property
    def selected(self) -> str:
        """The evidence table's count of positive decisions."""
        return "Number flagged" if self.adverse else "Number selected"

    @property
    def decision(self) -> str:
        """What a positive decision means for the person."""
        if self.adverse:
            return "adverse to the person (a flag); the most-flagged group is the one hurt"
        return "favourable to the person (an approval, a hire); the least-selected group is hurt"


def _wording(evaluation: FairnessEvaluation, favorable_outcome: FavorableOutcome | None) -> Wording:
    """The side passed in, else the one the selection-rate rules read, else ``positive``."""
    if favorable_outcome is not None:
        return Wording(favorable_outcome)
    used = {row.rate_used for r in evaluation.policies for row in r.rows}
    return Wording("negative" if FAVORABLE_RATE in used else "positive")


# ---------------------------------------------------------------- counts and intervals as text


def _pct(value: object) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{100 * float(value):.1f}%"


def _num(value: object, digits: int = 3) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{float(value):.{digits}f}"


def _ci(level: float, low: float | None, high: float | None, fmt: str = "pct") -> str:
    show = _pct if fmt == "pct" else (lambda v: _num(v, 2))
    top = "+inf" if high is None else show(high)
    return f"{level_text(level)} CI [{show(low)}, {top}]"


def rate_text(group: GroupMetrics, metric: str, level: float) -> str:
    """``42.1% (16/38 positives), 95% CI [27.2%, 58.5%]`` (Wilson); ``n/a (0 positives)``."""
    x, n = group.fraction(metric)
    unit = denominator_word(metric)
    bounds = group.interval(metric, level=level)
    if bounds is None:
        return f"n/a (0 {unit})"
    return f"{_pct(x / n)} ({x:,}/{n:,} {unit}), {_ci(level, *bounds)}"


def _cell_text(group: GroupMetrics, metric: str, level: float) -> str:
    """A group-table cell: ``42.1% (16/38) [27.2%, 58.5%]``."""
    x, n = group.fraction(metric)
    bounds = group.interval(metric, level=level)
    if bounds is None:
        return "n/a (0/0)"
    return f"{_pct(x / n)} ({x:,}/{n:,}) [{_pct(bounds[0])}, {_pct(bounds[1])}]"


def _ratio_text(d: Disparity | None) -> str:
    """``0.74 [0.61, 0.90]``: the ratio with its Katz log interval."""
    if d is None or d.ratio is None:
        return "n/a"
    if d.ratio_interval is None:
        return _num(d.ratio, 2)
    low, high = d.ratio_interval
    return f"{_num(d.ratio, 2)} [{_num(low, 2)}, {'+inf' if high is None else _num(high, 2)}]"


def measure_text(rule: PolicyRule, row: RuleRow) -> str:
    """``impact ratio 0.74, 95% CI [0.61, 0.90] (Katz log)``; ``not judged`` without a value."""
    interval = row.interval
    if row.status in NOT_JUDGED and interval is None:
        return "not judged"
    if rule.measure == "value":
        value = _pct(row.value)
    elif row.value is None:
        value = "infinite" if rule.measure == "ratio" else "undefined"
    else:
        value = _num(row.value, 2) if rule.measure == "ratio" else f"{row.value:+.3f}"
    text = f"{_MEASURES.get(rule.measure, rule.metric)} {value}"
    if interval is None:
        return text
    fmt = "pct" if rule.measure == "value" else "num"
    method = _METHODS.get(interval.method, interval.method)
    return f"{text}, {_ci(interval.level, interval.low, interval.high, fmt)} ({method})"


def _why(row: RuleRow) -> str:
    """Why the row has its status: how the interval decided, or why it was not judged."""
    if row.status == "insufficient_data":
        counts = row.note or row.reason or "too few cases"
        return f"not judged: insufficient data ({counts})"
    if row.status == "not_evaluated":
        return f"not judged: {row.note}"
    return "; ".join(t for t in (row.reason, row.note) if t)


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class EvidenceRow:
    """One group's line of a rule's evidence table, every number with its counts and interval."""

    pack: str
    rule: str
    attribute: str
    group: str
    size: int
    selected: int | None
    rate: str
    reference_group: str
    reference_rate: str
    measure: str
    status: str
    why: str

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AdverseGroup:
    """A group on which a policy rule warns or fails, with the rate that rule read.

    One per attribute, group and rate: ``rules`` names every warning or failing rule on it
    (``equal_opportunity / fnr_difference (fail)``), ``reference`` the group it was compared
    with and that group's rate ("" for a rule on the value itself).
    """

    attribute: str
    group: str
    status: str
    rate_name: str
    rate: str
    reference: str
    rules: tuple[str, ...]

    def sentence(self) -> str:
        """``sex = female: false-negative rate ... 31.6% (...), against male 15.1% (...) (...).``"""
        against = f", against {self.reference}" if self.reference else ""
        return (
            f"{self.attribute} = {self.group}: {self.rate_name} {self.rate}{against} "
            f"({'; '.join(self.rules)})."
        )

    def to_dict(self) -> dict[str, object]:
        return {**self.__dict__, "rules": list(self.rules), "sentence": self.sentence()}


@dataclass(frozen=True)
class RateRange:
    """For information, not a finding: an attribute's lowest and highest selection (flag) rate."""

    attribute: str
    lowest: str
    lowest_rate: str
    highest: str
    highest_rate: str

    def text(self) -> str:
        """``sex: female 39.7% (...) [37.5%, 41.8%] to male 40.0% (...) [...]``."""
        return (
            f"{self.attribute}: {self.lowest} {self.lowest_rate} to {self.highest} "
            f"{self.highest_rate}"
        )

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ComplianceReport:
    """Everything the compliance report shows, computed once."""

    model: str
    model_version: str
    window_start: str
    window_end: str
    baseline_rows: int | None
    evaluation: FairnessEvaluation
    summary: tuple[str, ...]
    generated_at: str = field(default_factory=lambda: utc_text(utc_now()))
    wording: Wording = field(default_factory=Wording)

    @property
    def level(self) -> float:
        """The confidence level of every interval in the report."""
        return self.evaluation.report.level

    @property
    def status(self) -> str:
        """Worst rule status: ``fail`` > ``warn`` > ``insufficient_data`` > ``pass``."""
        order = ["pass", "insufficient_data", "not_evaluated", "warn", "fail"]
        statuses = [r.status for r in self.evaluation.policies] or ["insufficient_data"]
        return max(statuses, key=lambda s: order.index(s) if s in order else len(order))

    @property
    def verdict(self) -> str:
        return _VERDICTS.get(self.status, self.status.upper())

    @property
    def checks(self) -> str:
        """``40 rule checks: 38 pass, 2 insufficient data (not judged)`` (one per group)."""
        return policy_status(self.evaluation.outcomes) or "no rule checks"

    @property
    def reading(self) -> tuple[str, ...]:
        """How to read a rule's status (written into the report)."""
        return tuple(reading_lines(self.level, self.wording))

    @property
    def adverse_groups(self) -> tuple[AdverseGroup, ...]:
        """The groups on which a policy rule warns or fails (none when no rule finds a gap)."""
        return tuple(_adverse_groups(self.evaluation, self.wording))

    @property
    def rate_ranges(self) -> tuple[RateRange, ...]:
        """Per attribute, the lowest and highest selection (flag) rate: information only."""
        return tuple(_rate_ranges(self.evaluation))

    @property
    def evidence(self) -> tuple[EvidenceRow, ...]:
        """Every rule row with its counts and intervals as text."""
        rules = self.evaluation.policies
        return tuple(_evidence_row(self, r, row) for r in rules for row in r.rows)

    def to_dict(self) -> dict[str, object]:
        """The content of ``compliance.json`` (JSON-safe: no NaN, no inf)."""
        ev = self.evaluation
        return {
            "model": self.model,
            "model_version": self.model_version,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "generated_at": self.generated_at,
            "rows": ev.report.rows,
            "baseline_rows": self.baseline_rows,
            "labeled": ev.report.labeled,
            "decision": ev.decision.to_dict(),
            "favorable_outcome": self.wording.favorable_outcome,
            "level": self.level,
            "status": self.status,
            "verdict": self.verdict,
            "checks": self.checks,
            "summary": list(self.summary),
            "reading": list(self.reading),
            "adverse_groups": [a.to_dict() for a in self.adverse_groups],
            "rate_ranges": [x.to_dict() for x in self.rate_ranges],
            "rules": [r.to_dict() for r in ev.policies],
            "evidence": [e.to_dict() for e in self.evidence],
            "fairness": ev.report.to_dict(),
            "bias_drift": None if ev.drift is None else ev.drift.to_dict(),
        }

    def rules_frame(self) -> pd.DataFrame:
        """One line per policy rule: pack, rule, threshold, status (for notebooks)."""
        return rules_frame([r.to_dict() for r in self.evaluation.policies])

    def evidence_frame(self) -> pd.DataFrame:
        """One line per rule and group, with counts and intervals (for notebooks)."""
        return evidence_frame([e.to_dict() for e in self.evidence])

    def render_html(self) -> str:
        env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
        env.filters["pct"] = _pct
        env.filters["num"] = _num
        env.filters["pvalue"] = p_text
        trend = _trend_rows(self.evaluation)
        return env.from_string(TEMPLATE).render(
            r=self,
            words=self.wording,
            rules=[_rule_view(self, x) for x in self.evaluation.policies],
            groups=_group_tables(self.evaluation, self.wording),
            trend=trend,
            trend_metrics=", ".join(dict.fromkeys(self.wording.short(c.metric) for c in trend)),
        )


def build_compliance(
    evaluation: FairnessEvaluation,
    *,
    model: str,
    model_version: str,
    window_start: str = "",
    window_end: str = "",
    baseline_rows: int | None = None,
    favorable_outcome: FavorableOutcome | None = None,
) -> ComplianceReport:
    """The report for one evaluated window, with its plain-language summary."""
    wording = _wording(evaluation, favorable_outcome)
    return ComplianceReport(
        model,
        model_version,
        window_start,
        window_end,
        baseline_rows,
        evaluation,
        tuple(plain_summary(evaluation, wording)),
        wording=wording,
    )


def write_compliance(report: ComplianceReport, output_dir: str | Path) -> tuple[Path, Path]:
    """Write ``compliance.json`` and ``reports/compliance_report.html`` under ``output_dir``."""
    out = Path(output_dir)
    json_path, html_path = out / COMPLIANCE_FILE, out / COMPLIANCE_REPORT_FILE
    html_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    html_path.write_text(report.render_html())
    return json_path, html_path


def window_compliance(
    result: WindowResult,
    *,
    baseline_rows: int | None = None,
    favorable_outcome: FavorableOutcome | None = None,
) -> ComplianceReport | None:
    """The compliance report of an evaluated window (None when it has no fairness result)."""
    if result.fairness is None:
        return None
    return build_compliance(
        result.fairness,
        model=result.model,
        model_version=result.model_version,
        window_start=result.window_start or "",
        window_end=result.window_end,
        baseline_rows=baseline_rows,
        favorable_outcome=favorable_outcome,
    )


@dataclass(frozen=True)
class ComplianceRecord:
    """A written ``compliance.json`` read back: what ``fairness_audit.ipynb`` displays."""

    path: Path
    body: Mapping[str, object]

    @classmethod
    def read(cls, output_dir: str | Path) -> ComplianceRecord:
        """``compliance.json`` in ``output_dir`` (written by ``monitor.ipynb``)."""
        path = Path(output_dir) / COMPLIANCE_FILE
        if not path.is_file():
            raise DataError(f"{path}: no compliance.json (monitor.ipynb writes it first)")
        return cls(path, json.loads(path.read_text()))

    @property
    def verdict(self) -> str:
        return str(self.body.get("verdict", ""))

    @property
    def summary(self) -> list[str]:
        return self._lines("summary")

    @property
    def reading(self) -> list[str]:
        """How to read a rule's status (``reading_lines``)."""
        return self._lines("reading")

    @property
    def checks(self) -> str:
        """The rule checks counted per status (``40 rule checks: 38 pass, ...``)."""
        return str(self.body.get("checks", ""))

    @property
    def headline(self) -> str:
        b = self.body
        return (
            f"{b.get('model')} version {b.get('model_version')}, window "
            f"{b.get('window_start')} .. {b.get('window_end')}: {b.get('rows'):,} rows"
        )

    def rules_frame(self) -> pd.DataFrame:
        """One line per policy rule, as ``ComplianceReport.rules_frame``."""
        return rules_frame(self._dicts("rules"))

    def evidence_frame(self) -> pd.DataFrame:
        """One line per rule and group, as ``ComplianceReport.evidence_frame``."""
        return evidence_frame(self._dicts("evidence"))

    def _lines(self, key: str) -> list[str]:
        lines = self.body.get(key)
        return [str(x) for x in lines] if isinstance(lines, list) else []

    def _dicts(self, key: str) -> list[dict[str, object]]:
        found = self.body.get(key)
        return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def rules_frame(rules: list[dict[str, object]]) -> pd.DataFrame:
    """One line per rule (``RuleResult.to_dict`` bodies): pack, rule, threshold, status, counts."""
    lines = []
    for r in rules:
        rule = r["rule"]
        assert isinstance(rule, dict)
        found = r.get("rows")
        rows: list[dict[str, object]] = found if isinstance(found, list) else []
        lines.append(
            {
                "pack": r["pack"],
                "rule": rule["id"],
                "metric": f"{rule['metric']} {rule['measure']}",
                "threshold": f"{rule['comparison']} {float(rule['threshold']):g}",
                "severity": rule["severity"],
                "status": r["status"],
                "groups": status_summary(str(x["status"]) for x in rows).text("group"),
                "failing groups": ", ".join(
                    f"{x['attribute']}={x['group']}"
                    for x in rows
                    if x["status"] in ("fail", "warn")
                ),
            }
        )
    return pd.DataFrame(lines)


_EVIDENCE_COLUMNS = {
    "pack": "pack",
    "rule": "rule",
    "attribute": "attribute",
    "group": "group",
    "rate": "rate (counts, interval)",
    "reference_group": "compared with",
    "reference_rate": "their rate",
    "measure": "measure (interval)",
    "status": "status",
    "why": "why",
}


def evidence_frame(rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """One line per rule and group (``EvidenceRow.to_dict`` bodies), with counts and intervals."""
    return pd.DataFrame(
        [{label: r.get(key, "") for key, label in _EVIDENCE_COLUMNS.items()} for r in rows],
        columns=list(_EVIDENCE_COLUMNS.values()),
    )


def _group_of(
    evaluation: FairnessEvaluation, attribute: str, group: str | None
) -> GroupMetrics | None:
    """The counts of ``attribute = group`` in the window (None when absent or unnamed)."""
    attr = evaluation.report.attribute(attribute)
    return None if attr is None or not group else attr.group(group)


def _evidence_row(report: ComplianceReport, result: RuleResult, row: RuleRow) -> EvidenceRow:
    group = _group_of(report.evaluation, row.attribute, row.group)
    ref = _group_of(report.evaluation, row.attribute, row.reference_group)
    metric = row.rate_used or result.rule.metric
    return EvidenceRow(
        pack=result.pack,
        rule=result.rule.id,
        attribute=row.attribute,
        group=row.group,
        size=row.size,
        selected=None if group is None else group.predicted_positive,
        rate=_row_rate(group, metric, report.level, row.status),
        reference_group=row.reference_group or "",
        reference_rate="" if ref is None else rate_text(ref, metric, report.level),
        measure=measure_text(result.rule, row),
        status=row.status,
        why=_why(row),
    )


def _row_rate(group: GroupMetrics | None, metric: str, level: float, status: str) -> str:
    if group is None:
        return "n/a"
    if status == "not_evaluated":  # a label-based rate of a window without labels
        return f"not evaluated ({group.size:,} rows, no labels)"
    return rate_text(group, metric, level)


# ---------------------------------------------------------------- reading and summary


def reading_lines(level: float, wording: Wording) -> list[str]:
    """What a rule's status means, with the report's confidence level and decision side."""
    return [
        f"A positive decision is {wording.decision}.",
        f"Every rate is shown with its counts (cases / denominator) and its {level_text(level)} "
        "confidence interval (Wilson); an impact ratio with its Katz log interval, a "
        "difference with its Newcombe interval.",
        "pass: the estimate is on the allowed side of the policy line.",
        f"fail: the whole {level_text(level)} confidence interval lies beyond the policy line"
        " (a rule of warning severity reports this as warn).",
        "warn: the estimate is beyond the line but its interval straddles it: a likely breach "
        "that needs review, not yet proven.",
        "insufficient data: too few cases to judge, with the counts (a rate's own denominator "
        "below the minimum group size, or an interval that also includes no gap at all).",
        "not evaluated: the input is absent (no labels yet for an error-rate rule).",
        "Insufficient data and not evaluated are never a pass: a gate whose must_pass names "
        "the rule refuses until it is judged; they never page anyone.",
    ]


def plain_summary(evaluation: FairnessEvaluation, wording: Wording | None = None) -> list[str]:
    """Short sentences, worst first, that say what was found and what to do."""
    words = wording or _wording(evaluation, None)
    lines: list[str] = []
    rules = evaluation.policies
    failing = [r for r in rules if r.status in ("fail", "warn")]
    counted = status_summary(r.status for r in rules)
    if not rules:
        lines.append("No policy pack is configured: fairness was measured but not judged.")
    elif failing:
        verb = "is" if len(failing) == 1 else "are"
        lines.append(
            f"{len(failing)} of {_count(len(rules), 'policy rule')} {verb} broken. Do not "
            "promote or keep relying on this model version without a documented review of the "
            "groups below."
        )
    elif counted.all_pass:
        every = (
            "The only policy rule is" if len(rules) == 1 else f"All {len(rules)} policy rules are"
        )
        lines.append(f"{every} met in this window.")
    else:
        lines.append(
            f"No policy rule is broken, but not every rule could be judged in full: "
            f"{counted.text('policy rule')}."
        )
    if rules:
        lines.append(f"Per group: {policy_status(evaluation.outcomes) or 'no rule checks'}.")
        lines.append(_adverse_line(_adverse_groups(evaluation, words)))
    ranges = [x.text() for x in _rate_ranges(evaluation) if ":" not in x.attribute]
    if ranges:
        lines.append(
            f"{words.short('selection_rate').capitalize()} by group, lowest to highest (for "
            f"information; a gap is a finding only when a rule warns or fails): "
            f"{'; '.join(ranges)}."
        )
    for result in failing:
        lines += [_row_sentence(evaluation, result, row, words) for row in _worst_rows(result)]
    if not evaluation.report.labeled:
        lines.append(
            f"Outcomes (labels) are not available for this window yet, so only "
            f"{words.short('selection_rate')}s were checked; error-rate rules will be judged "
            "once labels arrive."
        )
    lines += _drift_sentences(evaluation, words)
    small = _small_groups(evaluation)
    if small:
        verb = "group had" if len(small) == 1 else "groups had"
        lines.append(
            f"{len(small)} {verb} fewer than {evaluation.report.min_group_size} rows and "
            f"were not judged: {', '.join(small[:6])}{' ...' if len(small) > 6 else ''}."
        )
    return lines


def _count(n: int, noun: str) -> str:
    """``1 policy rule``, ``6 policy rules``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def p_text(p: float | None) -> str:
    """An adjusted p-value for people: ``<0.0001`` below it, else 3 significant digits."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return "<0.0001" if p < 1e-4 else f"{p:.3g}"


_MAX_ADVERSE_NAMED = 8


def _adverse_line(groups: Sequence[AdverseGroup]) -> str:
    """``Adversely affected groups (...): sex = female; sex:race = female:black ...``."""
    if not groups:
        return "Adversely affected groups: none: no rule finds a gap."
    names = list(dict.fromkeys(f"{a.attribute} = {a.group}" for a in groups))
    more = len(names) - _MAX_ADVERSE_NAMED
    shown = "; ".join(names[:_MAX_ADVERSE_NAMED]) + (f" and {more} more" if more > 0 else "")
    return f"Adversely affected groups (a policy rule warns or fails on them): {shown}."


# Rates whose rise means more positive decisions, and those whose rise means fewer; whether that
# favours the person follows ``favorable_outcome``. Conditional rates (precision, FDR, FOR) and
# prevalence have no such direction: the group a rule flags is named as it is.
_MORE_POSITIVE = frozenset({"selection_rate", "tpr", "fpr"})
_FEWER_POSITIVE = frozenset({"fnr"})


def _adverse_when_higher(metric: str, wording: Wording) -> bool | None:
    """True when a higher ``metric`` is worse for the person, False when lower is, else None."""
    if metric == FAVORABLE_RATE:
        return False
    if metric in _MORE_POSITIVE:
        return wording.adverse
    if metric in _FEWER_POSITIVE:
        return not wording.adverse
    return None


def _harmed(result: RuleResult, row: RuleRow, metric: str, wording: Wording) -> tuple[str, str]:
    """(the group a broken row disadvantages, the group it is compared with or "").

    The flagged group, unless its rate is on the favourable side of the reference's (a gap rule
    breaks both ways: a group wrongly rejected *less* often than the reference leaves the
    reference as the one disadvantaged).
    """
    other = row.reference_group or ""
    if result.rule.measure == "value" or not other:
        return row.group, ""
    higher_hurts = _adverse_when_higher(metric, wording)
    if higher_hurts is None or row.rate is None or row.reference_rate is None:
        return row.group, other
    group_worse = row.rate > row.reference_rate if higher_hurts else row.rate < row.reference_rate
    return (
        (row.group, other) if group_worse or row.rate == row.reference_rate else (other, row.group)
    )


def _adverse_groups(evaluation: FairnessEvaluation, wording: Wording) -> list[AdverseGroup]:
    """The groups a warning or failing rule finds disadvantaged: one per attribute, group, rate.

    Single attributes before intersections, failures before warnings. A group is named only
    through a broken rule row (its own, or as the worse-off side of a gap rule on another
    group); how its rate merely compares is ``_rate_ranges``, information only.
    """
    level = evaluation.report.level
    hits: dict[tuple[str, str, str], list[tuple[RuleResult, RuleRow, str]]] = {}
    for result in evaluation.policies:
        for row in result.rows:
            if row.status in ("fail", "warn"):
                metric = row.rate_used or result.rule.metric
                harmed, other = _harmed(result, row, metric, wording)
                hits.setdefault((row.attribute, harmed, metric), []).append((result, row, other))
    found = []
    for (attribute, name, metric), broken in hits.items():
        status = "fail" if any(row.status == "fail" for _, row, _ in broken) else "warn"
        other = broken[0][2]
        found.append(
            AdverseGroup(
                attribute=attribute,
                group=name,
                status=status,
                rate_name=wording.rate(metric),
                rate=_rate_of(evaluation, attribute, name, metric, level),
                reference=(
                    f"{other} {_rate_of(evaluation, attribute, other, metric, level)}"
                    if other
                    else ""
                ),
                rules=_rules_text(name, broken),
            )
        )
    return sorted(found, key=lambda a: (":" in a.attribute, a.status != "fail"))


def _rules_text(name: str, broken: Sequence[tuple[RuleResult, RuleRow, str]]) -> tuple[str, ...]:
    """``equal_opportunity / fnr_difference (fail)``; ``... (fail; on female:black, ...)`` when
    the broken rows are other groups' (``name`` is the reference they fell short of)."""
    by_rule: dict[str, list[RuleRow]] = {}
    for result, row, _ in broken:
        by_rule.setdefault(f"{result.pack} / {result.rule.id}", []).append(row)
    texts = []
    for rule, rows in by_rule.items():
        status = "fail" if any(r.status == "fail" for r in rows) else "warn"
        others = [r.group for r in rows if r.group != name]
        texts.append(f"{rule} ({status}{'; on ' + ', '.join(others) if others else ''})")
    return tuple(texts)


def _rate_of(
    evaluation: FairnessEvaluation, attribute: str, group: str, metric: str, level: float
) -> str:
    found = _group_of(evaluation, attribute, group)
    return "n/a" if found is None else rate_text(found, metric, level)


def _rate_ranges(evaluation: FairnessEvaluation) -> list[RateRange]:
    """Per attribute with two or more large-enough groups, its lowest and highest selection rate.

    Information only: a gap between them is a finding only when a rule on it warns or fails.
    """
    report = evaluation.report
    found = []
    for attr in report.attributes:
        eligible = [g for g in attr.groups if g.size >= report.min_group_size and g.size > 0]
        if len(eligible) < 2:
            continue
        ordered = sorted(eligible, key=lambda g: g.rate("selection_rate") or 0.0)
        low, high = ordered[0], ordered[-1]
        found.append(
            RateRange(
                attr.attribute,
                low.group,
                _cell_text(low, "selection_rate", report.level),
                high.group,
                _cell_text(high, "selection_rate", report.level),
            )
        )
    return found


def _worst_rows(result: RuleResult, limit: int = 2) -> list[RuleRow]:
    """Broken rows, single attributes before intersections, furthest from the bound first."""
    bad = [r for r in result.rows if r.status in ("fail", "warn")]
    return sorted(bad, key=lambda r: (":" in r.attribute, -_distance(result, r)))[:limit]


def _distance(result: RuleResult, row: RuleRow) -> float:
    return abs((row.value if row.value is not None else 1e9) - result.rule.threshold)


def _row_sentence(
    evaluation: FairnessEvaluation, result: RuleResult, row: RuleRow, words: Wording
) -> str:
    rule = result.rule
    metric = row.rate_used or rule.metric
    group = _group_of(evaluation, row.attribute, row.group)
    ref = _group_of(evaluation, row.attribute, row.reference_group)
    level = evaluation.report.level
    rate = _pct(row.rate) if group is None else rate_text(group, metric, level)
    body = f"{words.rate(metric)} is {rate}"
    if rule.measure != "value" and row.reference_group:
        theirs = _pct(row.reference_rate) if ref is None else rate_text(ref, metric, level)
        body += f", against {theirs} for {row.reference_group}: {measure_text(rule, row)}"
    elif row.interval is not None:
        body += f" ({measure_text(rule, row)})"
    need = f"{rule.comparison} {rule.threshold:g}"
    who = f"{row.attribute} = {row.group}"
    return f"{result.pack} / {rule.id}: for {who}, the {body}; the rule requires {need}."


def _drift_sentences(evaluation: FairnessEvaluation, words: Wording) -> list[str]:
    if evaluation.drift is None:
        return ["No baseline fairness to compare with: no trend against the baseline."]
    sig = sorted(evaluation.drift.significant, key=lambda c: abs(c.change or 0.0), reverse=True)
    if not sig:
        return ["No group's rates changed significantly since the baseline."]
    level = evaluation.drift.level
    lines = [
        f"{_count(len(sig), 'group rate')} changed significantly since the baseline, largest "
        "first (every one is in the trend table):"
    ]
    for c in sig[:3]:
        verb = "rose" if (c.change or 0.0) > 0 else "fell"
        interval = "" if c.low is None else f", change {_ci(level, c.low, c.high)}"
        lines.append(
            f"the {words.rate(c.metric)} for {c.attribute} = {c.group} {verb} from "
            f"{_pct(c.baseline_value)} (n={c.baseline_n:,}) to {_pct(c.current_value)} "
            f"(n={c.current_n:,}){interval} (adjusted p {_p_phrase(c.p_adjusted)})."
        )
    return lines


def _p_phrase(p: float | None) -> str:
    """``<0.0001`` or ``= 0.0123``, as the trend table prints it."""
    text = p_text(p)
    return text if text.startswith("<") else f"= {text}"


def _small_groups(evaluation: FairnessEvaluation) -> list[str]:
    minimum = evaluation.report.min_group_size
    return [
        f"{g.attribute}={g.group} ({g.size})"
        for a in evaluation.report.attributes
        for g in a.groups
        if g.size < minimum
    ]


# ---------------------------------------------------------------- views for the template


@dataclass(frozen=True)
class _RuleView:
    result: RuleResult
    title: str
    rate_name: str
    counts: str
    explanation: str
    tables: list[tuple[str, list[EvidenceRow]]]
    charts: list[tuple[str, Markup]]


def _rule_view(report: ComplianceReport, result: RuleResult) -> _RuleView:
    rows = [_evidence_row(report, result, row) for row in result.rows]
    attributes = list(dict.fromkeys(r.attribute for r in result.rows))
    metric = next((r.rate_used for r in result.rows if r.rate_used), result.rule.metric)
    legend = (
        f"{report.wording.short(metric)} {_MEASURES.get(result.rule.measure, result.rule.measure)}"
    )
    return _RuleView(
        result=result,
        title=rule_title(result.rule, metric, report.wording),
        rate_name=report.wording.rate(metric),
        counts=status_summary(r.status for r in result.rows).text("group"),
        explanation=_explanation(result.rule, metric, report.wording),
        tables=[(a, [e for e in rows if e.attribute == a]) for a in attributes],
        charts=[
            (a, _chart(result, a, [r for r in result.rows if r.attribute == a], legend))
            for a in attributes
        ],
    )


def rule_title(rule: PolicyRule, metric: str, wording: Wording) -> str:
    """The pack's title; when a positive decision is adverse, selection wording is replaced.

    The shipped packs say "Selection-rate impact ratio ..."; a risk score's rule reads the
    favourable-outcome rate (not flagged), so its title is written from the rule's fields.
    """
    if not wording.adverse or "select" not in rule.title.lower():
        return rule.title
    measure = _MEASURES.get(rule.measure, rule.measure)
    return (
        f"{measure.capitalize()} of the {wording.rate(metric)} of every group "
        f"{rule.comparison} {rule.threshold:g}"
    )


def _explanation(rule: PolicyRule, metric: str, wording: Wording) -> str:
    """The pack's own explanation; for adverse decisions one written from the rule's fields.

    The shipped packs are worded for approvals ("wrongly rejects"); a risk score's report
    must not speak of approvals.
    """
    if not wording.adverse:
        return rule.explanation
    against = {
        "reference_group": "the reference group's",
        "highest": "the highest group's",
        "lowest": "the lowest group's",
    }[rule.reference]
    if rule.measure == "value":
        how = f"Each group's {wording.rate(metric)}"
    else:
        how = f"Each group's {wording.rate(metric)} compared with {against} ({rule.measure})"
    return f"{how}; the rule requires {rule.comparison} {rule.threshold:g}."


def _group_tables(evaluation: FairnessEvaluation, wording: Wording) -> list[dict[str, object]]:
    report = evaluation.report
    tables: list[dict[str, object]] = []
    for attr in report.attributes:
        tables.append(
            {
                "attribute": attr.attribute,
                "reference": attr.reference_group or attr.reference,
                "metrics": [wording.short(m) for m in report.metrics],
                "rows": [_group_row(attr, g, report.metrics, report.level) for g in attr.groups],
            }
        )
    return tables


def _group_row(
    attr: AttributeFairness, group: GroupMetrics, metrics: Sequence[str], level: float
) -> dict[str, object]:
    return {
        "group": group.group,
        "size": group.size,
        "cells": [
            (_cell_text(group, m, level), _ratio_text(attr.disparity(group.group, m)))
            for m in metrics
        ],
    }


_TREND_METRICS = ("selection_rate", "fnr", "fpr")


def _trend_rows(evaluation: FairnessEvaluation) -> list[BiasChange]:
    """Every significant change (any metric: the summary may name it), then the other changes
    of the selection rate, FNR and FPR; significant first, largest change first."""
    if evaluation.drift is None:
        return []
    shown = [c for c in evaluation.drift.changes if c.significant or c.metric in _TREND_METRICS]
    return sorted(
        shown,
        key=lambda c: (
            not c.significant,
            -abs(c.change or 0.0) if c.significant else 0.0,
            c.attribute,
            c.group,
            c.metric,
        ),
    )


def _chart(result: RuleResult, attribute: str, rows: list[RuleRow], legend: str) -> Markup:
    """Inline SVG: each group's value as a bar with its interval, the tolerance band shaded.

    Hand-drawn SVG rather than matplotlib: a matplotlib PNG took 1.1 s per chart on the 2-core
    CI-like machine (17 s for the 15 charts of the four shipped packs), this takes milliseconds.
    """
    rule = result.rule
    values = [r.value if r.value is not None else 0.0 for r in rows]
    highs = [_bounds(r.interval)[1] for r in rows]
    top = max([*values, *(h for h in highs if h is not None), rule.threshold]) * 1.15 or 1.0
    left, width, row_h = 170, 420, 22
    height = row_h * len(rows) + 50

    def x(v: float) -> float:
        return left + width * min(max(v, 0.0), top) / top

    if rule.comparison in (">=", ">"):
        band = (x(rule.threshold), x(top))
    else:
        band = (x(0.0), x(rule.threshold))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 70}" height="{height}"'
        f' role="img" aria-label="{escape(rule.id)} {escape(attribute)}">',
        f'<text x="4" y="14" font-size="12" font-weight="bold">{escape(rule.id)} - '
        f"{escape(attribute)}</text>",
        f'<rect x="{band[0]:.1f}" y="22" width="{band[1] - band[0]:.1f}"'
        f' height="{row_h * len(rows)}" fill="#2e7d32" fill-opacity="0.10"/>',
    ]
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        y = 22 + i * row_h
        color = _COLORS.get(row.status, "#999999")
        shown = "n/a" if row.value is None else f"{row.value:.3f}"
        parts += [
            f'<text x="{left - 6}" y="{y + 15}" font-size="11" text-anchor="end">'
            f"{escape(row.group)}</text>",
            f'<rect x="{left}" y="{y + 4}" width="{x(value) - left:.1f}" height="{row_h - 8}"'
            f' fill="{color}"/>',
            *_whisker(row.interval, x, y + row_h / 2, top),
            f'<text x="{x(value) + 4:.1f}" y="{y + 15}" font-size="10">{shown}</text>',
        ]
    line_x = x(rule.threshold)
    axis_y = 22 + row_h * len(rows)
    parts += [
        f'<line x1="{line_x:.1f}" y1="20" x2="{line_x:.1f}" y2="{axis_y}" stroke="#b71c1c"'
        ' stroke-dasharray="4,3"/>',
        f'<text x="{left}" y="{axis_y + 18}" font-size="10">{escape(legend)}'
        f"; shaded: tolerance band ({escape(rule.comparison)}"
        f" {rule.threshold:g}); dashed: threshold; whiskers: confidence interval</text>",
        "</svg>",
    ]
    return Markup("".join(parts))


def _bounds(interval: Interval | None) -> tuple[float | None, float | None]:
    return (None, None) if interval is None else (interval.low, interval.high)


def _whisker(
    interval: Interval | None, scale: Callable[[float], float], y: float, top: float
) -> list[str]:
    """The interval as a horizontal line with end ticks (to the edge when unbounded)."""
    if interval is None or interval.low is None:
        return []
    low, high = scale(interval.low), scale(top if interval.high is None else interval.high)
    return [
        f'<line x1="{low:.1f}" y1="{y:.1f}" x2="{high:.1f}" y2="{y:.1f}" stroke="#222"/>',
        f'<line x1="{low:.1f}" y1="{y - 4:.1f}" x2="{low:.1f}" y2="{y + 4:.1f}" stroke="#222"/>',
        f'<line x1="{high:.1f}" y1="{y - 4:.1f}" x2="{high:.1f}" y2="{y + 4:.1f}" stroke="#222"/>',
    ]


_COLORS = {
    "pass": "#2e7d32",
    "warn": "#ef6c00",
    "fail": "#c62828",
    "insufficient_data": "#9e9e9e",
    "not_evaluated": "#9e9e9e",
}
