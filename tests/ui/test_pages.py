"""The dashboard's pages through Flask's test client, over the demo story's real store.

The demo (``demo_store``, built once for the module by ``tests/ui/conftest.py``) ends with
churn-classifier v1 critical after a healthy and a warning window: the fleet must say so with
its top finding, the version page must draw ``perf/roc_auc`` with its crossing among the checks
failing in the latest window and link the executed notebooks, and the run's files must come back
sandboxed, a notebook rendered without any outside script. Every response says how long the app
took (``Server-Timing``). The pages' formats (UTC times, ages, short check lists, alert rows) are
checked on the formatting helpers and on the alerts template rendered with given rows.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from flask import render_template
from flask.testing import FlaskClient
from mlflow.tracking import MlflowClient
from selenium.webdriver import Chrome
from selenium.webdriver.support.ui import WebDriverWait

from mlflow_monitor.adapters.notebook_html import notebook_html, without_outside_scripts
from mlflow_monitor.cli import main
from mlflow_monitor.ui import create_app
from mlflow_monitor.ui.formatting import age_text, is_stale, short_list, utc_text
from mlflow_monitor.ui.pages import _failing_label, _latest_by_version
from mlflow_monitor.verdicts.trends import VersionTrends, WindowMark
from mlflow_monitor.workflows.fleet_view import AlertRow
from mlflow_monitor.workflows.version_trends import version_trends
from tests.ui.conftest import DEMO_MODEL, DEMO_VERSION, App, DemoStore

VERSION_URL = f"/monitor/models/{DEMO_MODEL}/versions/{DEMO_VERSION}"


@pytest.fixture(scope="module")
def client(demo_store: DemoStore) -> Iterator[FlaskClient]:
    app = create_app(tracking_uri=demo_store.tracking_uri)
    app.testing = True
    with app.test_client() as test_client:
        yield test_client


def _page(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[-2000:]
    return response.get_data(as_text=True)


def test_root_redirects_to_the_fleet(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/monitor/")


def test_fleet_lists_the_critical_version_with_its_top_finding(client: FlaskClient) -> None:
    html = _page(client, "/monitor/")
    rows = re.findall(r'<tr class="fleet-row"[^>]*>.*?</tr>', html, re.S)
    assert len(rows) == 1
    row = rows[0]
    assert f'data-model="{DEMO_MODEL}"' in row and f'data-version="{DEMO_VERSION}"' in row
    assert 'data-health="critical"' in row
    assert f'href="{VERSION_URL}"' in row
    assert "performance/" in row  # the verdict's worst finding (a performance drop)
    assert re.search(r'<span class="age[^"]*"[^>]*>\d+ days? ago</span>', row)  # verdict's age
    summary = re.findall(r'class="count health-(\w+)"[^>]*>(\d+) (\w+)</span>', html)
    assert summary == [("critical", "1", "critical")]  # "1 critical": the fleet in one line
    assert '<table id="fleet"' in html
    assert "fleet.js" in html


def _metrics(html: str) -> list[str]:
    return re.findall(r'<div class="trend"[^>]*data-metric="([^"]+)"', html)


def test_version_page_draws_roc_auc_with_its_crossing(
    client: FlaskClient, demo_store: DemoStore
) -> None:
    html = _page(client, VERSION_URL)
    charts = re.findall(r'<div class="trend"[^>]*data-metric="perf/roc_auc"[^>]*>', html)
    assert len(charts) == 1
    assert 'data-crossings="1"' in charts[0]
    # failing in the latest window (worst status first), then fired earlier only, both open
    trends = version_trends(DEMO_MODEL, version=DEMO_VERSION, tracking_uri=demo_store.tracking_uri)
    now = [s.metric for s in trends.firing_now]
    before = [s.metric for s in trends.fired_before]
    assert "perf/roc_auc" in now and before, "the demo no longer fires before and now"
    assert set(now).isdisjoint(before)
    failing = html.split('id="failing"', 1)[1].split('id="fired-before"', 1)[0]
    earlier = html.split('id="fired-before"', 1)[1].split("<details", 1)[0]
    assert _metrics(failing) == now
    assert _metrics(earlier) == before
    statuses = [s.points[-1].status for s in trends.firing_now]
    kinds = [k for k in ("error", "fail", "warn") if k in statuses]
    split = ", ".join(f"{statuses.count(k)} {k}" for k in kinds)
    assert f"Failing in the latest window ({split})" in html  # "(2 fail, 20 warn)", not "(22)"
    assert statuses.count("fail") + statuses.count("warn") + statuses.count("error") == len(now)
    assert f"Fired in earlier windows ({len(before)})" in html
    assert sorted(_metrics(html)) == sorted(s.metric for s in trends.series)  # each drawn once
    strip = re.findall(r'<li class="window health-(\w+)"', html)
    assert strip == ["healthy", "warning", "critical"]
    assert "/monitor/static/plotly.min.js" in html
    assert 'id="trend-data"' in html


def test_version_page_links_the_executed_notebooks_and_reports(client: FlaskClient) -> None:
    html = _page(client, VERSION_URL)
    notebooks = re.findall(r'<a class="notebook-link" href="([^"]+)"', html)
    assert any(link.endswith("notebooks/monitor.ipynb") for link in notebooks)
    rendered = client.get(next(n for n in notebooks if n.endswith("monitor.ipynb")))
    assert rendered.status_code == 200
    assert rendered.headers["Content-Type"].startswith("text/html")
    assert rendered.headers["Content-Security-Policy"].startswith("sandbox")
    notebook = rendered.get_data(as_text=True)
    assert "Monitoring window" in notebook
    assert "cdnjs" not in notebook and "require.min.js" not in notebook  # nbconvert's CDN scripts
    assert re.findall(r"<script[^>]*\bsrc=", notebook) == []  # no script fetched from anywhere
    reports = re.findall(r'<a class="report-link" href="([^"]+)"', html)
    assert any(r.endswith("reports/data_drift.html") for r in reports)
    report = client.get(reports[0])
    assert report.status_code == 200
    assert "sandbox" in report.headers["Content-Security-Policy"]


def test_model_page_shows_every_version_on_one_axis(client: FlaskClient) -> None:
    html = _page(client, f"/monitor/models/{DEMO_MODEL}")
    assert re.findall(r'<tr class="version-row" data-version="(\d+)"', html) == [DEMO_VERSION]
    assert 'data-metric="perf/roc_auc"' in html


def test_alerts_and_gates_pages_render(client: FlaskClient) -> None:
    alerts = _page(client, "/monitor/alerts")
    rows = re.findall(r'<tr class="alert-row" data-model="([^"]+)"', alerts)
    assert rows == [DEMO_MODEL] * 3  # one per window (the demo spec names no channel)
    assert "alerts.channels is empty" in alerts
    assert "alert-row quiet" not in alerts and "show-quiet" not in alerts  # nothing hidden
    gates = _page(client, "/monitor/gates")
    assert "<h1>Gates</h1>" in gates
    assert "No gate decisions recorded yet." in gates


def test_fleet_api(client: FlaskClient) -> None:
    body = client.get("/monitor/api/fleet").get_json()
    [row] = body["rows"]
    assert (row["model"], row["version"], row["health"]) == (DEMO_MODEL, DEMO_VERSION, "critical")
    assert row["top_finding"].startswith("performance/")
    assert row["url"].endswith(VERSION_URL)


def test_trends_api(client: FlaskClient) -> None:
    response = client.get(f"/monitor/api/models/{DEMO_MODEL}/trends?version={DEMO_VERSION}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["versions"] == [DEMO_VERSION]
    [auc] = [s for s in body["series"] if s["metric"] == "perf/roc_auc"]
    assert auc["crossings"] == 1
    assert [p["crossed"] for p in auc["points"]] == [False, False, True]
    assert auc["points"][-1]["lower"] is not None  # the band applied that window


def test_unknown_model_is_a_404_that_names_what_is_known(client: FlaskClient) -> None:
    html = _page(client, "/monitor/models/no-such-model", status=404)
    assert "no monitored model named &#39;no-such-model&#39;" in html
    assert f"monitored models: {DEMO_MODEL}" in html
    api = client.get("/monitor/api/models/no-such-model/trends")
    assert api.status_code == 404
    assert "no-such-model" in api.get_json()["error"]
    version = _page(client, f"/monitor/models/{DEMO_MODEL}/versions/99", status=404)
    assert "has no monitored version &#39;99&#39;" in version


def test_run_files_are_served_only_for_monitoring_runs(client: FlaskClient) -> None:
    html = _page(client, VERSION_URL)
    run_id = re.findall(r"/monitor/runs/(\w+)/artifacts/", html)[0]
    results = client.get(f"/monitor/runs/{run_id}/artifacts/results.json")
    assert results.status_code == 200
    assert results.headers["Content-Type"].startswith("text/plain")
    assert '"health": "critical"' in results.get_data(as_text=True)
    assert client.get(f"/monitor/runs/{run_id}/artifacts/../../etc/passwd").status_code == 404
    assert client.get(f"/monitor/runs/{run_id}/artifacts/absent.json").status_code == 404
    assert client.get("/monitor/runs/0123456789abcdef/artifacts/results.json").status_code == 404


def test_plotly_is_served_by_the_app_with_a_long_cache(client: FlaskClient) -> None:
    response = client.get("/monitor/static/plotly.min.js")
    assert response.status_code == 200
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert b"plotly" in response.data[:2000].lower()
    for asset in ("fleet.js", "trends.js", "monitor.css"):
        assert client.get(f"/monitor/static/{asset}").status_code == 200


def test_a_refused_promotion_shows_on_the_gates_page_and_as_an_event(
    client: FlaskClient, demo_store: DemoStore
) -> None:
    """Last in the module: it adds an audit record to the module's store."""
    command = ["promote", "--model", DEMO_MODEL, "--version", DEMO_VERSION, "--alias", "prod"]
    result = CliRunner().invoke(main, [*command, "--tracking-uri", demo_store.tracking_uri])
    assert result.exit_code == 1  # the critical version is refused
    gates = _page(client, "/monitor/gates")
    rows = re.findall(r'<tr class="gate-row"[^>]*>.*?</tr>', gates, re.S)
    assert len(rows) == 1
    assert 'data-decision="refused"' in rows[0] and "@prod" in rows[0]
    when = re.findall(r"<time [^>]*>([^<]+)</time>", rows[0])
    assert len(when) == 1 and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", when[0]), when
    html = _page(client, VERSION_URL)
    # a refused promotion is no alias move: its own kind and mark
    assert re.findall(r'<tr class="event-row" data-kind="([^"]+)"', html) == ["gate refused"]
    assert "<td>gate refused</td>" in html


def test_every_monitor_response_says_how_long_the_app_took(client: FlaskClient) -> None:
    for url in (
        "/monitor/",
        VERSION_URL,
        "/monitor/alerts",
        "/monitor/static/monitor.css",
        "/monitor/api/fleet",
        "/monitor/models/no-such-model",  # an error page too
    ):
        timing = client.get(url).headers.get("Server-Timing", "")
        assert re.fullmatch(r"app;dur=\d+\.\d", timing), (url, timing)


def test_times_ages_and_check_lists_read_the_same_everywhere() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    assert utc_text("2026-11-09T00:00:00Z") == "2026-11-09 00:00"
    assert utc_text("2026-11-09T01:30:00+01:00") == "2026-11-09 00:30"  # to UTC
    assert utc_text("2026-11-28T12:54:25.123456", seconds=True) == "2026-11-28 12:54:25"
    assert utc_text("not a time") == "not a time" and utc_text(None) == ""
    assert age_text("2026-11-09T00:00:00Z", now=now) == "19 days ago"
    assert age_text("2026-11-28T09:00:00Z", now=now) == "3 hours ago"
    assert age_text("2026-11-28T11:59:00Z", now=now) == "1 minute ago"
    assert age_text(None, now=now) == ""
    assert is_stale("2026-11-09T00:00:00Z", now=now)
    assert not is_stale("2026-11-23T00:00:00Z", now=now)
    listed = short_list(["a", "b", "c", "d", "e"])
    assert (listed.shown, listed.more, listed.full) == (("a", "b", "c"), 2, "a, b, c, d, e")
    assert short_list(["a"]).more == 0


def _alert(status: str, checks: tuple[str, ...], url: str | None) -> AlertRow:
    return AlertRow(
        model=DEMO_MODEL,
        version="1",
        window_start="2026-11-02T00:00:00Z",
        window_end="2026-11-09T00:00:00Z",
        run_id="0123456789abcdef",
        outcome=status,
        channel="on-call",
        url=url,
        severity="critical" if checks else None,
        status=status,
        reason="",
        checks=checks,
    )


def test_alerts_page_shortens_check_lists_and_hides_quiet_windows(demo_store: DemoStore) -> None:
    checks = tuple(f"segment/region=r{i}/roc_auc" for i in range(7))
    rows = [_alert("sent", checks, "json://hooks.example.com"), _alert("nothing_to_send", (), None)]
    app = create_app(tracking_uri=demo_store.tracking_uri)
    with app.test_request_context("/monitor/alerts"):
        html = render_template("monitor/alerts.html", rows=rows, quiet_count=1)
    sent_row = r'<tr class="alert-row" data-model="[^"]+" data-status="sent".*?</tr>'
    [sent] = re.findall(sent_row, html, re.S)
    cell = re.findall(r'<td class="checks" title="([^"]+)">(.*?)</td>', sent, re.S)
    assert cell and cell[0][0] == ", ".join(checks)  # the whole list on hover
    assert "r2/roc_auc" in cell[0][1] and "r3/roc_auc" not in cell[0][1]
    assert "and 4 more" in cell[0][1]
    assert "json://hooks.example.com" in sent
    quiet = re.findall(r'<tr class="alert-row quiet"[^>]*data-status="nothing_to_send"', html)
    assert len(quiet) == 1  # hidden by the stylesheet until the box is ticked
    assert '<input type="checkbox" id="show-quiet"' in html
    assert "Show the 1 row with nothing to send" in html


def test_notebook_html_asks_no_outside_host(demo_store: DemoStore) -> None:
    executed = next(demo_store.folder.rglob("notebooks/monitor.ipynb"))
    html = notebook_html(executed)
    assert "Monitoring window" in html
    assert "cdnjs" not in html and "<script src" not in html
    stock = (
        '<head><script src="https://cdnjs.cloudflare.com/require.min.js"></script>\n'
        '<script type="module">const m = await import("https://x/mermaid.esm.min.mjs");</script>'
        "<script>var own = 1;</script></head>"
    )
    assert without_outside_scripts(stock) == "<head>\n<script>var own = 1;</script></head>"


# -- what a new user's trial found: a second store, a copy of the demo's with more in it -------
HOSTILE = """o'neil "quoted" churn model for the north-east region"""  # MLflow filters fail


@pytest.fixture(scope="module")
def trial(demo_store: DemoStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """The demo's store copied, v1's verdict tagged partial and its last attempt failed, a v2
    with no baseline, and a model whose name no MLflow filter can express."""
    folder = tmp_path_factory.mktemp("ui-trial")
    shutil.copyfile(demo_store.folder / "mlflow.db", folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow = MlflowClient(tracking_uri=uri, registry_uri=uri)
    last_run = mlflow.get_model_version(DEMO_MODEL, DEMO_VERSION).tags["monitor.last_run_id"]
    for key, value in {
        "monitor.partial": "true",
        "monitor.last_error": "window file missing",
        "monitor.last_error_run_id": last_run,
    }.items():
        mlflow.set_model_version_tag(DEMO_MODEL, DEMO_VERSION, key, value)
    source = (folder / "unused-model").as_uri()
    mlflow.create_model_version(DEMO_MODEL, source=source)  # v2: no baseline
    mlflow.create_registered_model(HOSTILE)
    mlflow.create_model_version(HOSTILE, source=source)
    mlflow.set_model_version_tag(HOSTILE, "1", "monitor.health", "healthy")
    app = create_app(tracking_uri=uri)
    app.testing = True
    yield app.test_client()  # no request context kept between requests


def _rows(html: str) -> dict[tuple[str, str], str]:
    rows = re.findall(r'<tr class="fleet-row"[^>]*>.*?</tr>', html, re.S)
    found = {}
    for row in rows:
        model = re.search(r'data-model="([^"]*)"', row)
        version = re.search(r'data-version="([^"]*)"', row)
        assert model and version
        found[(model.group(1), version.group(1))] = row
    return found


def test_a_partial_verdict_shows_partial_on_the_fleet_and_the_version(trial: FlaskClient) -> None:
    rows = _rows(_page(trial, "/monitor/"))
    v1 = rows[(DEMO_MODEL, DEMO_VERSION)]
    assert 'data-partial="true"' in v1 and 'data-health="critical"' in v1
    assert re.search(r'<span class="badge partial"[^>]*>partial</span>', v1)  # filterable text
    hostile = next(row for (model, _), row in rows.items() if model != DEMO_MODEL)
    assert 'data-partial="false"' in hostile and ">partial<" not in hostile
    listed = trial.get("/monitor/api/fleet").get_json()["rows"]
    api = {(r["model"], r["version"]): r for r in listed}
    assert api[(DEMO_MODEL, DEMO_VERSION)]["partial"] is True
    assert api[(DEMO_MODEL, "2")]["partial"] is False
    page = _page(trial, VERSION_URL)
    [header] = re.findall(r'<tr class="version-row"[^>]*>.*?</tr>', page, re.S)
    assert 'data-partial="true"' in header and ">partial</span>" in header


def test_a_version_with_no_baseline_is_listed_and_says_how_to_attach_one(
    trial: FlaskClient,
) -> None:
    rows = _rows(_page(trial, "/monitor/"))
    assert 'data-health="no baseline"' in rows[(DEMO_MODEL, "2")]
    assert ">no baseline</span>" in rows[(DEMO_MODEL, "2")]
    model = _page(trial, f"/monitor/models/{DEMO_MODEL}")
    versions = re.findall(r'<tr class="version-row" data-version="(\d+)"', model)
    assert sorted(versions) == ["1", "2"]
    page = _page(trial, f"/monitor/models/{DEMO_MODEL}/versions/2")
    assert 'id="no-baseline"' in page and "no baseline yet" in page
    assert "mlflow-monitor baseline" in page and "--version 2" in page
    missing = _page(trial, f"/monitor/models/{DEMO_MODEL}/versions/10", status=404)
    assert "(monitored: 1, 2)" in missing


def test_a_model_that_cannot_be_read_costs_its_own_rows_only(trial: FlaskClient) -> None:
    html = _page(trial, "/monitor/alerts")  # not a 503 for everyone
    notes = re.findall(r'<p class="unreadable" data-model="([^"]*)">', html)
    assert len(notes) == 1 and "north-east region" in notes[0]
    shown = re.findall(r'<tr class="alert-row" data-model="([^"]+)"', html)
    assert shown == [DEMO_MODEL] * 3
    _page(trial, "/monitor/gates")
    fleet = _rows(_page(trial, "/monitor/"))
    assert len(fleet) == 3


def test_long_model_names_wrap_and_short_ones_do_not(trial: FlaskClient) -> None:
    rows = _rows(_page(trial, "/monitor/"))
    long_row = next(row for (model, _), row in rows.items() if model != DEMO_MODEL)
    assert '<td data-value="o&#39;neil' in long_row and 'class="long-name"' in long_row
    assert 'class="long-name"' not in rows[(DEMO_MODEL, DEMO_VERSION)]
    css = trial.get("/monitor/static/monitor.css").get_data(as_text=True)
    assert re.search(r"td\.long-name \{[^}]*overflow-wrap: anywhere", css)


def test_a_failure_and_each_window_link_to_their_evidence(trial: FlaskClient) -> None:
    rows = _rows(_page(trial, "/monitor/"))
    v1 = rows[(DEMO_MODEL, DEMO_VERSION)]
    error = re.search(r'class="error-link" href="(/monitor/runs/(\w+)/artifacts/error.json)"', v1)
    assert error and "window file missing" in v1
    files = re.search(r'<a class="run-files-link" href="([^"]+)"', v1)
    assert files and files.group(1) == f"/monitor/runs/{error.group(2)}/"
    page = _page(trial, VERSION_URL)
    windows = re.findall(r'<a class="window-link" href="(/monitor/runs/\w+/)"', page)
    assert len(windows) == 3 and len(set(windows)) == 3
    run = _page(trial, windows[-1])
    notebooks = re.findall(r'<a class="notebook-link" href="([^"]+)"', run)
    assert any(n.endswith("/artifacts/notebooks/monitor.ipynb") for n in notebooks)
    assert trial.get(notebooks[0]).status_code == 200
    assert trial.get("/monitor/runs/0123456789abcdef/").status_code == 404


def test_only_what_the_pages_link_to_is_served_never_data(
    client: FlaskClient, demo_store: DemoStore
) -> None:
    mlflow = MlflowClient(tracking_uri=demo_store.tracking_uri)
    tags = mlflow.get_model_version(DEMO_MODEL, DEMO_VERSION).tags
    baseline = tags["monitor.baseline_run_id"]
    data = [f.path for f in mlflow.list_artifacts(baseline, "baseline")]
    assert "baseline/sample.parquet" in data  # the raw rows are there, and must not be served
    for path in data:
        response = client.get(f"/monitor/runs/{baseline}/artifacts/{path}")
        served = path.endswith((".json", ".yaml", ".yml", ".md", ".txt", ".html", ".png"))
        assert response.status_code == (200 if served else 404), path
    window = tags["monitor.last_run_id"]
    assert client.get(f"/monitor/runs/{window}/artifacts/results.json").status_code == 200


def test_side_by_side_versions_name_the_latest_window_and_each_version(
    demo_store: DemoStore,
) -> None:
    def mark(end: str, version: str, health: str, partial: bool = False) -> WindowMark:
        return WindowMark(None, end, version, f"run{end[8:10]}{version}", health, (), partial)

    windows = (
        mark("2025-03-10T00:00:00Z", "4", "healthy"),
        mark("2025-03-10T00:00:00Z", "5", "warning", partial=True),
        mark("2025-03-17T00:00:00Z", "5", "warning"),
        mark("2025-03-17T00:00:00Z", "4", "critical"),
    )
    trends = VersionTrends(model=DEMO_MODEL, versions=("4", "5"), windows=windows, series=())
    app = create_app(tracking_uri=demo_store.tracking_uri)
    with app.test_request_context("/monitor/"):
        html = render_template(
            "monitor/trends.html",
            title=DEMO_MODEL, model=DEMO_MODEL, version=None, rows=[], trends=trends,
            latest=windows[-1], files=None, firing_now=(), fired_before=(), groups=[], index={},
            data=trends.to_dict(), latest_by_version=_latest_by_version(windows),
            failing_label="", no_baseline=[],
        )  # fmt: skip
    assert "Latest window (v4)" in html
    latest = re.findall(r'<tr class="latest-row" data-version="(\d+)" data-health="(\w+)"', html)
    assert latest == [("5", "warning"), ("4", "critical")]  # each version's own latest verdict
    strip = re.findall(r'<li class="window health-\w+( partial)?"[^>]*data-partial="(\w+)"', html)
    assert strip == [("", "false"), (" partial", "true"), ("", "false"), ("", "false")]
    assert "v5 · partial" in html and "(partial: a critical check not evaluated)" in html
    assert _failing_label(["fail", "warn", "warn", "fail"] + ["warn"] * 18) == "2 fail, 20 warn"


_LINES = """
const plot = document.querySelector(`.trend[data-metric="${arguments[0]}"].js-plotly-plot`);
if (!plot || !plot.data) { return null; }
return plot.data.filter(t => t.mode && t.mode.startsWith('lines'))
  .map(t => ({ name: String(t.name), dash: String((t.line && t.line.dash) || 'solid') }));
"""


def test_estimates_are_drawn_dashed_and_labelled_estimated(app: App, browser: Chrome) -> None:
    """In a browser (Plotly draws the lines): ``perf_est/*`` dashed and named "estimated"."""
    browser.get(app.url(VERSION_URL))
    browser.execute_script(
        "document.querySelectorAll('details.trend-group').forEach(d => { d.open = true; });"
    )
    wait = WebDriverWait(browser, 60)
    estimate = wait.until(lambda d: d.execute_script(_LINES, "perf_est/roc_auc"))
    measured = wait.until(lambda d: d.execute_script(_LINES, "perf/roc_auc"))
    assert estimate and all(t["dash"] == "dash" and "estimated" in t["name"] for t in estimate)
    assert measured and all(t["dash"] == "solid" and "estimated" not in t["name"] for t in measured)
