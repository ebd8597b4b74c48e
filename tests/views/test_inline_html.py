"""The inline notebook views: content, ordering, escaping and well-formed HTML."""

from __future__ import annotations

import ast
import json
import math
import sys
from html.parser import HTMLParser
from pathlib import Path

from mlflow_monitor.views import (
    bar_chart_svg,
    card_frame_html,
    health_badge,
    history_html,
    table_html,
    window_html,
)
from mlflow_monitor.views.inline_html import bound_text, counts_text, interval_text

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
HOSTILE = "<script>alert(1)</script>"
QUOTED = '"onload=alert(1) x="'
LEGACY_RESULTS = next(
    (Path(__file__).parents[1] / "fixtures" / "legacy_store").rglob("results.json"), None
)


class Parsed(HTMLParser):
    """Start tags with their attributes, nesting errors, text, and the cells of each table."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.starts if tag == name]


def well_formed(markup: str) -> Parsed:
    parsed = Parsed(markup)
    assert parsed.errors == []
    assert parsed.stack == []
    return parsed


def outcome(check_id: str, status: str, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "check_id": check_id,
        "kind": "performance",
        "status": status,
        "severity": "warning",
        "value": 0.5,
        "threshold": None,
        "message": f"{check_id} is {status}",
        "metric": check_id,
        "basis": "measured",
        "cause": None,
        "interval": None,
        "baseline": None,
    }
    body.update(fields)
    return body


def results(outcomes: list[dict[str, object]], **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "model": "churn",
        "model_version": "3",
        "window_start": "2025-01-01",
        "window_end": "2025-01-08",
        "rows": 1234,
        "health": "critical",
        "counts": {},
        "outcomes": outcomes,
        "metrics": {},
    }
    body.update(fields)
    return body


def badge_colour(markup: str) -> str:
    style = Parsed(markup).tags("span")[0]["style"] or ""
    return style.split("background:")[1].split(";")[0]


# -- health badge, table -----------------------------------------------------------------------


def test_badge_colour_differs_by_health() -> None:
    colours = {
        h: badge_colour(health_badge(h)) for h in ("healthy", "warning", "critical", "error")
    }
    assert len(set(colours.values())) == 4
    grey = {badge_colour(health_badge(h)) for h in ("no baseline", "not checked", "failed")}
    assert len(grey) == 1
    assert grey.isdisjoint(colours.values())


def test_badge_escapes_its_text() -> None:
    parsed = well_formed(health_badge(HOSTILE))
    assert parsed.tags("script") == []
    assert "".join(parsed.text) == HOSTILE


def test_table_formats_cells_and_counts_hidden_rows() -> None:
    rows = [{"a": 0.123456789, "b": None, "c": 7} for _ in range(5)]
    markup = table_html(rows, columns=["a", "b", "c"], max_rows=3, caption="Numbers")
    parsed = well_formed(markup)
    [table] = parsed.tables
    assert table[0] == ["a", "b", "c"]
    assert table[1:] == [["0.1235", "", "7"]] * 3
    assert "… and 2 more rows" in markup
    assert "<caption>Numbers</caption>" in markup


def test_table_without_rows_says_so() -> None:
    assert "No rows." in table_html([], columns=["a"])


# -- texts of one outcome ----------------------------------------------------------------------


def test_bound_text_reads_upper_lower_and_both() -> None:
    assert bound_text({"lower": None, "upper": 0.2}) == "≤ 0.2"
    assert bound_text({"lower": 0.8, "upper": None}) == "≥ 0.8"
    assert bound_text({"lower": 0.1, "upper": 0.9}) == "0.1 – 0.9"
    assert bound_text({"lower": None, "upper": None}) == ""
    assert bound_text(None) == ""


def test_interval_text_includes_level_and_denominators() -> None:
    interval = {"low": 0.12, "high": 0.3123456, "level": 0.95, "method": "wilson"}
    assert interval_text({**interval, "denominator": 123}) == "[0.12, 0.3123] 95% n=123"
    both = {**interval, "level": 0.995, "denominator": 40, "reference_denominator": 900}
    assert interval_text(both) == "[0.12, 0.3123] 99.5% n=40 vs 900"
    assert interval_text({**interval, "high": None, "of": "change"}).endswith(
        "+inf] 95% (of the change)"
    )


def test_counts_line_lists_every_status_with_its_number() -> None:
    counts = {"pass": 80, "warn": 3, "fail": 2}
    markup = window_html(results([], counts=counts))
    assert "85 checks: 80 pass, 3 warn, 2 fail" in markup
    assert counts_text(None, [outcome("a", "pass"), outcome("b", "error")]) == (
        "2 checks: 1 pass, 1 error"
    )


# -- one window --------------------------------------------------------------------------------


def test_findings_are_warn_fail_error_worst_first() -> None:
    outcomes = [
        outcome("perf/ok", "pass"),
        outcome("perf/warned", "warn"),
        outcome("perf/failed-warning", "fail", severity="warning"),
        outcome("perf/failed-critical", "fail", severity="critical"),
        outcome("perf/broken", "error"),
        outcome("perf/thin", "insufficient_data"),
    ]
    parsed = well_formed(window_html(results(outcomes)))
    findings = parsed.tables[0]
    assert findings[0][:3] == ["check", "status", "severity"]
    assert [row[0] for row in findings[1:]] == [
        "perf/broken",
        "perf/failed-critical",
        "perf/failed-warning",
        "perf/warned",
    ]
    assert "cause" not in findings[0]
    everything = parsed.tables[-1]
    assert len(everything) == len(outcomes) + 1
    assert "All 6 checks" in "".join(parsed.text)


def test_findings_show_bound_interval_baseline_and_cause_when_any() -> None:
    interval = {"low": 0.1, "high": 0.2, "level": 0.95, "denominator": 50}
    outcomes = [
        outcome(
            "perf/auc",
            "fail",
            threshold={"lower": 0.8, "upper": None},
            interval=interval,
            baseline=0.91,
            cause="label shift",
        ),
        outcome("perf/recall", "warn"),
    ]
    findings = well_formed(window_html(results(outcomes))).tables[0]
    row = dict(zip(findings[0], findings[1], strict=True))
    assert row["bound"] == "≥ 0.8"
    assert row["interval"] == "[0.1, 0.2] 95% n=50"
    assert row["baseline"] == "0.91"
    assert row["cause"] == "label shift"


def test_window_without_findings_says_so_and_skips_empty_chart() -> None:
    markup = window_html(results([outcome("drift/x", "pass", kind="drift", value=None)]))
    assert "No findings." in markup
    assert "<svg" not in markup


def test_window_header_uses_title_or_model_version_and_facts() -> None:
    markup = window_html(results([]), facts=[("run id", "abc123")])
    text = "".join(well_formed(markup).text)
    assert "churn v3" in text
    assert "window 2025-01-01 → 2025-01-08" in text
    assert "1234 rows" in text
    assert "run id: abc123" in text
    assert "Shadow" in window_html(results([]), title="Shadow")


def test_window_charts_drift_against_its_upper_bound() -> None:
    outcomes = [
        outcome("drift/age", "fail", kind="drift", value=0.4, threshold={"upper": 0.2}),
        outcome("drift/income", "pass", kind="drift", value=0.05, threshold={"upper": 0.2}),
        outcome("perf/auc", "pass", value=0.9),
    ]
    markup = window_html(results(outcomes))
    parsed = well_formed(markup)
    [svg] = parsed.tags("svg")
    assert svg["aria-label"] == "Drift by column (value vs bound)"
    chart = Parsed(markup[markup.index("<svg") : markup.index("</svg>")])
    labels = {t for t in chart.text if t in ("age", "income", "perf/auc")}
    assert labels == {"age", "income"}
    assert len(parsed.tags("line")) == 2  # one bound tick per bar


def test_hostile_text_is_escaped_everywhere() -> None:
    outcomes = [
        outcome(
            f"drift/{HOSTILE}",
            "fail",
            kind="drift",
            value=0.3,
            threshold={"upper": 0.1},
            message=QUOTED,
            cause=HOSTILE,
            severity=QUOTED,
        ),
    ]
    window = window_html(
        results(outcomes, model=HOSTILE, health=QUOTED, window_end=QUOTED),
        facts=[(HOSTILE, QUOTED)],
    )
    windows = [{"window_end": QUOTED, "health": HOSTILE, "run_id": HOSTILE, QUOTED: 1.0}]
    pieces = [
        window,
        window_html(results(outcomes), title=QUOTED),
        history_html(windows, title=HOSTILE, metrics=[QUOTED, HOSTILE]),
        table_html([{HOSTILE: QUOTED}], columns=[HOSTILE], caption=QUOTED),
        bar_chart_svg([{"label": QUOTED, "value": 1.0, "status": HOSTILE}], title=HOSTILE),
        health_badge(QUOTED),
    ]
    for markup in pieces:
        parsed = well_formed(markup)
        assert parsed.tags("script") == []
        names = {name for _, attrs in parsed.starts for name in attrs}
        assert not any(name.startswith("on") or "onload" in name for name in names)
    assert HOSTILE in "".join(Parsed(window).text)


# -- bar chart ---------------------------------------------------------------------------------


def test_chart_keeps_the_12_bars_furthest_past_their_bound() -> None:
    bars = [
        {"label": f"col{i:02d}", "value": float(i), "bound": 10.0, "status": "pass"}
        for i in range(15)
    ]
    parsed = well_formed(bar_chart_svg(bars, title="Drift"))
    assert len(parsed.tags("rect")) == 12
    text = "".join(parsed.text)
    assert "12 of 15 shown" in text
    assert "col00" not in text and "col02" not in text
    assert "col03" in text and "col14" in text


def test_chart_marks_unusable_values_na() -> None:
    bars = [
        {"label": "nan", "value": math.nan, "bound": 0.1, "status": "error"},
        {"label": "inf", "value": math.inf},
        {"label": "none", "value": None},
        {"label": "fine", "value": 0.05, "bound": 0.1, "status": "pass"},
    ]
    parsed = well_formed(bar_chart_svg(bars, title="Drift"))
    assert len(parsed.tags("rect")) == 1
    assert parsed.text.count("n/a") == 3
    assert "shown" not in "".join(parsed.text)


def test_chart_colours_bars_by_status() -> None:
    bars = [{"label": s, "value": 1.0, "status": s} for s in ("fail", "warn", "pass", "error")]
    fills = [rect["fill"] for rect in Parsed(bar_chart_svg(bars, title="t")).tags("rect")]
    assert len(set(fills[:3])) == 3
    assert fills[3] not in fills[:3]


def test_chart_truncates_long_labels_but_keeps_them_in_the_tooltip() -> None:
    label = "a_really_long_feature_column_name_here"
    parsed = well_formed(bar_chart_svg([{"label": label, "value": 1.0}], title="t"))
    shown = [t for t in parsed.text if t.startswith("a_really")]
    assert f"{label[:27]}…" in shown
    assert any(t.startswith(f"{label}: 1") for t in shown)


def test_chart_without_bars_is_empty() -> None:
    assert bar_chart_svg([], title="Drift") == ""


# -- history -----------------------------------------------------------------------------------


def test_history_has_a_square_per_window_and_a_sparkline_per_metric() -> None:
    windows = [
        {"window_end": "2025-01-08", "health": "healthy", "run_id": "r1", "auc": 0.9, "psi": 0.1},
        {"window_end": "2025-01-15", "health": "warning", "run_id": "r2", "auc": None, "psi": 0.2},
        {"window_end": "2025-01-22", "health": None, "run_id": "r3", "auc": 0.7, "psi": 0.3},
    ]
    parsed = well_formed(history_html(windows, title="churn v3", metrics=["auc", "psi"]))
    strip, *sparks = parsed.tags("svg")
    assert strip["aria-label"] == "health by window"
    assert len(parsed.tags("rect")) == 3
    assert [svg["aria-label"] for svg in sparks] == ["auc", "psi"]
    assert len(parsed.tags("circle")) == 2 + 3  # the missing auc is skipped
    text = "".join(parsed.text)
    assert "2025-01-15: warning" in text and "2025-01-22: not checked" in text
    assert "max 0.9" in text and "min 0.7" in text
    table = parsed.tables[0]
    assert table[0] == ["window_start", "window_end", "health", "run_id", "auc", "psi"]
    assert [row[3] for row in table[1:]] == ["r3", "r2", "r1"]


def test_history_without_windows_says_so() -> None:
    markup = history_html([], title="churn v3", metrics=["auc"])
    assert "No windows yet." in markup
    assert "<svg" not in markup


# -- card frame, whole documents ---------------------------------------------------------------


def test_card_frame_keeps_the_document_inside_its_attribute() -> None:
    document = '<html><body><p title="x" onload="bad()">card</p><script>x()</script></body></html>'
    markup = card_frame_html(document, height=480)
    parsed = well_formed(markup)
    assert [tag for tag, _ in parsed.starts] == ["iframe"]
    [frame] = parsed.tags("iframe")
    assert frame["srcdoc"] == document
    assert frame["sandbox"] == ""
    assert "height:480px" in (frame["style"] or "")


def test_a_real_results_file_renders_well_formed() -> None:
    assert LEGACY_RESULTS is not None
    body = json.loads(LEGACY_RESULTS.read_text())
    parsed = well_formed(window_html(body, facts=[("verdict of the version", "yes")]))
    assert parsed.starts[0] == ("div", {"class": "mlflow-monitor"})
    assert parsed.starts[1][0] == "style"
    assert len(parsed.tags("svg")) == 1


def test_views_import_only_the_standard_library() -> None:
    package = Path(__file__).parents[2] / "mlflow_monitor" / "views"
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                inside = name.startswith("mlflow_monitor.views")
                assert inside or top in sys.stdlib_module_names, f"{source.name}: {name}"
