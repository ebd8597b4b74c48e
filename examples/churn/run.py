"""Churn example: train, register, attach a baseline, monitor three weekly windows.

Run from the repository root:

    .venv/bin/python examples/churn/run.py [--dir churn-mlflow]

Everything lands in a local SQLite MLflow store inside ``--dir``; the script ends by printing the
status table and the ``mlflow ui`` command. The same steps from a shell:

    mlflow-monitor baseline --spec monitor.yaml --version 1 --reference reference.parquet
    mlflow-monitor run --spec monitor.yaml --version 1 --current window.parquet \\
        --window-start 2025-01-13T00:00:00Z --window-end 2025-01-20T00:00:00Z
    mlflow-monitor status --model churn-classifier
"""

from __future__ import annotations

import argparse
import shutil
from datetime import timedelta
from pathlib import Path

from mlflow_monitor.adapters.mlflow.models import register_sklearn_model
from mlflow_monitor.resources import card_templates_dir
from mlflow_monitor.workflows import demo
from mlflow_monitor.workflows import monitor_window as monitor
from mlflow_monitor.workflows.build_baseline import build_baseline_run
from mlflow_monitor.workflows.status import status_rows, status_table

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="churn-mlflow", type=Path, help="output folder")
    folder: Path = parser.parse_args().dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    spec = folder / "monitor.yaml"
    shutil.copyfile(HERE / "monitor.yaml", spec)
    shutil.copyfile(card_templates_dir() / "card.yaml", folder / "card.yaml")  # `card: card.yaml`

    # 1. Train a classifier on last month's customers and register it.
    train = demo.make_churn(8000, seed=1, start=demo.START - timedelta(days=28), days=21)
    model = demo.train_churn_model(train)
    version = register_sklearn_model(
        model, demo.MODEL_NAME, tracking_uri=uri, artifact_root=folder / "mlartifacts"
    )

    # 2. Score the validation data and attach it as the version's baseline.
    reference = folder / "reference.parquet"
    demo.score(model, demo.make_churn(5000, seed=2)).to_parquet(reference, index=False)
    build_baseline_run(spec, version, reference, tracking_uri=uri, echo=print)

    # 3. Every week, monitor the week's scored (and later labelled) traffic.
    for plan, frame in demo.demo_windows(4000):
        window = folder / f"window_{plan.name}.parquet"
        demo.score(model, frame).to_parquet(window, index=False)
        result = monitor.run_window(
            spec,
            version,
            window,
            tracking_uri=uri,
            window_start=plan.start,
            window_end=plan.start + timedelta(days=7),
            echo=print,
        )
        print(f"{plan.name}: {result.health} (expected {plan.expected}); {result.failing[:3]}")

    print(status_table(status_rows(demo.MODEL_NAME, tracking_uri=uri)))
    print(f"mlflow ui --backend-store-uri {uri}")


if __name__ == "__main__":
    main()
