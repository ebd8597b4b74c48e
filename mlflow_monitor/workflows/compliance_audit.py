"""The compliance report of one window: ``compliance.json`` and ``reports/compliance_report.html``.

Built from a ``FairnessEvaluation``: model name and version, window, row counts, a plain-language
summary a non-statistician can act on, every policy rule with pass/fail/insufficient_data and
the evidence table behind it (NYC LL144 packs laid out as the law's bias-audit tables), group
metric tables, disparity charts against each rule's tolerance band (inline SVG, so the HTML is
one self-contained file) and the trend against the baseline.

Fairness is computed once per window: ``monitor.ipynb`` evaluates the window (fairness included)
and writes both files from that result (``window_compliance`` + ``write_compliance``);
``fairness_audit.ipynb`` reads ``compliance.json`` back (``ComplianceRecord``) and displays it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from mlflow_monitor.adapters.compliance_html import TEMPLATE
from mlflow_monitor.contract import COMPLIANCE_FILE, COMPLIANCE_REPORT_FILE, utc_now, utc_text
from mlflow_monitor.errors import DataError
from mlflow_monitor.stats.bias_drift import BiasChange
from mlflow_monitor.stats.fairness import GroupMetrics
from mlflow_monitor.verdicts.evaluation import WindowResult
from mlflow_monitor.verdicts.fairness_checks import (
    FairnessEvaluation,
    RuleResult,
    RuleRow,
)

__all__ = [
    "ComplianceRecord",
    "ComplianceReport",
    "build_compliance",
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

    @property
    def status(self) -> str:
        """Worst rule status: ``fail`` > ``warn`` > ``insufficient_data`` > ``pass``."""
        order = ["pass", "insufficient_data", "not_evaluated", "warn", "fail"]
        statuses = [r.status for r in self.evaluation.policies] or ["insufficient_data"]
        return max(statuses, key=lambda s: order.index(s) if s in order else len(order))

    @property
    def verdict(self) -> str:
        return _VERDICTS.get(self.status, self.status.upper())

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
            "status": self.status,
            "verdict": self.verdict,
            "summary": list(self.summary),
            "rules": [r.to_dict() for r in ev.policies],
            "fairness": ev.report.to_dict(),
            "bias_drift": None if ev.drift is None else ev.drift.to_dict(),
        }

    def rules_frame(self) -> pd.DataFrame:
        """One line per policy rule: pack, rule, threshold, status (for notebooks)."""
        return rules_frame([r.to_dict() for r in self.evaluation.policies])

    def render_html(self) -> str:
        env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
        env.filters["pct"] = _pct
        env.filters["num"] = _num
        return env.from_string(TEMPLATE).render(
            r=self,
            rules=[_rule_view(self.evaluation, x) for x in self.evaluation.policies],
            groups=_group_tables(self.evaluation),
            trend=_trend_rows(self.evaluation),
        )


def build_compliance(
    evaluation: FairnessEvaluation,
    *,
    model: str,
    model_version: str,
    window_start: str = "",
    window_end: str = "",
    baseline_rows: int | None = None,
) -> ComplianceReport:
    """The report for one evaluated window, with its plain-language summary."""
    return ComplianceReport(
        model,
        model_version,
        window_start,
        window_end,
        baseline_rows,
        evaluation,
        tuple(plain_summary(evaluation)),
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
    result: WindowResult, *, baseline_rows: int | None = None
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
        lines = self.body.get("summary")
        return [str(x) for x in lines] if isinstance(lines, list) else []

    @property
    def headline(self) -> str:
        b = self.body
        return (
            f"{b.get('model')} version {b.get('model_version')}, window "
            f"{b.get('window_start')} .. {b.get('window_end')}: {b.get('rows'):,} rows"
        )

    def rules_frame(self) -> pd.DataFrame:
        """One line per policy rule, as ``ComplianceReport.rules_frame``."""
        rules = self.body.get("rules")
        return rules_frame(
            [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []
        )


def rules_frame(rules: list[dict[str, object]]) -> pd.DataFrame:
    """One line per rule (``RuleResult.to_dict`` bodies): pack, rule, threshold, status."""
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
                "failing groups": ", ".join(
                    f"{x['attribute']}={x['group']}"
                    for x in rows
                    if x["status"] in ("fail", "warn")
                ),
            }
        )
    return pd.DataFrame(lines)


# ---------------------------------------------------------------- plain-language summary


def plain_summary(evaluation: FairnessEvaluation) -> list[str]:
    """Short sentences, worst first, that say what was found and what to do."""
    lines: list[str] = []
    rules = evaluation.policies
    failing = [r for r in rules if r.status in ("fail", "warn")]
    if not rules:
        lines.append("No policy pack is configured: fairness was measured but not judged.")
    elif failing:
        lines.append(
            f"{len(failing)} of {len(rules)} policy rules are broken. Do not promote or keep "
            "relying on this model version without a documented review of the groups below."
        )
    else:
        lines.append(f"All {len(rules)} judged policy rules are met in this window.")
    for result in failing:
        lines += [_row_sentence(result, row) for row in _worst_rows(result)]
    if not evaluation.report.labeled:
        lines.append(
            "Outcomes (labels) are not available for this window yet, so only approval rates "
            "were checked; error-rate rules will be judged once labels arrive."
        )
    lines += _drift_sentences(evaluation)
    small = _small_groups(evaluation)
    if small:
        lines.append(
            f"{len(small)} group(s) had fewer than {evaluation.report.min_group_size} rows and "
            f"were not judged: {', '.join(small[:6])}{' ...' if len(small) > 6 else ''}."
        )
    return lines


def _worst_rows(result: RuleResult, limit: int = 2) -> list[RuleRow]:
    """Broken rows, single attributes before intersections, furthest from the bound first."""
    bad = [r for r in result.rows if r.status in ("fail", "warn")]
    return sorted(bad, key=lambda r: (":" in r.attribute, -_distance(result, r)))[:limit]


def _distance(result: RuleResult, row: RuleRow) -> float:
    return abs((row.value if row.value is not None else 1e9) - result.rule.threshold)


def _row_sentence(result: RuleResult, row: RuleRow) -> str:
    rule = result.rule
    who = f"{row.attribute} = {row.group}"
    ref = f"{row.reference_group} ({_pct(row.reference_rate)})"
    name = _METRIC_WORDS.get(rule.metric, rule.metric)
    if rule.measure == "ratio":
        value = "an infinite multiple" if row.value is None else f"{row.value:.2f} times"
        body = f"{name} is {_pct(row.rate)}, {value} that of {ref}"
    elif rule.measure in ("difference", "abs_difference"):
        gap = "undefined" if row.value is None else f"{row.value * 100:.1f} points"
        body = (
            f"{name} is {_pct(row.rate)} against {_pct(row.reference_rate)}"
            f" for {row.reference_group}, a gap of {gap}"
        )
    else:
        body = f"{name} is {_pct(row.rate)}"
    need = f"{rule.comparison} {rule.threshold:g}"
    return f"{result.pack} / {rule.id}: for {who}, {body}; the rule requires {need}."


def _drift_sentences(evaluation: FairnessEvaluation) -> list[str]:
    if evaluation.drift is None:
        return ["No baseline fairness to compare with: no trend against the baseline."]
    sig = sorted(evaluation.drift.significant, key=lambda c: abs(c.change or 0.0), reverse=True)
    if not sig:
        return ["No group's rates changed significantly since the baseline."]
    lines = [f"{len(sig)} group rate(s) changed significantly since the baseline, largest first:"]
    for c in sig[:3]:
        verb = "rose" if (c.change or 0.0) > 0 else "fell"
        word = _METRIC_WORDS.get(c.metric, c.metric)
        lines.append(
            f"{word} for {c.attribute} = {c.group} {verb} from {_pct(c.baseline_value)} "
            f"to {_pct(c.current_value)} (adjusted p = {c.p_adjusted:.2g})."
        )
    return lines


def _small_groups(evaluation: FairnessEvaluation) -> list[str]:
    minimum = evaluation.report.min_group_size
    return [
        f"{g.attribute}={g.group} ({g.size})"
        for a in evaluation.report.attributes
        for g in a.groups
        if g.size < minimum
    ]


_METRIC_WORDS = {
    "selection_rate": "the approval (selection) rate",
    "prevalence": "the share of actual positives",
    "tpr": "the true-positive rate",
    "fpr": "the false-positive rate (wrongly approved)",
    "fnr": "the false-negative rate (wrongly rejected)",
    "fdr": "the false-discovery rate",
    "for": "the false-omission rate",
    "precision": "the precision",
}


# ---------------------------------------------------------------- views for the template


@dataclass(frozen=True)
class _RuleView:
    result: RuleResult
    tables: list[tuple[str, list[dict[str, object]]]]
    charts: list[tuple[str, Markup]]


def _rule_view(evaluation: FairnessEvaluation, result: RuleResult) -> _RuleView:
    attributes = list(dict.fromkeys(r.attribute for r in result.rows))
    tables, charts = [], []
    for attr in attributes:
        rows = [r for r in result.rows if r.attribute == attr]
        tables.append((attr, [_evidence_row(evaluation, r) for r in rows]))
        charts.append((attr, _chart(result, attr, rows)))
    return _RuleView(result, tables, charts)


def _evidence_row(evaluation: FairnessEvaluation, row: RuleRow) -> dict[str, object]:
    attr = evaluation.report.attribute(row.attribute)
    group: GroupMetrics | None = None if attr is None else attr.group(row.group)
    selected = None if group is None else group.predicted_positive
    return {**row.to_dict(), "selected": selected}


def _group_tables(evaluation: FairnessEvaluation) -> list[dict[str, object]]:
    metrics = evaluation.report.metrics
    tables: list[dict[str, object]] = []
    for attr in evaluation.report.attributes:
        rows = []
        for g in attr.groups:
            ratios = {m: getattr(attr.disparity(g.group, m), "ratio", None) for m in metrics}
            rows.append(
                {"group": g.group, "size": g.size, "rates": g.rates(metrics), "ratios": ratios}
            )
        tables.append(
            {
                "attribute": attr.attribute,
                "reference": attr.reference_group or attr.reference,
                "metrics": metrics,
                "rows": rows,
            }
        )
    return tables


def _trend_rows(evaluation: FairnessEvaluation) -> list[BiasChange]:
    if evaluation.drift is None:
        return []
    shown = [c for c in evaluation.drift.changes if c.metric in ("selection_rate", "fnr", "fpr")]
    return sorted(shown, key=lambda c: (not c.significant, c.attribute, c.group, c.metric))


def _chart(result: RuleResult, attribute: str, rows: list[RuleRow]) -> Markup:
    """Inline SVG: each group's measured value as a bar, the rule's tolerance band shaded.

    Hand-drawn SVG rather than matplotlib: a matplotlib PNG took 1.1 s per chart on the 2-core
    CI-like machine (17 s for the 15 charts of the four shipped packs), this takes milliseconds.
    """
    rule = result.rule
    values = [r.value if r.value is not None else 0.0 for r in rows]
    top = max([*values, rule.threshold]) * 1.15 or 1.0
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
            f'<text x="{x(value) + 4:.1f}" y="{y + 15}" font-size="10">{shown}</text>',
        ]
    line_x = x(rule.threshold)
    axis_y = 22 + row_h * len(rows)
    parts += [
        f'<line x1="{line_x:.1f}" y1="20" x2="{line_x:.1f}" y2="{axis_y}" stroke="#b71c1c"'
        ' stroke-dasharray="4,3"/>',
        f'<text x="{left}" y="{axis_y + 18}" font-size="10">{escape(rule.metric)}'
        f" {escape(rule.measure)}; shaded: tolerance band ({escape(rule.comparison)}"
        f" {rule.threshold:g}); dashed: threshold</text>",
        "</svg>",
    ]
    return Markup("".join(parts))


_COLORS = {
    "pass": "#2e7d32",
    "warn": "#ef6c00",
    "fail": "#c62828",
    "insufficient_data": "#9e9e9e",
    "not_evaluated": "#9e9e9e",
}


def _pct(value: object) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{100 * float(value):.1f}%"


def _num(value: object, digits: int = 3) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{float(value):.{digits}f}"
