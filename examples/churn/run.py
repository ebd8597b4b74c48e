"""Churn example: train, register, attach a baseline, monitor three weekly windows.

Run from the repository root:

    .venv/bin/python examples/churn/run.py [--dir churn-mlflow]

Only the public API is used: ``mlflow_monitor`` (as ``mm``), its synthetic data
(``mlflow_monitor.datasets``) and MLflow's own API to register the model. Everything lands in a
local SQLite MLflow store inside ``--dir``; the script prints each window's health next to the
health it should get, then the status table and the ``mlflow ui`` command. The same steps from a
shell, with the scored data as parquet files:

    mlflow-monitor baseline --spec monitor.yaml --version 1 --reference reference.parquet
    mlflow-monitor run --spec monitor.yaml --version 1 --current window.parquet \\
        --window-start 2025-01-13T00:00:00Z --window-end 2025-01-20T00:00:00Z
    mlflow-monitor status --model churn-classifier
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from importlib.metadata import version as installed
from pathlib import Path

import mlflow
import mlflow.sklearn

import mlflow_monitor as mm
from mlflow_monitor import datasets

HERE = Path(__file__).parent
# the one class of the churn pipeline skops does not trust by default (gradient-boosted trees)
TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def register(model: object, name: str, uri: str, folder: Path) -> str:
    """Log ``model`` in a training run and register it as a new version of ``name``."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # the model's files stay in --dir (a SQLite store keeps only metadata)
    experiment = mlflow.get_experiment_by_name("training")
    experiment_id = (
        experiment.experiment_id
        if experiment
        else mlflow.create_experiment(
            "training", artifact_location=(folder / "mlartifacts").as_uri()
        )
    )
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{name}"):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name=name,
            # saved with skops (MLflow's safe default), which asks which non-default types to load
            skops_trusted_types=[TREE_PREDICTOR],
            pip_requirements=[f"scikit-learn=={installed('scikit-learn')}"],  # skips inference
        )
    return str(info.registered_model_version)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="churn-mlflow", type=Path, help="output folder")
    parser.add_argument("--rows", default=4000, type=int, help="rows per weekly window")
    args = parser.parse_args()
    folder: Path = args.dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    spec = mm.load_spec(HERE / "monitor.yaml")  # names `card: card.yaml`, beside it
    name = spec.model

    # 1. Train a classifier on last month's customers and register it.
    train = datasets.make_churn(8000, seed=1, start=datasets.START - timedelta(days=28), days=21)
    model = datasets.train_churn_model(train)
    version = register(model, name, uri, folder)
    print(f"registered {name} version {version} in {uri}")

    # 2. Score the validation data and attach it as the version's baseline.
    reference = datasets.score(model, datasets.make_churn(5000, seed=2))
    baseline = mm.attach_baseline(spec=spec, version=version, reference=reference, tracking_uri=uri)
    print(f"baseline: {baseline.rows} reference rows (run {baseline.run_id})")

    # 3. Every week, monitor the week's scored (and later labelled) traffic.
    missed = []
    for plan, frame in datasets.demo_windows(args.rows):
        result = mm.monitor(
            spec=spec,
            version=version,
            current=datasets.score(model, frame),
            window_start=plan.start,
            window_end=plan.start + timedelta(days=7),
            tracking_uri=uri,
        )
        mark = "ok" if result.health == plan.expected else "UNEXPECTED"
        print(
            f"window {plan.name}: {result.health} (expected {plan.expected}) {mark}; "
            f"failing: {', '.join(result.failing[:3]) or 'none'}"
        )
        if result.health != plan.expected:
            missed.append(plan.name)

    print(mm.status(model=name, tracking_uri=uri))
    print(f"mlflow ui --backend-store-uri {uri}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
