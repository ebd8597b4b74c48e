"""Compliance report: compliance.json content, the HTML report, and the papermill-run notebook."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from mlflow_monitor.adapters.baseline_files import save_baseline
from mlflow_monitor.adapters.notebook_parameters import NotebookParameters
from mlflow_monitor.adapters.notebooks.execute import run_notebook, shipped_notebook
from mlflow_monitor.contract import (
    COMPLIANCE_FILE,
    COMPLIANCE_REPORT_FILE,
    RESULTS_FILE,
)
from mlflow_monitor.verdicts.baseline_model import build_baseline_from_frame
from mlflow_monitor.verdicts.fairness_checks import evaluate_fairness, reference_fairness
from mlflow_monitor.workflows.compliance_audit import (
    ComplianceRecord,
    ComplianceReport,
    build_compliance,
    level_text,
    p_text,
    write_compliance,
)
from tests.fixtures.lending import FAIR, UNFAIR_FNR, lending_frame, lending_spec

PACKS = ["four_fifths_rule", "nyc_ll144_bias_audit", "equal_opportunity", "equalized_odds"]


def _report(
    frame_groups: dict = UNFAIR_FNR,  # type: ignore[type-arg]
    *,
    labels: bool = True,
    favorable_outcome: str = "positive",
    min_group_size: int = 30,
) -> ComplianceReport:
    spec = lending_spec(
        policies=PACKS,
        reference_groups={"sex": "male"},
        favorable_outcome=favorable_outcome,
        min_group_size=min_group_size,
    )
    reference = reference_fairness(spec, lending_frame(8_000, groups=FAIR, seed=41))
    window = lending_frame(8_000, groups=frame_groups, seed=42)
    if not labels:
        window = window.drop(columns=["repaid"])
    evaluation = evaluate_fairness(spec, reference, window)
    return build_compliance(
        evaluation,
        model="lending",
        model_version="7",
        window_start="2024-03-01",
        window_end="2024-04-01",
        baseline_rows=8_000,
    )


def test_compliance_json_holds_every_rule_with_its_evidence(tmp_path: Path) -> None:
    report = _report()
    json_path, html_path = write_compliance(report, tmp_path)
    assert (
        json_path == tmp_path / COMPLIANCE_FILE and html_path == tmp_path / COMPLIANCE_REPORT_FILE
    )
    data = json.loads(json_path.read_text())
    assert (data["model"], data["model_version"], data["rows"]) == ("lending", "7", 8_000)
    assert data["window_start"] == "2024-03-01" and data["baseline_rows"] == 8_000
    assert data["decision"]["decision_threshold"] == 0.5
    rules = {(r["pack"], r["rule"]["id"]): r for r in data["rules"]}
    assert len(rules) == 6
    assert rules[("equal_opportunity", "fnr_difference")]["status"] == "fail"
    assert rules[("equalized_odds", "fpr_difference")]["status"] == "pass"
    evidence = rules[("equal_opportunity", "fnr_difference")]["rows"]
    female = next(r for r in evidence if (r["attribute"], r["group"]) == ("sex", "female"))
    assert female["reference_group"] == "male" and female["value"] > 0.1
    assert data["status"] == "fail" and data["verdict"] == "NOT COMPLIANT"
    assert data["bias_drift"]["changes"]


def test_summary_is_plain_language_and_names_the_broken_group() -> None:
    report = _report()
    summary = report.summary
    broken = [r for r in report.evaluation.policies if r.status in ("fail", "warn")]
    assert {r.rule.id for r in broken} >= {"fnr_difference"}
    assert summary[0].startswith(f"{len(broken)} of 6 policy rules are broken")
    fnr = next(s for s in summary if s.startswith("equal_opportunity / fnr_difference"))
    assert "sex = female" in fnr and "false-negative rate" in fnr and "for male" in fnr
    assert any("changed significantly since the baseline" in s for s in summary)
    fair = _report(FAIR).summary
    assert fair[0] == "All 6 policy rules are met in this window."
    assert fair[1] == "Per group: 70 rule checks: all 70 pass."


def test_label_free_summary_says_labels_are_pending() -> None:
    report = _report(labels=False)
    assert any("not available for this window yet" in s for s in report.summary)
    statuses = {r.rule.id: r.status for r in report.evaluation.policies}
    assert statuses["fnr_difference"] == "not_evaluated"  # no labels: not judged, not small


def test_html_report_has_tables_charts_and_escapes_group_names(tmp_path: Path) -> None:
    report = _report()
    html = report.render_html()
    for heading in ("Summary", "Policy rules", "Group metrics", "Trend against the baseline"):
        assert f"<h2>{heading}</h2>" in html
    assert "NOT COMPLIANT" in html and "lending version 7" in html
    assert "Number selected" in html and "(intersectional categories)" in html
    start = html.index("<svg")
    svg = html[start : html.index("</svg>", start) + len("</svg>")]
    ET.fromstring(svg)  # well-formed inline chart
    assert html.count("<svg") == sum(
        len({row.attribute for row in r.rows}) for r in report.evaluation.policies
    )
    frame = lending_frame(2_000, seed=43)
    frame.loc[frame["race"] == "asian", "race"] = "<b>x</b>"
    spec = lending_spec(policies=["four_fifths_rule"])
    evaluation = evaluate_fairness(spec, None, frame)
    escaped = build_compliance(evaluation, model="m", model_version="1").render_html()
    assert "<b>x</b>" not in escaped and "&lt;b&gt;x&lt;/b&gt;" in escaped


@pytest.mark.integration
def test_window_notebooks_write_compliance_once_from_the_window_result(tmp_path: Path) -> None:
    spec = lending_spec(policies=PACKS, reference_groups={"sex": "male"})
    spec_path = tmp_path / "monitor.yaml"
    spec_path.write_text(spec.to_yaml())
    baseline_dir = tmp_path / "baseline"
    save_baseline(
        build_baseline_from_frame(spec, lending_frame(3_000, groups=FAIR, seed=44)), baseline_dir
    )
    current = tmp_path / "window.parquet"
    lending_frame(3_000, groups=UNFAIR_FNR, seed=45).to_parquet(current)
    out = tmp_path / "out"
    out.mkdir()
    params = NotebookParameters(
        spec_path=str(spec_path),
        model_version="3",
        current_path=str(current),
        baseline_dir=str(baseline_dir),
        window_start="2024-05-01T00:00:00+00:00",
        window_end="2024-06-01T00:00:00+00:00",
        output_dir=str(out),
    )
    run_notebook(
        shipped_notebook("monitor.ipynb"), out / "monitor.ipynb", params, timeout_seconds=300
    )
    written = (out / COMPLIANCE_FILE).stat().st_mtime_ns
    executed = run_notebook(
        shipped_notebook("fairness_audit.ipynb"),
        out / "fairness_audit.ipynb",
        params,
        timeout_seconds=300,
    )
    assert (out / COMPLIANCE_FILE).stat().st_mtime_ns == written  # the audit only reads it
    data = json.loads((out / COMPLIANCE_FILE).read_text())
    results = json.loads((out / RESULTS_FILE).read_text())
    assert data["fairness"] == results["fairness"]["report"]  # one evaluation, one story
    policy = {o["check_id"]: o["status"] for o in results["outcomes"] if o["kind"] == "policy"}
    assert {r["status"] for r in data["rules"]} >= {"fail"} and "fail" in policy.values()
    assert data["model"] == "lending" and data["model_version"] == "3"
    assert data["window_end"].startswith("2024-06-01") and data["rows"] == 3_000
    assert data["status"] == "fail" and data["bias_drift"] is not None
    html = (out / COMPLIANCE_REPORT_FILE).read_text()
    assert len(html) > 10_000 and "equal_opportunity" in html
    nb = nbformat.read(executed.path, as_version=4)
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "NOT COMPLIANT" in printed
    assert "fail: the whole 95% confidence interval lies beyond the policy line" in printed
    assert data["checks"] in printed and data["checks"].startswith("70 rule checks: ")
    shown = "".join(
        str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "95% CI [" in shown  # the evidence table, displayed
    assert any("positives), 95% CI [" in e["rate"] for e in data["evidence"])


def test_every_rule_row_shows_its_counts_and_interval_in_html_and_json(tmp_path: Path) -> None:
    report = _report(min_group_size=500)  # intersections' positives fall below the minimum
    level = report.evaluation.report.level
    html = report.render_html()
    judged = [e for e in report.evidence if e.status not in ("insufficient_data", "not_evaluated")]
    small = [e for e in report.evidence if e.status == "insufficient_data"]
    assert judged and small
    for row in judged:
        assert ", 95% CI [" in row.rate and "/" in row.rate, row
        assert row.measure.startswith(("impact ratio", "gap", "difference")), row
    for row in small:  # too few cases, or a chance extreme as the comparator: said which
        assert row.why.startswith("not judged: insufficient data (")
        assert " < minimum 500" in row.why or "chance extreme" in row.why
    assert any(" < minimum 500" in row.why for row in small)
    fnr = next(
        r
        for r in report.evaluation.policies
        if (r.pack, r.rule.id) == ("equal_opportunity", "fnr_difference")
    )
    female = next(row for row in fnr.rows if (row.attribute, row.group) == ("sex", "female"))
    sex = report.evaluation.report.attribute("sex")
    assert sex is not None and female.interval is not None
    group = sex.group("female")
    assert group is not None
    x, n = group.fraction("fnr")
    low, high = group.interval("fnr", level=level) or (0.0, 0.0)
    rate = (
        f"{100 * x / n:.1f}% ({x:,}/{n:,} positives), 95% CI [{100 * low:.1f}%, {100 * high:.1f}%]"
    )
    assert rate in html
    bounds = f"[{female.interval.low:.2f}, {female.interval.high:.2f}]"
    shown = level_text(female.interval.level)  # the rows share the level (Bonferroni)
    assert female.interval.level > 0.95 and f"gap {female.value:+.3f}, {shown} CI {bounds}" in html
    ratio = next(
        row
        for r in report.evaluation.policies
        if r.rule.id == "selection_rate_impact_ratio"
        for row in r.rows
        if row.interval is not None and row.value is not None
    )
    assert ratio.interval is not None and ratio.interval.method == "katz_log"
    bounds = f"[{ratio.interval.low:.2f}, {ratio.interval.high:.2f}]"
    shown = level_text(ratio.interval.level)
    assert f"impact ratio {ratio.value:.2f}, {shown} CI {bounds} (Katz log)" in html
    assert "fail: the whole 95% confidence interval lies beyond the policy line" in html
    assert "warn: the estimate is beyond the line but its interval straddles it" in html
    assert "insufficient data: too few cases to judge, with the counts" in html
    write_compliance(report, tmp_path)
    record = ComplianceRecord.read(tmp_path)
    frame = record.evidence_frame()
    assert len(frame) == len(report.evidence) and rate in set(frame["rate (counts, interval)"])
    assert record.reading == list(report.reading) and record.checks == report.checks
    assert record.checks.startswith("70 rule checks: ") and "insufficient data (not judged)" in (
        record.checks
    )
    groups = dict(zip(record.rules_frame()["rule"], record.rules_frame()["groups"], strict=False))
    assert "insufficient data (not judged)" in groups["fnr_difference"]


def test_risk_score_report_speaks_of_flags_and_never_of_approval() -> None:
    """favorable_outcome negative: a positive decision is a flag; selection rules read the rest."""
    report = _report(favorable_outcome="negative")
    html = report.render_html()
    sex = report.evaluation.report.attribute("sex")
    assert sex is not None
    flagged = max(sex.groups, key=lambda g: g.rate("selection_rate") or 0.0)
    x, n = flagged.fraction("selection_rate")
    assert f"to {flagged.group} {100 * x / n:.1f}% ({x:,}/{n:,})" in html  # highest flag rate
    assert "Lowest and highest flag rate per attribute" in html
    assert "adverse to the person (a flag)" in html and "Number flagged" in html
    assert "favourable-outcome rate (not flagged)" in html
    lowered = html.lower()
    assert "approv" not in lowered and "reject" not in lowered and "number selected" not in lowered
    assert "approv" not in " ".join(report.summary).lower()
    assert "most flagged" not in lowered and "least often selected" not in lowered
    # rule titles and chart legends about selection rates speak of the favourable outcome
    assert "Selection-rate impact ratio" not in html and "selection_rate ratio" not in html
    assert "Impact ratio of the favourable-outcome rate (not flagged) of every group &gt;= 0.8" in (
        html
    )
    assert "favourable-outcome rate (not flagged) impact ratio; shaded: tolerance band" in html
    positive = _report().render_html()
    assert "Selection-rate impact ratio of every group is at least 0.8" in positive
    assert "selection rate impact ratio; shaded: tolerance band" in positive
    assert "approval" in positive and "Least often selected" not in positive


def test_a_group_is_adversely_affected_only_when_a_rule_on_it_warns_or_fails() -> None:
    """Equal rates (no rule breaks) name nobody; a lower rate is information, not a finding."""
    fair = _report(FAIR)
    assert fair.adverse_groups == ()
    assert "Adversely affected groups: none: no rule finds a gap." in fair.summary
    html = fair.render_html()
    assert "<h3>Adversely affected groups</h3>" in html and "None: no rule finds a gap." in html
    assert "Least selected group" not in html and "Least often selected" not in html
    ranges = next(s for s in fair.summary if s.startswith("Selection rate by group, lowest"))
    assert "for information; a gap is a finding only when a rule warns or fails" in ranges
    assert "sex: female " in ranges and " to male " in ranges

    unfair = _report()
    broken = {
        (row.attribute, row.group)
        for r in unfair.evaluation.policies
        for row in r.rows
        if row.status in ("warn", "fail")
    }
    named = {(a.attribute, a.group) for a in unfair.adverse_groups}
    assert named == broken  # approvals: every broken row's group is the worse-off side
    female = next(
        a
        for a in unfair.adverse_groups
        if (a.attribute, a.group, a.status) == ("sex", "female", "fail")
    )
    assert female.rate_name == "false-negative rate (wrongly rejected)"
    assert female.reference.startswith("male ") and "positives), 95% CI [" in female.rate
    assert "equal_opportunity / fnr_difference (fail)" in female.rules
    line = next(s for s in unfair.summary if s.startswith("Adversely affected groups"))
    assert "sex = female" in line and "sex = male" not in line
    adverse = unfair.render_html().split("<h3>Adversely affected groups</h3>")[1].split("<h3>")[0]
    assert "equal_opportunity / fnr_difference (fail); equalized_odds / fnr_difference (fail)" in (
        adverse
    )
    assert '<td class="l">sex</td><td class="l">male</td>' not in adverse


def test_a_gap_rule_names_the_worse_off_side_when_flags_are_adverse() -> None:
    """With flags adverse, women missed (not flagged) more often leave the men worse off."""
    report = _report(favorable_outcome="negative")
    male = next(a for a in report.adverse_groups if (a.attribute, a.group) == ("sex", "male"))
    assert male.rate_name == "false-negative rate (missed, not flagged)"
    assert "equal_opportunity / fnr_difference (fail; on female)" in male.rules
    assert male.reference.startswith("female ")
    assert not any((a.attribute, a.group) == ("sex", "female") for a in report.adverse_groups)


def test_one_rule_is_counted_in_the_singular() -> None:
    spec = lending_spec(policies=["four_fifths_rule"], reference_groups={"sex": "male"})
    reference = reference_fairness(spec, lending_frame(8_000, groups=FAIR, seed=41))
    met = evaluate_fairness(spec, reference, lending_frame(8_000, groups=FAIR, seed=42))
    summary = build_compliance(met, model="m", model_version="1").summary
    assert summary[0] == "The only policy rule is met in this window."
    broken = evaluate_fairness(spec, reference, lending_frame(8_000, groups=UNFAIR_FNR, seed=42))
    assert (
        build_compliance(broken, model="m", model_version="1")
        .summary[0]
        .startswith("1 of 1 policy rule is broken.")
    )


def test_trend_table_shows_every_change_the_summary_names_with_readable_p_values() -> None:
    report = _report()
    drift = report.evaluation.drift
    assert drift is not None
    significant = drift.significant
    assert {c.metric for c in significant} - {"selection_rate", "fnr", "fpr"}  # e.g. FOR, TPR
    html = report.render_html()
    trend = html[html.index("<h2>Trend against the baseline</h2>") :]
    for c in significant:
        cells = f'<td class="l">{c.group}</td><td class="l">{report.wording.short(c.metric)}</td>'
        assert cells in trend, (c.attribute, c.group, c.metric)
    assert "<td>0.0000</td>" not in trend and "<td>&lt;0.0001</td>" in trend
    header = next(s for s in report.summary if "changed significantly since the baseline" in s)
    assert header.startswith(f"{len(significant)} group rates changed significantly")
    assert any("(adjusted p <0.0001)" in s for s in report.summary)
    assert "100% CI" not in html  # Bonferroni-adjusted levels keep their digits


def test_p_values_and_levels_read_as_people_expect() -> None:
    assert [p_text(p) for p in (3e-33, 0.00009, 0.012345, 0.5, None)] == [
        "<0.0001",
        "<0.0001",
        "0.0123",
        "0.5",
        "n/a",
    ]
    assert [level_text(v) for v in (0.95, 0.99, 0.9982142857, 0.9928571)] == [
        "95%",
        "99%",
        "99.8%",
        "99.3%",
    ]
