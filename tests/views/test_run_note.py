"""The Markdown run descriptions: health, partial, window, findings with their evidence, links."""

from __future__ import annotations

import re

from mlflow_monitor.views import NoteLinks, baseline_note, failed_window_note, window_note
from mlflow_monitor.views.run_note import artifact_link

LINKS = NoteLinks(
    experiment_id="7",
    run_id="r1",
    artifacts=(
        "notebooks/monitor.ipynb",
        "notebooks/monitor.html",
        "notebooks/fairness_audit.ipynb",
        "reports/data_drift.html",
        "reports/classification.html",
        "results.json",
        "monitor.yaml",
        "model_card.md",
    ),
    baseline_run_id="b0",
)


def outcome(check_id: str, status: str, severity: str = "warning", **extra: object) -> dict:
    return {"check_id": check_id, "kind": "drift", "status": status, "severity": severity, **extra}


def body(outcomes: list[dict], **extra: object) -> dict[str, object]:
    return {
        "model": "churn",
        "model_version": "3",
        "window_start": "2026-11-23T00:00:00Z",
        "window_end": "2026-11-30T00:00:00Z",
        "rows": 12345,
        "health": "critical",
        "outcomes": outcomes,
        **extra,
    }


def links_of(note: str) -> dict[str, str]:
    return dict(re.findall(r"\[([^\]]+)\]\((#/[^)]+)\)", note))


def test_window_note_says_health_window_rows_summary_and_the_findings_worst_first() -> None:
    outcomes = [
        outcome("quality/age/missing", "warn", value=0.2, message="age missing 20%"),
        outcome(
            "performance/roc_auc",
            "fail",
            "critical",
            value=0.71,
            baseline=0.81,
            threshold={"lower": 0.76, "upper": None, "source": "baseline"},
            interval={"low": 0.68, "high": 0.74, "level": 0.95, "denominator": 400},
        ),
        outcome("drift/x/psi", "pass", value=0.01),
    ]
    note = window_note(body(outcomes), summary="3 checks: 1 pass, 1 warn, 1 fail", links=LINKS)
    assert note.startswith("**Health: critical** · churn v3\n")
    assert "partial" not in note
    assert "- **Window:** 2026-11-23T00:00:00Z → 2026-11-30T00:00:00Z" in note
    assert "- **Rows:** 12,345" in note
    assert "- **Checks:** 3 checks: 1 pass, 1 warn, 1 fail" in note
    first, second = (line for line in note.splitlines() if re.match(r"\d\. ", line))
    assert first == (
        "1. `performance/roc_auc` fail (critical): value 0.71, baseline 0.81, allowed ≥ 0.76, "
        "interval \\[0.68, 0.74\\] 95% n=400"
    )
    assert second.startswith("2. `quality/age/missing` warn (warning): value 0.2")
    assert "drift/x/psi" not in note  # a pass is no finding


def test_window_note_marks_partial_when_a_critical_check_was_not_evaluated() -> None:
    outcomes = [
        outcome("performance/roc_auc", "not_evaluated", "critical"),
        outcome("performance/recall", "not_evaluated", "warning"),
    ]
    note = window_note(body(outcomes, health="healthy"), summary="", links=LINKS)
    head = note.splitlines()[0]
    assert head.startswith("**Health: healthy**") and "**partial**" in head
    assert "`performance/roc_auc`" in head and "recall" not in head
    assert "**Findings:** none." in note


def test_window_note_keeps_at_most_five_findings_and_says_how_many_there_are() -> None:
    outcomes = [outcome(f"drift/c{i}/psi", "warn", value=0.3 + i) for i in range(8)]
    note = window_note(body(outcomes), summary="", links=LINKS)
    assert "**Top findings** (5 of 8)" in note
    assert len([line for line in note.splitlines() if re.match(r"\d\. ", line)]) == 5
    assert "drift/c5/psi" not in note


def test_window_note_links_are_relative_routes_of_the_mlflow_ui() -> None:
    note = window_note(body([]), summary="", links=LINKS)
    found = links_of(note)
    base = "#/experiments/7/runs/r1/artifacts/"
    assert found["monitor"] == base + "notebooks/monitor.html"
    assert found[".ipynb"].startswith(base + "notebooks/")
    assert base + "notebooks/fairness_audit.ipynb" in note
    assert found["data\\_drift"] == base + "reports/data_drift.html"
    assert found["results.json"] == base + "results.json"
    assert found["model card"] == base + "model_card.md"
    assert found["Baseline run"] == "#/experiments/7/runs/b0"
    assert artifact_link("7", "r1", "notebooks/a b.html").endswith("notebooks/a%20b.html")


def test_text_from_results_cannot_inject_markdown_or_html() -> None:
    hostile = "<script>alert(1)</script> [click](http://evil) *bold*\nsecond line"
    outcomes = [outcome("x`y", "warn", message=hostile)]
    note = window_note(body(outcomes, model="m<b>"), summary="", links=LINKS)
    assert "<script>" not in note and "<b>" not in note
    assert "&lt;script&gt;" in note
    assert "[click](http" not in note and "\\[click\\]" in note and "\\*bold\\*" in note
    assert "`x'y`" in note  # a backtick cannot close the code span
    finding = next(line for line in note.splitlines() if line.startswith("1. "))
    assert finding.endswith("second line")  # one line: a newline would end the list item


def test_failed_note_says_it_failed_with_the_error_line_and_what_was_kept() -> None:
    links = NoteLinks("7", "r2", ("notebooks/monitor.ipynb", "error.json"))
    note = failed_window_note(
        error="monitor.ipynb: cell 4: KeyError: 'age'\nTraceback ...",
        window_start=None,
        window_end="2026-11-30T00:00:00Z",
        links=links,
    )
    assert note.startswith("**Monitoring failed**")
    assert "- **Error:** monitor.ipynb: cell 4: KeyError: 'age'\n" in note
    assert "Traceback" not in note
    assert "- **Window:** until 2026-11-30T00:00:00Z" in note
    assert links_of(note)["error.json"] == "#/experiments/7/runs/r2/artifacts/error.json"


def test_baseline_note_names_reference_rows_and_columns() -> None:
    links = NoteLinks("7", "b0", ("notebooks/baseline.ipynb", "baseline/baseline.json"))
    columns = [f"col_{i}" for i in range(25)]
    note = baseline_note(
        model="churn",
        version="3",
        rows=4000,
        columns=columns,
        links=links,
        performance={"roc_auc": 0.8123456},
    )
    assert "**Baseline** of churn v3" in note
    assert "- **Reference rows:** 4,000" in note
    assert "- **Columns profiled (25):** `col_0`" in note and "and 5 more" in note
    assert "roc\\_auc 0.8123" in note
    assert links_of(note)["baseline.json"].endswith("/runs/b0/artifacts/baseline/baseline.json")
