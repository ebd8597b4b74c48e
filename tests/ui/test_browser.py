"""The dashboard as a person sees it: headless Chromium over the demo store's ``mlflow-monitor ui``.

The demo's version (churn-classifier v1) ends critical because ROC AUC fell below the band its
baseline allows. In a real browser: the fleet page shows that version critical; its page draws
the ROC AUC trend with the value below the band's lower bound at the last window and a crossing
mark (read from Plotly's own data, so what is asserted is what is drawn); the executed notebook
is one click away; and no page logs a console error or asks any host but 127.0.0.1 for anything
(Plotly is served by the app). The expected numbers come from the store through
``workflows.version_trends``, the reader the app draws from.
"""

from __future__ import annotations

import math
import time
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

import pytest
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.verdicts.trends import TrendPoint
from mlflow_monitor.workflows.version_trends import version_trends
from tests.ui.conftest import DEMO_MODEL, DEMO_VERSION, App, DemoStore

pytestmark = pytest.mark.integration

FAILING_METRIC = "perf/roc_auc"
PLOTLY = "/monitor/static/plotly.min.js"
VERSION_PAGE = f"/monitor/models/{DEMO_MODEL}/versions/{DEMO_VERSION}"
PAGES = {
    "fleet": "/monitor/",
    "version": VERSION_PAGE,
    "model": f"/monitor/models/{DEMO_MODEL}",
    "alerts": "/monitor/alerts",
    "gates": "/monitor/gates",
}
_WAIT = 60.0
_SETTLE = 0.5
# a chart as plain JSON, once Plotly has drawn it: every trace (x as text: Plotly may hold dates;
# y as numbers or null) and every rectangle of the layout (a band may be drawn as a shape)
_CHART = """
const trend = `.trend[data-metric="${arguments[0]}"]`;
const plot = document.querySelector(`${trend}.js-plotly-plot, ${trend} .js-plotly-plot`);
if (!plot || !plot.data) { return null; }
const text = v => (v === undefined || v === null) ? null : String(v);
const number = v => (typeof v === 'number' && isFinite(v)) ? v : null;
return {
  traces: plot.data.map(t => ({
    name: text(t.name), mode: text(t.mode), x: Array.from(t.x || [], text),
    y: Array.from(t.y || [], number),
  })),
  rects: ((plot.layout && plot.layout.shapes) || []).filter(s => s.type === 'rect').map(s => ({
    x0: text(s.x0), x1: text(s.x1), y0: number(s.y0), y1: number(s.y1),
  })),
};
"""
_RESOURCES = (
    "return performance.getEntriesByType('navigation').concat("
    "performance.getEntriesByType('resource')).map(e => e.name);"
)


@pytest.fixture(scope="module")
def expected(demo_store: DemoStore) -> TrendPoint:
    """The failing metric's last window as the store records it (the app's own reader)."""
    trends = version_trends(DEMO_MODEL, version=DEMO_VERSION, tracking_uri=demo_store.tracking_uri)
    series = trends.series_for(FAILING_METRIC)
    assert series is not None and series.points[-1].crossed, "the demo no longer fails ROC AUC"
    return series.points[-1]


@pytest.fixture
def fresh_console(browser: WebDriver) -> Iterator[WebDriver]:
    """The browser with its console log read empty before the test (``get_log`` drains it)."""
    browser.get_log("browser")
    yield browser


def _open(browser: WebDriver, url: str) -> None:
    browser.get(url)
    WebDriverWait(browser, _WAIT).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    time.sleep(_SETTLE)  # what a page asks for after its load event (the favicon) is logged


def _severe(browser: WebDriver) -> list[str]:
    return [str(e["message"]) for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def _foreign_hosts(browser: WebDriver) -> set[str]:
    names: list[str] = browser.execute_script(_RESOURCES)
    hosts = {urlparse(n).hostname or "" for n in names if urlparse(n).scheme in ("http", "https")}
    return hosts - {"127.0.0.1"}


def _chart(browser: WebDriver, metric: str) -> dict[str, list[dict[str, Any]]]:
    """The Plotly traces and rectangles of one metric's chart, once Plotly has drawn it."""
    wait = WebDriverWait(browser, _WAIT)
    chart: dict[str, list[dict[str, Any]]] = wait.until(lambda d: d.execute_script(_CHART, metric))
    return chart


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def _at(trace: dict[str, Any], x: str) -> list[float]:
    """The trace's y values at ``x``."""
    return [y for tx, y in zip(trace["x"], trace["y"], strict=False) if tx == x and y is not None]


def _spans(rect: dict[str, Any], x: str) -> bool:
    """The rectangle covers ``x`` (Plotly date text, which sorts as it reads)."""
    return rect["x0"] is not None and rect["x1"] is not None and rect["x0"] <= x <= rect["x1"]


def _value_trace(traces: Sequence[dict[str, Any]], value: float) -> dict[str, Any]:
    """The metric's line: the trace whose last point is the last window's value."""
    lines = [t for t in traces if t["y"] and _close(t["y"][-1], value)]
    lines.sort(key=lambda t: -len(t["y"]))  # the line before a one-point mark on the same spot
    assert lines, f"no trace ends at the last window's value {value}: {traces}"
    return lines[0]


# -- every page, first: Chromium asks for /favicon.ico once per session -----------------------


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_loads_clean_and_local(app: App, fresh_console: WebDriver, page: str) -> None:
    url = app.url(PAGES[page])
    with urllib.request.urlopen(url, timeout=120) as response:
        assert response.status == 200
    _open(fresh_console, url)
    if page == "version":
        _chart(fresh_console, FAILING_METRIC)  # drawn before the console is read
        names: list[str] = fresh_console.execute_script(_RESOURCES)
        assert any(urlparse(n).path == PLOTLY for n in names), "Plotly is not the app's copy"
    errors = _severe(fresh_console)
    assert errors == [], f"console errors on the {page} page: {errors}"
    foreign = _foreign_hosts(fresh_console)
    assert foreign == set(), f"the {page} page asked hosts other than 127.0.0.1: {foreign}"


# -- the fleet --------------------------------------------------------------------------------


def test_fleet_page_shows_the_demo_version_critical(app: App, browser: WebDriver) -> None:
    _open(browser, app.url("/"))
    assert urlparse(browser.current_url).path == "/monitor/", "/ must redirect to /monitor/"
    browser.find_element(By.CSS_SELECTOR, "table#fleet")
    row = browser.find_element(
        By.CSS_SELECTOR,
        f'tr.fleet-row[data-model="{DEMO_MODEL}"][data-version="{DEMO_VERSION}"]',
    )
    assert row.get_attribute("data-health") == "critical"
    assert "critical" in row.text.lower(), f"the row does not say critical: {row.text!r}"
    links = [a.get_attribute("href") or "" for a in row.find_elements(By.CSS_SELECTOR, "a[href]")]
    assert app.url(VERSION_PAGE) in links, f"no link to the version page in the row: {links}"


# -- the version page ---------------------------------------------------------------------------


def test_failing_trend_shows_the_threshold_crossing(
    app: App, browser: WebDriver, expected: TrendPoint
) -> None:
    _open(browser, app.url("/monitor/"))
    row = browser.find_element(By.CSS_SELECTOR, f'tr.fleet-row[data-model="{DEMO_MODEL}"]')
    row.find_element(By.CSS_SELECTOR, f'a[href$="{VERSION_PAGE}"]').click()
    WebDriverWait(browser, _WAIT).until(lambda d: urlparse(d.current_url).path == VERSION_PAGE)
    trend = browser.find_element(By.CSS_SELECTOR, f'.trend[data-metric="{FAILING_METRIC}"]')
    assert int(trend.get_attribute("data-crossings") or "0") >= 1
    chart = _chart(browser, FAILING_METRIC)
    assert expected.value is not None and expected.lower is not None
    line = _value_trace(chart["traces"], expected.value)
    last_x, drawn_value = line["x"][-1], line["y"][-1]
    others = [t for t in chart["traces"] if t is not line]
    bounds = [y for t in others for y in _at(t, last_x) if _close(y, expected.lower)]
    bounds += [
        r["y0"] for r in chart["rects"] if _spans(r, last_x) and _close(r["y0"], expected.lower)
    ]
    assert bounds, f"no lower bound {expected.lower} drawn at {last_x}: {chart}"
    assert drawn_value < bounds[0], "the drawn value is not below the drawn lower bound"
    marks = [
        t
        for t in others
        if "markers" in (t["mode"] or "") and any(_close(y, drawn_value) for y in _at(t, last_x))
    ]
    assert marks, f"no crossing mark at the last window ({last_x}, {drawn_value}): {others}"


def test_version_page_links_to_the_executed_notebook(
    app: App, browser: WebDriver, demo_store: DemoStore
) -> None:
    verdict_run = MonitorRuns(demo_store.tracking_uri).version(DEMO_MODEL, DEMO_VERSION).last_run_id
    _open(browser, app.url(VERSION_PAGE))
    links = browser.find_elements(By.CSS_SELECTOR, "a.notebook-link")
    hrefs = [a.get_attribute("href") or "" for a in links]
    monitor = [a for a, h in zip(links, hrefs, strict=True) if h.endswith("/monitor.ipynb")]
    assert monitor, f"no link to the executed monitor.ipynb: {hrefs}"
    href = monitor[0].get_attribute("href") or ""
    assert urlparse(href).hostname == "127.0.0.1", f"the notebook is not served by the app: {href}"
    assert f"/{verdict_run}/" in href, f"not the verdict window's notebook ({verdict_run}): {href}"
    before = set(browser.window_handles)
    monitor[0].click()
    opened = set(browser.window_handles) - before
    if opened:  # target="_blank": the notebook opens beside the dashboard
        browser.switch_to.window(opened.pop())
    try:
        WebDriverWait(browser, _WAIT).until(lambda d: "Monitoring window" in d.page_source)
        assert urlparse(browser.current_url).path == urlparse(href).path
    finally:
        if opened:
            browser.close()
            browser.switch_to.window(next(iter(before)))
