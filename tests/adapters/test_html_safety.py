"""Hostile names render as text in every HTML the tool writes: Evidently reports, card, compliance.

A column named ``x'"<script>alert(1)</script>`` and a category ``<img src=x onerror=alert(1)>``
once ended Evidently's data ``<script>`` and became live markup. Each page is checked as an
HTML parser reads it (no ``img`` element, only the template's scripts, the raw markup nowhere)
and, where headless Chromium is installed (``apt-get install chromium``), as a browser runs it:
``alert`` is replaced by a recorder before anything else runs, and the DOM is read afterwards.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlflow_monitor.adapters import evidently_reports
from mlflow_monitor.adapters.evidently_reports import write_reports
from mlflow_monitor.adapters.mlflow.card_store import CardFacts, RunFacts, VersionFacts
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.verdicts.baseline_model import build_baseline_from_frame
from mlflow_monitor.verdicts.evaluation import evaluate_window
from mlflow_monitor.verdicts.fairness_checks import evaluate_fairness, reference_fairness
from mlflow_monitor.workflows import demo
from mlflow_monitor.workflows.compliance_audit import build_compliance
from mlflow_monitor.workflows.model_cards import HumanCard, build_context, render_card
from tests.fixtures.lending import FAIR, GroupRates, lending_frame, lending_spec

COLUMN = "x'\"<script>alert(1)</script>"
VALUE = "<img src=x onerror=alert(1)>"
LIVE = ("<script>alert(1)</script>", "<img src=x onerror=")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_RECORD_ALERTS = (
    "<script>window.alert=function(m){var d=document.createElement('div');"
    "d.id='alert-fired';d.textContent=String(m);document.documentElement.appendChild(d);};"
    "</script>"
)


class _Tags(HTMLParser):
    """Elements as an HTML parser builds them: tag names with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _assert_inert(html: str, *, scripts: int = 0) -> None:
    """No raw markup, no injected element, no script but the page's own ``scripts``."""
    for raw in LIVE:
        assert raw not in html
    tags = _tags(html)
    assert not [t for t, attrs in tags if t == "img" or any(a.startswith("on") for a in attrs)]
    assert sum(1 for t, _ in tags if t == "script") == scripts


# -- Evidently reports --------------------------------------------------------------------------


def _hostile(rows: int, seed: int, drift: float = 0.0) -> pd.DataFrame:
    frame = demo.make_churn(rows, seed=seed, drift=drift)
    frame["churn_score"] = 1 / (1 + np.exp(-0.05 * (frame["monthly_charges"] - 70)))
    frame["prediction"] = (frame["churn_score"] >= 0.5).astype(np.int64)
    frame[COLUMN] = frame["monthly_charges"] * 2
    frame.loc[frame.index[: rows // 10], "region"] = VALUE
    return frame


@pytest.fixture(scope="module")
def hostile_spec() -> MonitorSpec:
    body = yaml.safe_load(demo.CHURN_SPEC.format(model="churn"))
    body["sampling"]["report_rows"] = 300
    body["columns"]["numerical"] = ["tenure_months", COLUMN]
    body["columns"]["categorical"] = ["region"]
    body["columns"]["segments"] = ["region"]
    return parse_spec(body)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, hostile_spec: MonitorSpec) -> dict[str, Path]:
    reference, current = _hostile(1000, 1), _hostile(1000, 2, drift=0.7)
    result = evaluate_window(
        hostile_spec, build_baseline_from_frame(hostile_spec, reference), current
    )
    folder = tmp_path_factory.mktemp("hostile")
    files = write_reports(hostile_spec, reference, current, folder, results=result)
    assert files.notes == () and files.drift and files.performance
    return {"drift": files.drift, "performance": files.performance}


_EVIDENTLY_SCRIPTS = 4  # data, ``var global``, the library, ``drawDashboard``


@pytest.mark.parametrize("report", ["drift", "performance"])
def test_evidently_report_holds_hostile_names_as_text(
    reports: dict[str, Path], report: str
) -> None:
    html = reports[report].read_text()
    _assert_inert(html, scripts=_EVIDENTLY_SCRIPTS)
    if report == "drift":  # the names are shown, escaped: in the tool's table and in the data
        assert "x&#x27;&quot;&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in html
        widgets, graphs = _data(html)
        assert COLUMN in _strings(widgets)  # shown as it is, not aliased
        assert VALUE in _strings(graphs)


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _data(html: str) -> list[object]:
    decoder = json.JSONDecoder()
    found = re.finditer(r"var (?:additional_graphs_)?metric_\w+ = ", html)
    return [decoder.raw_decode(html, m.end())[0] for m in found]


def _browse(page: Path, profile: Path) -> str:
    """The DOM after the page's scripts ran, with every ``alert`` recorded as an element."""
    probe = page.with_name(f"probe-{page.name}")
    probe.write_text(page.read_text().replace("<head>", "<head>" + _RECORD_ALERTS, 1))
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout, done.stderr[-2000:]
    return done.stdout


def _all_graphs_page(report: Path, folder: Path) -> Path:
    """Every detail chart of ``report`` on one page, drawn at once (they open on a click)."""
    graphs = _data(report.read_text())[1]
    assert isinstance(graphs, dict) and graphs
    board = evidently_reports._Board(list(graphs.values()), {})
    page = folder / f"graphs-{report.name}"
    page.write_text(evidently_reports._page(board, "<p>all graphs</p>"))
    return page


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed")
def test_no_hostile_name_runs_in_a_browser(reports: dict[str, Path], tmp_path: Path) -> None:
    pages = [reports["drift"], reports["performance"], _all_graphs_page(reports["drift"], tmp_path)]
    doms = [_browse(page, tmp_path / "profile") for page in pages]
    for page, dom in zip(pages, doms, strict=True):
        assert 'id="alert-fired"' not in dom, page.name
        assert not re.search(r"<img[^>]*onerror", dom), page.name
        assert "<svg" in dom[dom.index('id="root_') :], page.name  # the dashboard was drawn
    assert "x'\"&lt;script&gt;alert(1)&lt;/script&gt;" in doms[0]  # Evidently's table: text
    assert 'data-unformatted="&lt;img src=x onerror=alert(1)&gt;"' in doms[2]  # an axis label


# -- the model card and the compliance report ----------------------------------------------------


def _run(run_id: str, metrics: dict[str, float], **tags: str) -> RunFacts:
    return RunFacts(run_id, run_id, "FINISHED", 1_700_000_000_000, {COLUMN: VALUE}, metrics, tags)


def test_model_card_holds_hostile_names_as_text() -> None:
    spec = parse_spec(
        {
            "model": "lending",
            "task": "binary_classification",
            "positive_label": 1,
            "columns": {
                "target": "y",
                "prediction": "p",
                "numerical": [COLUMN],
                "categorical": ["region"],
                "protected": ["sex"],
                "segments": ["region"],
            },
        }
    )
    results = {
        "metrics": {f"fairness/sex={VALUE}/fnr": 0.4, f"segment/region={VALUE}/roc_auc": 0.7},
        "outcomes": [
            {
                "check_id": f"drift/{COLUMN}",
                "status": "warn",
                "severity": "warning",
                "message": f"{COLUMN}: drifted; e.g. {VALUE}",
            }
        ],
    }
    baseline = {
        "rows": 10,
        "fairness": {
            "attributes": [
                {"attribute": "sex", "groups": [{"group": VALUE, "size": 10, "rates": {}}]}
            ]
        },
    }
    facts = CardFacts(
        version=VersionFacts(
            "lending", "4", VALUE, 1_700_000_000_000, "models:/m-1", "train", (VALUE,), {}
        ),
        signature=None,
        source_run=_run("train", {COLUMN: 0.8}),
        baseline_run=_run("base", {}),
        baseline_json=baseline,
        windows=(_run("w1", {"perf/roc_auc": 0.7}, **{"monitor.health": "warning"}),),
        last_results=results,
    )
    human = HumanCard(overview=COLUMN, limitations=(VALUE,))
    now = pd.Timestamp("2025-03-01", tz="UTC").to_pydatetime()
    html = render_card(build_context(facts, human, spec, now=now)).html
    _assert_inert(html)
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 3  # description, alias, limits
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_compliance_report_holds_hostile_names_as_text() -> None:
    groups = {VALUE: FAIR["female"], "male": GroupRates(0.55, 0.6, 0.15, 0.10)}
    spec = lending_spec(policies=["four_fifths_rule"], reference_groups={"sex": "male"})
    reference = reference_fairness(spec, lending_frame(2_000, groups=groups, seed=41))
    evaluation = evaluate_fairness(spec, reference, lending_frame(2_000, groups=groups, seed=42))
    report = build_compliance(
        evaluation, model=COLUMN, model_version=VALUE, window_start="", window_end=""
    )
    html = report.render_html()
    _assert_inert(html)
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") > 3  # tables, chart, title
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_page_template_is_escaped_where_the_data_goes() -> None:
    """``_page`` on data that would end a script: it stays a value inside its JSON."""
    widget = {"type": "counter", "title": COLUMN + VALUE}
    html = evidently_reports._page(evidently_reports._Board([widget], {}), "")
    _assert_inert(html, scripts=_EVIDENTLY_SCRIPTS)
    [info, graphs] = _data(html)
    assert info["widgets"][0]["widgets"] == [widget] and graphs == {}  # type: ignore[index]


# -- the inline views (Jupyter's _repr_html_) ----------------------------------------------------


def test_inline_views_hold_hostile_names_as_text(hostile_spec: MonitorSpec, tmp_path: Path) -> None:
    reference, current = _hostile(1000, 1), _hostile(1000, 2, drift=0.7)
    baseline = build_baseline_from_frame(hostile_spec, reference)
    result = evaluate_window(hostile_spec, baseline, current)
    views = {"window": result._repr_html_(), "baseline": baseline._repr_html_()}
    for html in views.values():
        _assert_inert(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in views["window"]  # shown, as text
    assert "<svg" in views["window"]  # the drift chart
    if CHROMIUM is None:
        return
    page = tmp_path / "inline.html"
    page.write_text("<html><head></head><body>" + "".join(views.values()) + "</body></html>")
    dom = _browse(page, tmp_path / "profile")
    assert 'id="alert-fired"' not in dom
    assert not re.search(r"<img[^>]*onerror", dom)
