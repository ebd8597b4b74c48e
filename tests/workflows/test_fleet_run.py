"""fleet_run: reading a fleet (file or folder) before anything runs; the latest window; the hook."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from mlflow_monitor.errors import SpecError
from mlflow_monitor.spec import load_fleet
from mlflow_monitor.workflows.demo import write_demo_spec
from mlflow_monitor.workflows.fleet_run import plan_fleet
from mlflow_monitor.workflows.log_windows import latest_window


def _fleet(folder: Path, body: str) -> Path:
    write_demo_spec(folder / "churn" / "monitor.yaml")
    path = folder / "fleet.yaml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("log: l\nmodels:\n  - spec: churn/monitor.yaml\n    verions: ['1']\n",
         "unknown key 'models.0.verions'"),
        ("log: l\nmodel:\n  - spec: churn/monitor.yaml\n", "unknown key 'model'"),
        ("models:\n  - spec: churn/monitor.yaml\n",
         "models.0.log: no prediction log: set log (here or at the top)"),
        ("log: l\nperiod: 1 day\nmodels:\n  - spec: churn/monitor.yaml\n",
         "period: not a duration: '1 day' (use e.g. 30m, 24h, 7d)"),
        ("log: l\nconcurrency: 0\nmodels:\n  - spec: churn/monitor.yaml\n",
         "concurrency: Input should be greater than or equal to 1"),
        ("log: l\nmodels:\n  - spec: churn/monitor.yaml\n    versions: [champion]\n",
         "models.0.versions: 'champion' is neither a version number nor an @alias"),
        ("log: l\nmodels:\n  - spec: churn/monitor.yaml\n    current: w.parquet\n    log: x\n",
         "models.0.current: give log or current, not both"),
        ("log: l\nmodels: []\n", "models: list at least one model"),
        ("log: l\nmodels:\n  - spec: other/monitor.yaml\n",
         "models.0.spec: other/monitor.yaml not found"),
    ],
)  # fmt: skip
def test_a_bad_fleet_file_is_one_line_naming_the_key(
    tmp_path: Path, body: str, message: str
) -> None:
    path = _fleet(tmp_path, body)
    with pytest.raises(SpecError) as caught:
        plan_fleet(path)
    assert str(caught.value) == f"{path}: {message}"


def test_a_fleet_file_resolves_paths_from_its_folder(tmp_path: Path) -> None:
    path = _fleet(
        tmp_path,
        "log: log\nperiod: 6h\ngrace: 30m\nconcurrency: 3\nmodels:\n"
        "  - spec: churn/monitor.yaml\n    versions: ['@champion', 'v2']\n"
        "  - spec: churn/monitor.yaml\n    log: postgresql://db/monitor\n",
    )
    plan = plan_fleet(path)
    assert (plan.period_seconds, plan.grace_seconds, plan.concurrency) == (21600, 1800, 3)
    first, second = plan.models
    assert first.spec_path == (tmp_path / "churn" / "monitor.yaml").resolve()
    assert first.versions == ("@champion", "v2")
    assert first.log_uri == str((tmp_path / "log").resolve())
    assert second.versions is None and second.log_uri == "postgresql://db/monitor"
    overridden = plan_fleet(path, log_uri="/elsewhere", period="1d")
    # --log replaces the fleet's log; a model's own log stays
    assert [m.log_uri for m in overridden.models] == ["/elsewhere", "postgresql://db/monitor"]
    assert overridden.period_seconds == 86400


def test_a_current_file_replaces_the_log_for_its_model(tmp_path: Path) -> None:
    (tmp_path / "w.parquet").write_bytes(b"")
    path = _fleet(
        tmp_path,
        "log: log\nmodels:\n  - spec: churn/monitor.yaml\n    current: w.parquet\n"
        "    window_start: '2026-01-01'\n",
    )
    (model,) = plan_fleet(path).models
    assert model.current == str((tmp_path / "w.parquet").resolve())
    assert (model.log_uri, model.window_start) == (None, "2026-01-01")
    missing = _fleet(
        tmp_path, "log: l\nmodels:\n  - spec: churn/monitor.yaml\n    current: x.csv\n"
    )
    with pytest.raises(SpecError, match=r"models.0.current: x.csv not found"):
        plan_fleet(missing)


def test_a_folder_is_a_fleet_of_its_specs(tmp_path: Path) -> None:
    write_demo_spec(tmp_path / "churn" / "monitor.yaml", model="churn")  # writes card.yaml too
    write_demo_spec(tmp_path / "deep" / "fraud" / "monitor.yaml", model="fraud")
    (tmp_path / "loans.yaml").write_text((tmp_path / "churn" / "monitor.yaml").read_text())
    (tmp_path / "notes.yaml").write_text("owner: someone\n")  # not a spec: no task
    plan = plan_fleet(tmp_path, log_uri="log", period="1h")
    found = sorted(str(m.spec_path.relative_to(tmp_path.resolve())) for m in plan.models)
    assert found == ["churn/monitor.yaml", "deep/fraud/monitor.yaml", "loans.yaml"]
    assert {m.versions for m in plan.models} == {None}
    assert plan.period_seconds == 3600 and plan.grace_seconds == 3600
    with pytest.raises(SpecError, match="a folder of specs reads its windows from the log"):
        plan_fleet(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SpecError, match=r"no monitor\.yaml"):
        plan_fleet(empty, log_uri="log")


def test_load_fleet_refuses_what_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("- spec: a\n")
    with pytest.raises(SpecError, match="expected a mapping at the top level"):
        load_fleet(path)
    with pytest.raises(SpecError, match="fleet file not found"):
        load_fleet(tmp_path / "none.yaml")


def test_the_fleet_runs_the_last_complete_window() -> None:
    now = datetime(2026, 3, 5, 0, 30, tzinfo=timezone.utc)  # within the grace of March 4
    start, end = latest_window(86400, now=now, grace_seconds=3600)
    assert (start.day, end.day) == (3, 4)
    later = datetime(2026, 3, 5, 1, 0, tzinfo=timezone.utc)
    assert latest_window(86400, now=later, grace_seconds=3600)[1].day == 5
