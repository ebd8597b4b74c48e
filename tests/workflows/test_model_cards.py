"""Card context, rendering and the description's managed block, without MLflow."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import re
from datetime import datetime, timezone
from importlib.resources import files
from pathlib import Path

import pytest

from mlflow_monitor.adapters.mlflow.card_store import (
    CARD_END,
    CARD_START,
    CardFacts,
    RunFacts,
    VersionFacts,
    replace_managed_block,
    user_description,
)
from mlflow_monitor.contract import (
    AppliedThreshold,
    CheckOutcome,
    Interval,
    MetricValue,
    Status,
    WindowResults,
)
from mlflow_monitor.errors import SpecError
from mlflow_monitor.spec import GateSpec, parse_spec
from mlflow_monitor.stats.estimation import EstimatedMetric, PerformanceEstimate
from mlflow_monitor.stats.fairness import AttributeFairness, FairnessReport, GroupMetrics
from mlflow_monitor.stats.intervals import wilson
from mlflow_monitor.verdicts.estimated_checks import WindowEstimate
from mlflow_monitor.verdicts.promotion import VersionState, decide
from mlflow_monitor.verdicts.trends import WindowRecord, build_trends
from mlflow_monitor.workflows.model_cards import (
    NOT_PROVIDED,
    HumanCard,
    _window_rows,
    build_context,
    load_human_card,
    parse_human_card,
    render_card,
    trend_images,
)

NOW = datetime(2025, 3, 1, tzinfo=timezone.utc)
SECTIONS = [
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
    "Monitoring",
]
SPEC = parse_spec(
    {
        "model": "lending",
        "task": "binary_classification",
        "positive_label": 1,
        "columns": {
            "target": "y",
            "prediction": "p",
            "score": "s",
            "numerical": ["income"],
            "categorical": ["region"],
            "protected": ["sex"],
            "segments": ["region"],
        },
        "performance": {"checks": [{"metric": "roc_auc", "max_drop": 0.05}]},
        "segments": {"metric": "roc_auc"},
        "fairness": {"policies": ["four_fifths_rule"]},
    }
)


def run(run_id: str, metrics: dict[str, float], **tags: str) -> RunFacts:
    return RunFacts(run_id, run_id, "FINISHED", 1_700_000_000_000, {"C": "1.0"}, metrics, tags)


def facts(description: str = "") -> CardFacts:
    baseline_json = {
        "rows": 5000,
        "created_at": "2025-01-01T00:00:00Z",
        "performance": {"metrics": {"roc_auc": 0.81, "f1": 0.7}},
        "fairness": {
            "attributes": [
                {
                    "attribute": "sex",
                    "groups": [
                        {
                            "group": "F",
                            "size": 2400,
                            "rates": {"selection_rate": 0.31, "fnr": 0.30, "tp": 9},
                        },
                        {
                            "group": "M",
                            "size": 2600,
                            "rates": {"selection_rate": 0.42, "fnr": 0.15},
                        },
                    ],
                }
            ]
        },
        "segments": {
            "segments": [
                {
                    "column": "region",
                    "segment": "north",
                    "rows": 3000,
                    "performance": {"metrics": {"f1": 0.7, "roc_auc": 0.83}},
                },
            ]
        },
    }
    results = {
        "metrics": {"fairness/sex=F/fnr": 0.41, "segment/region=north/roc_auc": 0.7},
        "outcomes": [
            {
                "check_id": "performance/roc_auc",
                "status": "fail",
                "severity": "critical",
                "message": "roc_auc = 0.7 < 0.76 (baseline)",
            },
            {
                "check_id": "policy/four_fifths_rule/selection_rate_impact_ratio/sex=F",
                "status": "fail",
                "severity": "critical",
                "message": "ratio 0.74 < 0.8",
            },
            {
                "check_id": "drift/income/psi",
                "status": "pass",
                "severity": "warning",
                "message": "ok",
            },
        ],
    }
    windows = tuple(
        run(
            f"w{i}",
            {"perf/roc_auc": 0.8 - i / 10, "drift/share_drifted": i / 4},
            **{"monitor.window_end": f"2025-02-0{i + 1}T00:00:00Z", "monitor.health": h},
        )
        for i, h in enumerate(["healthy", "critical"])
    )
    return CardFacts(
        version=VersionFacts(
            "lending",
            "4",
            description,
            1_700_000_000_000,
            "models:/m-1",
            "train-run",
            ("champion",),
            {"monitor.health": "critical", "monitor.last_checked": "2025-02-02"},
        ),
        signature=None,
        source_run=run("train-run", {"val_auc": 0.83}),
        baseline_run=run("base-run", {}),
        baseline_json=baseline_json,
        windows=windows[::-1],
        last_results=results,
    )


def test_templates_ship_inside_the_package() -> None:
    names = {p.name for p in files("mlflow_monitor.resources.model_cards").iterdir()}
    assert {"model_card.md.j2", "model_card.html.j2", "card.yaml"} <= names


def test_card_has_every_section_and_not_provided_for_missing_fields() -> None:
    card = render_card(build_context(facts(), HumanCard(), SPEC, now=NOW))
    for section in SECTIONS:
        assert f"\n## {section}\n" in card.markdown
        assert f">{section}</h2>" in card.html
    md = card.markdown
    assert f"**Owners:** {NOT_PROVIDED}" in md
    assert f"**Primary intended uses:** {NOT_PROVIDED}" in md
    assert f"## Ethical considerations\n\n{NOT_PROVIDED}" in md
    assert "**Signature inputs:** Not provided" in md
    lines = [line for line in md.splitlines() if line.strip()]
    for label, following in itertools.pairwise(lines):  # a label always has content after it
        if label.endswith(":**"):
            assert not following.startswith(("**", "#")), (label, following)


def test_disaggregated_tables_show_reference_and_latest_per_group() -> None:
    md = render_card(build_context(facts(), HumanCard(), SPEC, now=NOW)).markdown
    assert "### sex (protected attribute)" in md
    assert "| Group | Rows (baseline → window) | selection_rate | fnr |" in md
    assert "| F | 2,400 → — | 0.31 → — | 0.3 → 0.41 |" in md  # counts (tp) are left out
    assert "| M | 2,600 → — | 0.42 → — | 0.15 → — |" in md  # no window value: never "0.15"
    assert "### region (segment)" in md
    assert "| north | 3,000 → — | 0.83 → 0.7 | 0.7 → — |" in md  # the spec's segment metric first
    unmonitored = dataclasses.replace(facts(), last_results=None, windows=())
    md = render_card(build_context(unmonitored, HumanCard(), SPEC, now=NOW)).markdown
    assert "| Group | Rows | selection_rate | fnr |" in md and "| F | 2,400 | 0.31 | 0.3 |" in md


def _group(name: str, size: int, selected: int, **confusion: int) -> GroupMetrics:
    return GroupMetrics("sex", name, size, selected, **confusion)


def _fairness(*groups: GroupMetrics, labeled: bool = True) -> dict[str, object]:
    attribute = AttributeFairness("sex", ("sex",), "majority", "M", groups, ())
    return FairnessReport(sum(g.size for g in groups), labeled, 30, (attribute,)).to_dict()


def test_group_cells_show_intervals_denominators_and_a_dash_for_a_missing_window_value() -> None:
    """The window's fairness report gives each side its interval and count; a rate the window
    could not compute (no labels: FNR) reads ``→ —``, never as unchanged."""
    reference = _fairness(
        _group("F", 2_400, 744, labeled=2_400, tp=600, fn=250, fp=144, tn=1_406),
        _group("M", 2_600, 1_092, labeled=2_600, tp=900, fn=160, fp=192, tn=1_348),
    )
    window = _fairness(_group("F", 310, 62), _group("M", 290, 116), labeled=False)
    base = facts()
    assert isinstance(base.baseline_json, dict) and isinstance(base.last_results, dict)
    latest = dataclasses.replace(
        base,
        baseline_json={**base.baseline_json, "fairness": reference},
        last_results={
            **base.last_results,
            "metrics": {},
            "fairness": {"report": window},
            "segments": {
                "results": [
                    {
                        "column": "region",
                        "segment": "north",
                        "rows": 420,
                        "metric": "roc_auc",
                        "value": 0.71,
                        "spread": {"standard_error": 0.03, "denominator": 400},
                    }
                ]
            },
        },
    )
    context = build_context(latest, HumanCard(), SPEC, now=NOW)
    sex = next(t for t in context.disaggregated if t.attribute == "sex")
    female = next(r for r in sex.rows if r.group == "F")
    cells = dict(zip(sex.metrics, female.values, strict=True))
    assert female.size == "2,400 → 310"
    low, high = wilson(744, 2_400, level=0.95)
    w_low, w_high = wilson(62, 310, level=0.95)
    assert cells["selection_rate"] == (
        f"0.31 [{low:.4g}, {high:.4g}] n=2,400 → 0.2 [{w_low:.4g}, {w_high:.4g}] n=310"
    )
    f_low, f_high = wilson(250, 850, level=0.95)
    assert cells["fnr"] == f"{250 / 850:.4g} [{f_low:.4g}, {f_high:.4g}] n=850 → —"
    region = next(t for t in context.disaggregated if t.attribute == "region")
    north = region.rows[0]
    assert north.size == "3,000 → 420"
    assert north.values[0] == "0.83 → 0.71 n=400"
    md = render_card(context).markdown
    assert f"| F | 2,400 → 310 | 0.31 [{low:.4g}, {high:.4g}] n=2,400 → 0.2 [" in md


def test_monitoring_section_has_trend_findings_and_policy() -> None:
    context = build_context(facts(), HumanCard(), SPEC, now=NOW)
    assert [w.run_id for w in context.windows] == ["w0", "w1"]  # oldest first
    assert context.trend_metrics == ("perf/roc_auc", "drift/share_drifted")
    assert [f.check_id for f in context.open_findings] == [
        "performance/roc_auc",
        "policy/four_fifths_rule/selection_rate_impact_ratio/sex=F",
    ]
    assert context.policy_status == "1 rule check: 1 fail"
    assert context.checks_status == "3 checks: 1 pass, 2 fail"
    md = render_card(context).markdown
    assert "| 2025-02-02T00:00:00Z | critical | 0.7 | 0.25 |" in md.replace("… – ", "")
    assert "- **Current health:** critical" in md


def test_recent_windows_show_the_performance_checks_metrics_first() -> None:
    """No checks in the spec: the defaults the window applied (ROC AUC, F1, recall) come first,
    so the failing critical check is a column; without a spec, the latest window's checks."""
    spec = parse_spec(
        {
            "model": "lending",
            "task": "binary_classification",
            "positive_label": 1,
            "columns": {"target": "y", "prediction": "p", "score": "s", "numerical": ["x"]},
        }
    )
    metrics = ("accuracy", "brier", "f1", "log_loss", "recall", "roc_auc")
    windows = tuple(
        run(
            f"w{i}",
            {**{f"perf/{m}": 0.5 + i / 10 for m in metrics}, "drift/share_drifted": 0.1},
            **{"monitor.window_end": f"2025-02-0{i + 1}T00:00:00Z", "monitor.health": "healthy"},
        )
        for i in range(2)
    )
    base = dataclasses.replace(facts(), windows=windows)
    context = build_context(base, HumanCard(), spec, now=NOW)
    assert context.trend_metrics == (
        "perf/roc_auc",
        "perf/f1",
        "perf/recall",
        "drift/share_drifted",
        "perf/accuracy",
    )
    assert "| perf/roc_auc | perf/f1 | perf/recall |" in render_card(context).markdown
    unscored = spec.model_copy(update={"columns": spec.columns.model_copy(update={"score": None})})
    assert build_context(base, HumanCard(), unscored, now=NOW).trend_metrics[0] == "perf/accuracy"
    no_spec = build_context(base, HumanCard(), None, now=NOW)
    assert no_spec.trend_metrics[0] == "perf/roc_auc"  # the latest window's performance check


def test_human_yaml_fills_the_card(tmp_path: Path) -> None:
    human = load_human_card(Path(str(files("mlflow_monitor.resources.model_cards") / "card.yaml")))
    assert human.owners and human.intended_use and human.out_of_scope_uses
    md = render_card(build_context(facts(), human, SPEC, now=NOW)).markdown
    assert "Pricing or credit decisions about individual customers" in md
    assert f"**Owners:** {human.owners[0]}" in md


def test_card_yaml_errors_name_the_key_and_file(tmp_path: Path) -> None:
    bad = tmp_path / "card.yaml"
    bad.write_text("owners: [a]\nintended_uses: typo\n")
    with pytest.raises(SpecError, match=r"card.yaml: unknown key 'intended_uses'"):
        load_human_card(bad)
    with pytest.raises(SpecError, match="card file not found"):
        load_human_card(tmp_path / "missing.yaml")


def test_stored_card_yaml_parses_like_the_file_and_errors_name_the_source() -> None:
    path = Path(str(files("mlflow_monitor.resources.model_cards") / "card.yaml"))
    assert parse_human_card(path.read_text(), "stored") == load_human_card(path)
    assert parse_human_card("", "stored") == HumanCard()
    source = "card/card.yaml of baseline run r1"
    with pytest.raises(SpecError, match=r"^card/card.yaml of baseline run r1: unknown key 'x'$"):
        parse_human_card("x: 1\n", source)
    with pytest.raises(SpecError, match="baseline run r1: expected a mapping"):
        parse_human_card("- a\n", source)


def test_html_is_autoescaped() -> None:
    human = HumanCard(overview="<script>alert(1)</script>")
    card = render_card(build_context(facts(), human, SPEC, now=NOW))
    assert "<script>alert(1)</script>" not in card.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card.html


def test_managed_block_leaves_user_text_untouched() -> None:
    user = "Trained by the lending team.\n\nSee JIRA-12 for the data contract."
    first = replace_managed_block(user, "health: healthy")
    assert first.startswith(user) and first.endswith(f"{CARD_START}\nhealth: healthy\n{CARD_END}")
    edited = first.replace("See JIRA-12", "See JIRA-13") + "\n\nFooter by the user."
    second = replace_managed_block(edited, "health: critical")
    assert "health: healthy" not in second and "health: critical" in second
    assert second.replace(f"{CARD_START}\nhealth: critical\n{CARD_END}", "") == edited.replace(
        f"{CARD_START}\nhealth: healthy\n{CARD_END}", ""
    )
    assert user_description(second) == (
        "Trained by the lending team.\n\nSee JIRA-13 for the data contract."
        "\n\n\n\nFooter by the user."
    )
    assert replace_managed_block("", "s") == f"{CARD_START}\ns\n{CARD_END}"


def test_card_shows_only_the_users_part_of_the_description() -> None:
    description = replace_managed_block("Owned by risk.", "old summary")
    context = build_context(facts(description), HumanCard(), SPEC, now=NOW)
    assert context.description == "Owned by risk."


def _unlabelled_latest() -> CardFacts:
    """The latest window (w1) read healthy but had no labels: its critical AUC check not run."""
    base = facts()
    reason = "no labels in the window"
    results = {
        "health": "healthy",
        "outcomes": [
            {
                "check_id": "performance/roc_auc",
                "status": "not_evaluated",
                "severity": "critical",
                "message": f"roc_auc: not evaluated, {reason}",
                "evidence": {"reason": reason},
            },
            {
                "check_id": "performance/f1",
                "status": "not_evaluated",
                "severity": "warning",
                "message": f"f1: not evaluated, {reason}",
            },
            {"check_id": "drift/income/psi", "status": "pass", "severity": "warning"},
            {
                "check_id": "policy/four_fifths_rule/selection_rate_impact_ratio/sex=F",
                "status": "pass",
                "severity": "critical",
            },
            {
                "check_id": "policy/equal_opportunity/fnr_difference/sex=F",
                "status": "not_evaluated",
                "severity": "critical",
                "message": f"fnr_difference sex=F: not evaluated, {reason}",
            },
        ],
    }
    tags = {
        "monitor.health": "healthy",
        "monitor.last_checked": "2025-02-02",
        "monitor.last_run_id": "w1",
    }
    windows = tuple(
        dataclasses.replace(w, tags={**w.tags, "monitor.health": "healthy"}) for w in base.windows
    )
    return dataclasses.replace(
        base,
        version=dataclasses.replace(base.version, tags=tags),
        windows=windows,
        last_results=results,
    )


def test_card_marks_the_latest_window_partial_when_a_critical_check_was_not_evaluated() -> None:
    context = build_context(_unlabelled_latest(), HumanCard(), SPEC, now=NOW)
    assert context.health == "healthy" and context.open_findings == ()
    assert context.partial == (
        "partial: critical checks not evaluated: performance/roc_auc, "
        "policy/equal_opportunity/fnr_difference/sex=F"
    )
    assert context.policy_status == "2 rule checks: 1 pass, 1 not evaluated (not judged)"
    assert context.health_reason == context.partial
    assert [(w.run_id, w.health) for w in context.windows] == [
        ("w0", "healthy"),
        ("w1", "healthy (partial)"),
    ]
    card = render_card(context)
    assert (
        "- **Current health:** healthy (partial: critical checks not evaluated: "
        "performance/roc_auc, policy/" in card.markdown
    )
    assert "| healthy (partial) |" in card.markdown
    assert "healthy (partial)" in card.html
    assert "- Health: **healthy** (partial: critical checks not evaluated" in card.summary


def test_card_of_a_fully_evaluated_window_is_not_partial() -> None:
    context = build_context(facts(), HumanCard(), SPEC, now=NOW)
    assert context.partial == "" and "partial" not in render_card(context).markdown


RULE = "policy/four_fifths_rule/selection_rate_impact_ratio"


def _rule(group: str, status: Status, **fields: object) -> CheckOutcome:
    """A four-fifths outcome for ``race=<group>`` with the interval the fairness checks give."""
    base: dict[str, object] = {
        "check_id": f"{RULE}/race={group}",
        "kind": "policy",
        "status": status,
        "severity": "critical",
        "value": 0.93,
        "threshold": None,
        "message": f"race={group}",
        "interval": Interval(0.81, 1.07, 0.95, "katz_log", 420, 1_300),
    }
    base.update(fields)
    return CheckOutcome(**base)  # type: ignore[arg-type]


SMALL_GROUPS = (
    *(_rule(g, "pass") for g in "abcde"),
    *(
        _rule(
            g,
            "insufficient_data",
            value=None,
            interval=Interval(None, None, 0.95, "katz_log", 12, 1_300),
            evidence={"size": 12, "note": "group has 12 rows < minimum 30"},
        )
        for g in "xy"
    ),
)


def _with_latest(outcomes: tuple[CheckOutcome, ...], **baseline: object) -> CardFacts:
    base = facts()
    results = {"health": "healthy", "outcomes": [o.to_dict() for o in outcomes]}
    assert isinstance(base.baseline_json, dict)
    baseline_json = {**base.baseline_json, **baseline}
    return dataclasses.replace(base, last_results=results, baseline_json=baseline_json)


def test_card_and_gate_agree_that_small_groups_are_not_judged() -> None:
    """must_pass policy refuses as not judged; the card counts the same checks, never "all"."""
    context = build_context(_with_latest(SMALL_GROUPS), HumanCard(), SPEC, now=NOW)
    gate = GateSpec(must_pass=["policy"])
    state = VersionState("lending", "4", "healthy", None, NOW, "w1", "b", True, True, SMALL_GROUPS)
    reasons = decide(state, gate, alias="champion", now=NOW).reasons

    counted = "7 rule checks: 5 pass, 2 insufficient data (not judged)"
    assert context.policy_status == counted
    assert reasons[0] == f"must_pass policy: {counted}"
    assert reasons[1:] == tuple(
        f"must_pass policy: {RULE}/race={g} not judged: insufficient data "
        "(group has 12 rows < minimum 30; n=12 vs 1300)"
        for g in "xy"
    )
    assert context.open_findings == ()  # not judged is never a finding
    card = render_card(context)
    assert f"- **Policy status:** {counted}" in card.markdown
    assert f"policy: {counted}" in card.summary
    for text in (card.markdown, card.html, card.summary):
        assert "passing" not in text and "all 7" not in text
    assert "not judged: insufficient data (group has 12 rows &lt; minimum 30" in card.html


def test_policy_rows_show_the_estimate_with_its_interval_and_denominators() -> None:
    card = render_card(build_context(_with_latest(SMALL_GROUPS), HumanCard(), SPEC, now=NOW))
    row = f"| {RULE}/race=a | pass | 0.93 [0.81, 1.07] (95% katz_log, n=420 vs 1300) | race=a |"
    assert row in card.markdown
    assert "<td>0.93 [0.81, 1.07] (95% katz_log, n=420 vs 1300)</td>" in card.html
    assert "whole confidence interval lies beyond the policy line" in card.markdown


def test_card_shows_what_the_reference_data_already_breaks() -> None:
    broken = _rule(
        "z", "fail", value=0.61, interval=Interval(0.52, 0.71, 0.95, "katz_log", 800, 1_300)
    )
    straddling = _rule("w", "warn", value=0.78)
    reference = [o.to_dict() for o in (_rule("a", "pass"), straddling, broken)]
    latest = _with_latest(SMALL_GROUPS[:5], reference_outcomes=reference)
    context = build_context(latest, HumanCard(), SPEC, now=NOW)

    assert [(f.check_id, f.status) for f in context.reference_breaks] == [
        (f"{RULE}/race=z", "fail"),
        (f"{RULE}/race=w", "warn"),
    ]
    card = render_card(context)
    assert "**The reference data already breaks**" in card.markdown
    assert f"| {RULE}/race=z | fail | 0.61 [0.52, 0.71] (95% katz_log, n=800 vs 1300) |" in (
        card.markdown
    )
    assert "<h3>The reference data already breaks</h3>" in card.html
    assert (
        f"- The reference data already breaks: {RULE}/race=z (fail), {RULE}/race=w (warn)"
        in card.summary
    )
    clean = build_context(_with_latest(SMALL_GROUPS[:5]), HumanCard(), SPEC, now=NOW)
    assert clean.reference_breaks == ()
    assert "already breaks" not in render_card(clean).markdown


# -- judged before labels: estimated findings, the estimate line, how well estimation tracked ----
def _estimate(**changes: object) -> dict[str, object]:
    """A ``results.json`` ``estimation`` section as ``WindowEstimate.to_dict`` writes it."""
    metrics = {
        name: EstimatedMetric(name, value, low, high, 0.95, 0.01, 3000.0, "poisson_binomial_delta")
        for name, value, low, high in (
            ("accuracy", 0.7, 0.69, 0.72),
            ("f1", 0.64, 0.62, 0.66),
            ("roc_auc", 0.77, 0.75, 0.79),
            ("positive_rate", 0.4, 0.38, 0.42),
        )
    }
    performance = PerformanceEstimate(
        "binary_classification", 3000, 0.95, metrics, coverage_share=0.995
    )
    body = WindowEstimate(dataclasses.replace(performance, **changes)).to_dict()  # type: ignore[arg-type]
    return json.loads(json.dumps(body))  # type: ignore[no-any-return]


EST_AUC = CheckOutcome(
    "performance/roc_auc",
    "performance",
    "warn",
    "warning",
    0.77,
    None,
    "estimated before labels (cbpe): roc_auc 0.77, baseline 0.81, allowed >= 0.76: below",
    evidence={"method": "cbpe"},
    basis="estimated",
    interval=Interval(0.75, 0.79, 0.95, "cbpe"),
)
EST_RULE = "policy/equal_opportunity/fnr_difference/sex=F"
W1_END = "2025-02-02T00:00:00Z"


def _judged_on_estimates(estimation: dict[str, object] | None = None) -> CardFacts:
    """The latest window (w2) had no labels and was judged on estimates; the window before it
    (w1) was re-run by a backfill once more of its labels arrived, logging the estimation error."""
    base = facts()
    not_evaluated = {"status": "not_evaluated", "severity": "critical", "message": "no labels"}
    results = {
        "health": "warning",
        "outcomes": [
            {"check_id": "performance/roc_auc", "kind": "performance", **not_evaluated},
            EST_AUC.to_dict(),
            {"check_id": EST_RULE, "kind": "policy", **not_evaluated},
            dataclasses.replace(
                EST_AUC,
                check_id=EST_RULE,
                kind="policy",
                status="pass",
                message="estimated before labels (cbpe): fnr_difference 0.02: pass",
            ).to_dict(),
            {"check_id": "drift/income/psi", "status": "pass", "severity": "warning"},
        ],
        "metrics": {"perf_est/roc_auc": 0.77},
        "estimation": estimation or _estimate(),
    }
    end = {f"w{i}": f"2025-02-0{i + 1}T00:00:00Z" for i in range(3)}
    tagged = {k: {"monitor.window_end": v, "monitor.health": "healthy"} for k, v in end.items()}
    windows = (
        run("w0", {"perf/roc_auc": 0.81, "labels/coverage": 1.0}, **tagged["w0"]),
        run(  # w1's first attempt, with a fifth of its labels: superseded by the backfill's
            "w1-early",
            {"perf/roc_auc": 0.75, "perf_est_error/roc_auc": 0.05, "labels/coverage": 0.2},
            **tagged["w1"],
            **{"monitor.superseded_by": "w1"},
        ),
        run(
            "w1",
            {
                "perf/roc_auc": 0.8,
                "perf/f1": 0.66,
                "perf/accuracy": 0.71,
                "perf/positive_rate": 0.4,
                "perf_est/roc_auc": 0.79,
                "perf_est_error/roc_auc": -0.012,
                "perf_est_error/f1": 0.004,
                "perf_est_error/accuracy": 0.01,
                "perf_est_error/positive_rate": 0.0,
                "labels/coverage": 0.5,
            },
            **tagged["w1"],
        ),
        run("w2", {"perf_est/roc_auc": 0.77, "labels/coverage": 0.0}, **tagged["w2"]),
    )
    tags = {"monitor.health": "warning", "monitor.last_run_id": "w2"}
    return dataclasses.replace(
        base,
        version=dataclasses.replace(base.version, tags=tags),
        windows=windows[::-1],
        last_results=results,
    )


def test_card_marks_findings_judged_on_estimates_and_shows_how_estimation_tracked() -> None:
    context = build_context(_judged_on_estimates(), HumanCard(), SPEC, now=NOW)
    assert [(f.check, f.basis) for f in context.open_findings] == [
        ("performance/roc_auc (estimated, no labels yet)", "estimated")
    ]
    assert [f.check for f in context.policy] == [
        EST_RULE,  # the measured rule waits for the labels ...
        f"{EST_RULE} (estimated, no labels yet)",  # ... its estimated twin judged it (pass)
    ]
    assert context.checks_status == (
        "5 checks: 2 pass, 1 warn, 2 not evaluated (not judged); "
        "2 of them estimated before labels (1 pass, 1 warn)"
    )
    assert context.policy_status == (
        "2 rule checks: 1 pass, 1 not evaluated (not judged); "
        "1 of them estimated before labels (1 pass)"
    )
    # the latest window's estimates, from its results.json: the spec's check first, then common
    line = (
        "performance estimated (CBPE) before labels: roc_auc 0.77 [0.75, 0.79], "
        "f1 0.64 [0.62, 0.66], accuracy 0.7 [0.69, 0.72] (95% intervals, 3,000 rows)"
    )
    assert context.estimation == line
    # the backfilled window: estimate on its labelled rows = realized + error; the superseded
    # attempt and the windows without labels have no row
    assert [(e.window_end, e.metric, e.estimated, e.realized, e.error, e.labelled) for e in
            context.estimation_errors] == [
        (W1_END, "roc_auc", "0.788", "0.8", "-0.012", "50%"),
        (W1_END, "f1", "0.664", "0.66", "+0.004", "50%"),
        (W1_END, "accuracy", "0.72", "0.71", "+0.010", "50%"),
    ]  # fmt: skip
    card = render_card(context)
    md, html = card.markdown, card.html
    row = (
        "| performance/roc_auc (estimated, no labels yet) | warn | warning | "
        "estimated before labels (cbpe): roc_auc 0.77"
    )
    assert row in md
    assert f"| {EST_RULE} (estimated, no labels yet) | pass | 0.77 [0.75, 0.79] (95% cbpe) |" in md
    assert "<td>performance/roc_auc (estimated, no labels yet)</td><td>warn</td>" in html
    assert f"- **Latest window:** {line}" in md
    assert f'<td class="estimated">{line}</td>' in html
    assert (
        "**How well estimation tracked**" in md and "<h3>How well estimation tracked</h3>" in html
    )
    assert f"| {W1_END} | roc_auc | 0.788 | 0.8 | -0.012 | 50% |\n" in md
    assert (
        "<tr><td>2025-02-02T00:00:00Z</td><td>roc_auc</td><td>0.788</td><td>0.8</td>"
        "<td>-0.012</td><td>50%</td></tr>"
    ) in html
    assert "- Open findings: 1 (1 estimated, no labels yet); policy: 2 rule checks" in card.summary
    assert f"- Latest window: {line}" in card.summary


def test_card_says_when_an_estimate_is_not_trusted_or_not_yet_checked_against_labels() -> None:
    untrusted = _estimate(trustworthy=False, notes=("12% of rows outside the reference's range",))
    latest = _judged_on_estimates(untrusted)
    context = build_context(
        dataclasses.replace(latest, windows=latest.windows[:1]), HumanCard(), SPEC, now=NOW
    )
    assert context.estimation.endswith(
        "(95% intervals, 3,000 rows); not trusted: 12% of rows outside the reference's range"
    )
    assert context.estimation_errors == ()
    md = render_card(context).markdown
    assert "No window with labels yet to compare the estimates with." in md
    labelled = {**_estimate(), "judged": False}  # a window with labels: judged on them
    context = build_context(_judged_on_estimates(labelled), HumanCard(), SPEC, now=NOW)
    assert context.estimation == ""


def test_card_without_estimates_has_no_estimation_section() -> None:
    card = render_card(build_context(facts(), HumanCard(), SPEC, now=NOW))
    for text in (card.markdown, card.html, card.summary):
        assert "(estimated" not in text and "estimated before labels" not in text
        assert "How well estimation tracked" not in text


def test_card_says_the_monitor_scored_the_window_and_what_the_comparison_found() -> None:
    base = facts()
    results = {
        "health": "healthy",
        "outcomes": [],
        "scoring": {"model_uri": "models:/churn/3", "rows": 3000, "rows_scored": 3000,
                    "columns": {"score": 3000}, "reason": "absent", "seconds": 1.2},
        "comparison": {"against": "@champion", "against_version": "2", "paired": [
            {"metric": "roc_auc", "challenger": 0.8, "champion": 0.75, "improvement": 0.05,
             "method": "paired_delong", "p_value": 0.001, "n": 3000, "standard_error": 0.01},
            {"metric": "brier", "challenger": 0.2, "champion": 0.21, "improvement": 0.01,
             "method": "paired_mean", "p_value": 0.2, "n": 3000, "standard_error": 0.01},
        ]},
    }  # fmt: skip
    context = build_context(
        dataclasses.replace(base, last_results=results), HumanCard(), SPEC, now=NOW
    )
    line = (
        "scored by the monitor: 3,000 of 3,000 rows with models:/churn/3 (absent); "
        "compared with @champion (version 2) on the same rows: "
        "roc_auc 0.8 vs 0.75 (paired_delong, two-sided p=0.001)"
    )
    assert context.provenance == line
    card = render_card(context)
    assert f"- **Latest window's outputs:** {line}" in card.markdown
    assert "roc_auc 0.8 vs 0.75 (paired_delong" in card.html
    plain = build_context(facts(), HumanCard(), SPEC, now=NOW)
    assert plain.provenance == "" and "Latest window's outputs" not in render_card(plain).markdown


def _trend_window(end: str, health: str, value: float, status: Status) -> WindowRecord:
    outcome = CheckOutcome(
        "performance/roc_auc",
        "performance",
        status,
        "critical",
        value,
        AppliedThreshold(0.75, None, "baseline"),
        "",
        metric="roc_auc",
    )
    results = WindowResults(
        model="lending",
        model_version="4",
        window_start=None,
        window_end=end,
        rows=100,
        health=health,  # type: ignore[arg-type]
        outcomes=(outcome,),
        metrics=(MetricValue("perf/roc_auc", value),),
    )
    return WindowRecord(f"run-{end[:10]}", results)


def test_html_card_embeds_the_trend_figure_marking_the_crossed_window() -> None:
    trends = build_trends(
        model="lending",
        windows=[
            _trend_window("2025-02-01T00:00:00Z", "healthy", 0.8, "pass"),
            _trend_window("2025-02-02T00:00:00Z", "critical", 0.7, "fail"),
        ],
    )
    (image,) = trend_images(trends)
    assert image.alt.endswith("perf/roc_auc; crossed in 2025-02-02T00:00:00Z")
    card = render_card(build_context(facts(), HumanCard(), SPEC, now=NOW, trends=(image,)))
    assert '<h3 id="trends">Trends</h3>' in card.html
    (data,) = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', card.html)
    assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    assert f'alt="{image.alt}"' in card.html
    assert "Trend chart of the last windows" in card.markdown and "base64" not in card.markdown


def test_card_says_why_there_is_no_trend_figure_and_omits_the_section_without_windows() -> None:
    note = "trend figure not drawn (RegistryError: no such run)"
    card = render_card(build_context(facts(), HumanCard(), SPEC, now=NOW, trend_note=note))
    assert '<h3 id="trends">Trends</h3>' in card.html and note in card.html
    assert "<img" not in card.html
    plain = render_card(build_context(facts(), HumanCard(), SPEC, now=NOW))
    assert 'id="trends"' not in plain.html and "Trend chart" not in plain.markdown
    assert trend_images(build_trends(model="lending", windows=[])) == ()


def test_recent_windows_are_in_window_order_whatever_the_run_order() -> None:
    def window(run_id: str, start: str, end: str, started: int) -> RunFacts:
        tags = {"monitor.window_start": start, "monitor.window_end": end, "monitor.health": "ok"}
        return dataclasses.replace(run(run_id, {}, **tags), start_time_ms=started)

    shuffled = [  # a backfill (run last, oldest window) and two windows ending together
        window("week", "2025-02-03T00:00:00Z", "2025-02-10T00:00:00Z", 2),
        window("day", "2025-02-09T00:00:00Z", "2025-02-10T00:00:00Z", 1),
        window("backfill", "2025-01-27T00:00:00Z", "2025-02-03T00:00:00Z", 3),
    ]
    rows = _window_rows(shuffled, ())
    assert [r.run_id for r in rows] == ["backfill", "week", "day"]
