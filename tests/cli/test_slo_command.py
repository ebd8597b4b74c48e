"""``mlflow-monitor slo report|status|alert``: files, table, exit codes, bad input.

The store is the week of windows of ``tests/workflows/test_slo_report.py`` (built once here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from mlflow.tracking import MlflowClient

from mlflow_monitor.cli import main
from mlflow_monitor.contract import TAG_SLO
from tests.workflows.test_slo_report import SPEC, make_store

NOW = "2025-03-08T01:00:00Z"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path) -> str:
    return make_store(tmp_path_factory.mktemp("slo-cli"), _empty_store)


def _spec_file(folder: Path, body: object = SPEC) -> str:
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(body))
    return str(path)


def _slo(*args: str) -> Result:
    return CliRunner().invoke(main, ["slo", *args])


def test_report_writes_json_and_html_and_tags_the_version(store: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    spec = _spec_file(tmp_path)
    result = _slo("report", "--spec", spec, "--version", "@champion", "--out", str(out),
                  "--now", NOW, "--tracking-uri", store)  # fmt: skip

    assert result.exit_code == 0, result.output
    body = json.loads((out / "slo_report.json").read_text())
    assert body["version"] == "1" and body["period_end"] == NOW
    assert body["slos"][0]["budget"]["remaining"] == pytest.approx(-7.0)
    assert "auc-floor" in (out / "slo_report.html").read_text()
    assert result.stdout.splitlines()[0].startswith("auc-floor: SLI 60.0%")
    tag = MlflowClient(tracking_uri=store).get_model_version("churn", "1").tags[TAG_SLO]
    assert json.loads(tag)["slos"][0]["firing"] == ["fast", "slow"]


def test_status_prints_one_row_per_slo_and_json(store: str, tmp_path: Path) -> None:
    spec = _spec_file(tmp_path)
    result = _slo("status", "--spec", spec, "--version", "1", "--now", NOW, "--tracking-uri", store)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split()[:2] == ["SLO", "SLI"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {"auc-floor", "no-drift", "freshness"}
    assert "-700.0%" in rows["auc-floor"] and "fast (critical)" in rows["auc-floor"]
    as_json = _slo("status", "--spec", spec, "--version", "1", "--now", NOW, "--json",
                   "--tracking-uri", store)  # fmt: skip
    assert json.loads(as_json.stdout)["slos"][1]["name"] == "no-drift"


def test_a_bad_slos_key_is_exit_2_naming_the_key(store: str, tmp_path: Path) -> None:
    bad = {**SPEC, "slos": [{**SPEC["slos"][0], "targe": 0.9}]}  # type: ignore[dict-item]
    spec = _spec_file(tmp_path, bad)
    result = _slo("status", "--spec", spec, "--version", "1", "--tracking-uri", store)

    assert result.exit_code == 2
    assert "unknown key 'slos.0.targe'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--now", "yesterday"], "--now: 'yesterday' is not a UTC ISO 8601 time"),
        (["--version", "@nobody"], "nobody"),
        (["--version", "9"], "9"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(
    store: str, tmp_path: Path, args: list[str], message: str
) -> None:
    spec = _spec_file(tmp_path)
    base = ["--spec", spec, "--tracking-uri", store]
    base += [] if "--version" in args else ["--version", "1"]
    result = _slo("status", *base, *args)

    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_status_card_and_dashboard_show_the_recorded_judgement(store: str, tmp_path: Path) -> None:
    spec = _spec_file(tmp_path)
    _slo("report", "--spec", spec, "--version", "1", "--out", str(tmp_path / "r"), "--now", NOW,
         "--tracking-uri", store)  # fmt: skip

    status = CliRunner().invoke(main, ["status", "--model", "churn", "--tracking-uri", store])
    assert status.exit_code == 0, status.output
    slo_lines = [line for line in status.stdout.splitlines() if line.startswith("  churn v1 ")]
    assert len(slo_lines) == 3
    assert "auc-floor: SLI 60.0%" in slo_lines[0] and "budget left -700.0%" in slo_lines[0]
    assert "firing fast, slow" in slo_lines[0]

    from mlflow_monitor.ui.app import create_app
    from mlflow_monitor.workflows.model_cards import _service_levels

    tags = MlflowClient(tracking_uri=store).get_model_version("churn", "1").tags
    assert _service_levels(tags)[0].startswith("auc-floor: SLI 60.0%")
    client = create_app(tracking_uri=store).test_client()
    body = client.get("/monitor/api/models/churn/versions/1/slos").get_json()
    assert body["at"] == NOW and body["slos"][0]["name"] == "auc-floor"
    assert body["slos"][0]["remaining"] == pytest.approx(-7.0)
    page = client.get("/monitor/models/churn/versions/1").get_data(as_text=True)
    assert 'data-slo="auc-floor"' in page and "-700.0%" in page
