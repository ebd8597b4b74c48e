"""One truth per column: on the demo's drifted window every verdict shown equals results.json.

The window is the demo's (``demo.demo_windows``: prices, contracts and tenure moved), judged by
``evaluate_window`` on all rows; ``results.json`` is written and read back, and the reports are
built from it with the report functions themselves. Each report's HTML is parsed: the tool's
verdict rows must equal ``results.json`` column by column, and no text of Evidently's may say
anything was (or was not) detected on its sample.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlflow_monitor.adapters.evidently_reports import (
    ReportFiles,
    attach_verdicts,
    write_reports,
)
from mlflow_monitor.contract import WindowResults, read_results, write_results
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.stats.drift import DriftReport
from mlflow_monitor.verdicts.baseline_model import build_baseline_from_frame
from mlflow_monitor.verdicts.evaluation import evaluate_window
from mlflow_monitor.workflows import demo

SAMPLE_ROWS = 300
# Any verdict text of Evidently's (0.7 writes "Dataset Drift is detected", "Drift is detected for
# 66.667% of columns (6 out of 9).", "Detected" / "Not Detected" per column).
EVIDENTLY_VERDICT = re.compile(r"(?i)\bdetected\b|dataset drift|drifted columns|out of \d+\)")


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    """The demo's rows with a score and a decision (a fixed rule: no model to train)."""
    frame = frame.copy()
    frame["churn_score"] = 1 / (1 + np.exp(-0.05 * (frame["monthly_charges"] - 70)))
    frame["prediction"] = (frame["churn_score"] >= 0.5).astype(np.int64)
    return frame


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    body = yaml.safe_load(demo.CHURN_SPEC.format(model="churn"))
    body["sampling"]["report_rows"] = SAMPLE_ROWS
    return parse_spec(body)


@pytest.fixture(scope="module")
def window(tmp_path_factory: pytest.TempPathFactory, spec: MonitorSpec) -> dict[str, object]:
    """The drifted demo window judged, results.json written and read back, reports written."""
    folder = tmp_path_factory.mktemp("truth")
    reference = _scored(demo.make_churn(5000, seed=2))
    [(plan, frame)] = [w for w in demo.demo_windows() if w[0].name == "drifted"]
    current = _scored(frame)
    result = evaluate_window(spec, build_baseline_from_frame(spec, reference), current)
    results = read_results(write_results(result.to_dict(), folder))
    files = write_reports(spec, reference, current, folder / "reports")
    unattached = {p.name: p.read_text() for p in (files.drift, files.performance) if p}
    shutil.copytree(folder / "reports", folder / "from_result")
    attached = attach_verdicts(files, results)
    direct = attach_verdicts(_moved(files, folder / "from_result"), result)
    return {
        "plan": plan,
        "results": results,
        "files": attached,
        "direct": direct,
        "unattached": unattached,
    }


def _moved(files: ReportFiles, folder: Path) -> ReportFiles:
    drift, performance = files.drift, files.performance
    return ReportFiles(
        folder / drift.name if drift else None,
        folder / performance.name if performance else None,
        files.reference_rows,
        files.current_rows,
    )


class _Verdicts(HTMLParser):
    """The tool's verdict rows (``tr`` in ``table.mm-verdicts``) and the share line."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, object]] = []
        self.share: dict[str, str] = {}
        self._section = ""
        self._cells: list[str] | None = None
        self._in_share = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "table" and "mm-verdicts" in found.get("class", ""):
            self._section = found["data-section"]
        elif tag == "tr" and self._section and "data-status" in found:
            self._cells = []
            self.rows.append({"section": self._section, **found, "cells": self._cells})
        elif tag == "td" and self._cells is not None:
            self._cells.append("")
        elif tag == "p" and "mm-share" in found.get("class", ""):
            self.share, self._in_share = {**found, "text": ""}, True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._section, self._cells = "", None
        elif tag == "p":
            self._in_share = False

    def handle_data(self, data: str) -> None:
        if self._cells:
            self._cells[-1] += data
        if self._in_share:
            self.share["text"] += data


def _verdicts(html: str) -> _Verdicts:
    parser = _Verdicts()
    parser.feed(html)
    return parser


def _evidently_data(html: str) -> list[object]:
    """The two JSON values Evidently's page draws from (widgets and detail graphs)."""
    decoder = json.JSONDecoder()
    found = re.finditer(r"var (?:additional_graphs_)?metric_\w+ = ", html)
    return [decoder.raw_decode(html, m.end())[0] for m in found]


def _evidently_text(html: str) -> str:
    """The page as a reader sees it, less the tool's own section (scripts and styles removed)."""
    html = re.sub(r'<section class="mm-report">.*?</section>', "", html, flags=re.S)
    return re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _drift_rows(results: WindowResults) -> dict[str, DriftReport]:
    sections = results.statistics()
    return {
        prefix: DriftReport.from_dict(sections[key])  # type: ignore[arg-type]
        for key, prefix in (("drift", "drift"), ("prediction_drift", "drift/prediction"))
        if sections.get(key)
    }


def test_the_drifted_window_is_the_issues_case(window: dict[str, object]) -> None:
    """Precondition: 3 of 7 features drifted on all rows, as the tool said in the issue."""
    results = window["results"]
    assert isinstance(results, WindowResults) and results.rows == 4000
    drift = _drift_rows(results)["drift"]
    assert (drift.number_drifted, len(drift.evaluated)) == (3, 7)
    assert {c.column for c in drift.columns if c.drifted} == {
        "tenure_months",
        "monthly_charges",
        "contract",
    }


def test_drift_report_shows_results_json_per_column(window: dict[str, object]) -> None:
    results, files = window["results"], window["files"]
    assert isinstance(results, WindowResults) and isinstance(files, ReportFiles)
    assert files.notes == () and files.drift is not None
    parsed = _verdicts(files.drift.read_text())
    outcomes = {o.check_id: o for o in results.outcomes}
    expected = [
        (prefix, c) for prefix, report in _drift_rows(results).items() for c in report.columns
    ]
    assert len(parsed.rows) == len(expected) == 9  # 7 features, prediction and score
    for row, (prefix, c) in zip(parsed.rows, expected, strict=True):
        shown = row["cells"]
        assert isinstance(shown, list)
        assert (row["section"], row["data-column"], row["data-method"]) == (
            prefix,
            c.column,
            c.method,
        )
        assert json.loads(str(row["data-score"])) == c.score
        assert json.loads(str(row["data-threshold"])) == c.threshold
        assert json.loads(str(row["data-drifted"])) is c.drifted
        assert (int(str(row["data-reference-rows"])), int(str(row["data-current-rows"]))) == (
            c.reference_rows,
            c.current_rows,
        )
        assert row["data-status"] == outcomes[f"{prefix}/{c.column}"].status
        assert shown[0] == c.column and shown[1] == c.method
        assert shown[4] == ("yes" if c.drifted else "no")  # what a reader sees
        assert shown[7] == outcomes[f"{prefix}/{c.column}"].status
    share = outcomes["drift/share_drifted"]
    assert parsed.share["data-status"] == share.status == "warn"
    assert share.message in parsed.share["text"] and "3 of 7" in share.message


def test_performance_report_shows_results_json_checks(window: dict[str, object]) -> None:
    results, files = window["results"], window["files"]
    assert isinstance(results, WindowResults) and isinstance(files, ReportFiles)
    assert files.performance is not None
    rows = _verdicts(files.performance.read_text()).rows
    checks = [o for o in results.outcomes if o.kind == "performance"]
    assert [r["data-check"] for r in rows] == [o.check_id for o in checks] != []
    for row, check in zip(rows, checks, strict=True):
        assert json.loads(str(row["data-value"])) == check.value
        assert row["data-status"] == check.status
        assert row["cells"] == [
            check.check_id,
            f"{check.value:.4g}",
            check.threshold.text() if check.threshold else "",
            check.status,
            check.message,
        ]


def test_no_evidently_verdict_is_left_in_any_report(
    window: dict[str, object], spec: MonitorSpec
) -> None:
    files, results = window["files"], window["results"]
    assert isinstance(files, ReportFiles) and isinstance(results, WindowResults)
    for path in (files.drift, files.performance):
        assert path is not None
        html = path.read_text()
        assert EVIDENTLY_VERDICT.findall(_evidently_text(html)) == [], path.name
        data = _evidently_data(html)
        assert len(data) == 2
        said = [s for s in _strings(data) if re.search(r"(?i)detect|drift", s)]
        assert said == [], path.name  # Evidently's own texts never speak of drift
        assert f"seeded sample of {SAMPLE_ROWS}" in html
        assert "the verdicts above are on all rows" in html
    drawn = {
        row["column_name"]
        for widget in _evidently_data(files.drift.read_text())[0]["widgets"][0]["widgets"]  # type: ignore[index]
        for row in widget["params"]["data"]
    }
    judged = {c.column for r in _drift_rows(results).values() for c in r.columns}
    assert drawn == judged  # the charts are of the same columns as the verdicts


def test_a_result_in_memory_and_results_json_give_the_same_verdicts(
    window: dict[str, object],
) -> None:
    files, direct = window["files"], window["direct"]
    assert isinstance(files, ReportFiles) and isinstance(direct, ReportFiles)
    for ours, theirs in ((files.drift, direct.drift), (files.performance, direct.performance)):
        assert ours is not None and theirs is not None
        left, right = _verdicts(ours.read_text()), _verdicts(theirs.read_text())
        assert left.rows == right.rows and left.share == right.share


def test_before_attaching_a_report_points_to_results_json(window: dict[str, object]) -> None:
    unattached = window["unattached"]
    assert isinstance(unattached, dict) and set(unattached) == {
        "data_drift.html",
        "classification.html",
    }
    for html in unattached.values():
        assert _verdicts(html).rows == []
        assert "verdicts, computed on all of its rows, are in results.json" in html
        assert EVIDENTLY_VERDICT.findall(_evidently_text(html)) == []
        assert [s for s in _strings(_evidently_data(html)) if EVIDENTLY_VERDICT.search(s)] == []
