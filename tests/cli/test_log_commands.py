"""``mlflow-monitor log stats|compact|retention`` on a real embedded prediction log."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from mlflow_monitor.adapters.prediction_log import open_log
from mlflow_monitor.cli import main


def _rows(days_ago: int, count: int) -> pd.DataFrame:
    when = datetime.now(timezone.utc) - timedelta(days=days_ago)
    return pd.DataFrame(
        {
            "mm_request_id": [uuid.uuid4().hex for _ in range(count)],
            "mm_model": "m",
            "mm_version": "1",
            "mm_time": [when] * count,
            "x": range(count),
        }
    )


def test_stats_compact_and_retention(tmp_path: Path) -> None:
    log = tmp_path / "log"
    store = open_log(str(log))
    for _ in range(3):
        store.append(_rows(1, 10))
    store.append(_rows(40, 5))
    run = CliRunner()
    stats = run.invoke(main, ["log", "stats", "--log", str(log), "--model", "m"])
    assert stats.exit_code == 0
    assert stats.output.strip() == "m: 35 predictions in 4 files, 0 labels"
    compacted = run.invoke(main, ["log", "compact", "--log", str(log)])
    assert compacted.output.strip() == "compacted: 2 files merged away"  # 3 files of one day -> 1
    kept = run.invoke(main, ["log", "retention", "--log", str(log), "--keep", "30d"])
    assert kept.exit_code == 0 and kept.output.startswith("dropped 5 predictions made before ")
    assert len(store.read(model="m")) == 30
    bad = run.invoke(main, ["log", "retention", "--log", str(log), "--keep", "soon"])
    assert bad.exit_code == 2 and "--keep: not a duration: 'soon'" in bad.stderr
