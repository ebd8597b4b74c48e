"""The demo story: a churn classifier watched over three windows (stable, drifted, degraded).

The data, the model and the spec come from ``mlflow_monitor.datasets.churn`` (synthetic customers
with a known churn mechanism, so each window's health is known in advance: healthy, warning,
critical); they are re-exported here for the code that imported them from this module. This
module writes the demo's spec and runs the whole story on MLflow (``run_demo``).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mlflow_monitor.datasets.churn import (
    CATEGORICAL,
    CHURN_SPEC,
    MODEL_NAME,
    NUMERICAL,
    PROTECTED,
    START,
    WindowPlan,
    churn_spec_yaml,
    demo_windows,
    make_churn,
    score,
    train_churn_model,
)

__all__ = [
    "CATEGORICAL",
    "CHURN_SPEC",
    "MODEL_NAME",
    "NUMERICAL",
    "PROTECTED",
    "START",
    "WindowPlan",
    "churn_spec_yaml",
    "demo_windows",
    "make_churn",
    "recent_start",
    "run_demo",
    "score",
    "train_churn_model",
    "write_demo_spec",
]


def write_demo_spec(path: Path, model: str = MODEL_NAME) -> Path:
    """Write the demo's ``monitor.yaml`` to ``path``, and the shipped ``card.yaml`` beside it."""
    from mlflow_monitor.resources import card_templates_dir

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(churn_spec_yaml(model))
    shutil.copyfile(card_templates_dir() / "card.yaml", path.parent / "card.yaml")
    return path


def run_demo(
    directory: Path,
    *,
    rows: int = 4000,
    echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
    tracking_uri: str | None = None,
    start: datetime | None = None,
) -> str:
    """The whole story on MLflow; returns the tracking URI the results went to.

    The store is ``tracking_uri`` when given (the CLI passes ``$MLFLOW_TRACKING_URI``), else a
    SQLite store in ``directory``. The data and the spec are written to ``directory`` either way.
    The last window ends on the latest Monday (``recent_start``), so the verdicts are fresh
    (not stale for a gate's ``max_age``, not weeks old on the dashboard); ``start`` fixes it.
    """
    start = start or recent_start()
    from mlflow_monitor.adapters.mlflow.models import register_sklearn_model
    from mlflow_monitor.workflows import monitor_window
    from mlflow_monitor.workflows.build_baseline import build_baseline_run

    directory = directory.resolve()
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or f"sqlite:///{directory / 'mlflow.db'}"
    spec_path = write_demo_spec(directory / "monitor.yaml")
    echo(f"[demo] MLflow store: {uri}")
    echo("[demo] training a churn classifier on 8,000 synthetic customers")
    train = make_churn(8000, seed=1, start=start - timedelta(days=28), days=21)
    model = train_churn_model(train)
    reference = score(model, make_churn(5000, seed=2, start=start))
    reference.to_parquet(data / "reference.parquet", index=False)
    version = register_sklearn_model(
        model,
        MODEL_NAME,
        tracking_uri=uri,
        example=reference[NUMERICAL + CATEGORICAL].head(5),
        artifact_root=_artifact_root(uri),
    )
    echo(f"[demo] registered {MODEL_NAME} version {version}")
    build_baseline_run(spec_path, version, data / "reference.parquet", tracking_uri=uri, echo=echo)
    for plan, frame in demo_windows(rows, start=start):
        path = data / f"window_{plan.name}.parquet"
        score(model, frame).to_parquet(path, index=False)
        result = monitor_window.run_window(
            spec_path,
            version,
            path,
            tracking_uri=uri,
            echo=echo,
            window_start=plan.start,
            window_end=plan.start + timedelta(days=7),
        )
        echo(f"[demo] window {plan.name}: health {result.health} (expected {plan.expected})")
    return uri


def recent_start(now: datetime | None = None) -> datetime:
    """The demo's start: four weeks before the latest Monday 00:00 UTC (its last window's end)."""
    today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    monday = datetime(today.year, today.month, today.day, tzinfo=timezone.utc) - timedelta(
        days=today.weekday()
    )
    return monday - timedelta(days=28)


def _artifact_root(uri: str) -> Path | None:
    """Where the trained model's files go: beside a SQLite store (as the monitoring runs' go);
    a server or database store keeps its own artifact location."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database if database.is_absolute() else Path.cwd() / database).parent / "mlartifacts"
