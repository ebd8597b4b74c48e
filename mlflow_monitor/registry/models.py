"""Log and register a scikit-learn model (the demo, the examples and the tests use it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlflow_monitor.errors import RegistryError
from mlflow_monitor.registry._client import client

__all__ = ["register_sklearn_model"]


def register_sklearn_model(
    model: object,
    name: str,
    *,
    tracking_uri: str | None,
    example: pd.DataFrame | None = None,
    artifact_root: Path | None = None,
    experiment: str = "training",
) -> str:
    """Log ``model`` in a training run and register it as a new version of ``name``."""
    import mlflow
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        found = client(tracking_uri).get_experiment_by_name(experiment)
        if found is None:
            location = artifact_root.resolve().as_uri() if artifact_root else None
            experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
        else:
            experiment_id = found.experiment_id
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{name}"):
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=example,
                registered_model_name=name,
                skops_trusted_types=_own_types(model),
                pip_requirements=_requirements(),
            )
    except MlflowException as exc:
        raise RegistryError(f"registering {name}: {str(exc.message).splitlines()[0]}") from None
    version = info.registered_model_version
    if version is None:
        raise RegistryError(f"registering {name}: MLflow returned no version")
    return str(version)


def _own_types(model: object) -> list[str] | None:
    """The types skops would refuse to load in a model this process just trained (so trusted)."""
    try:
        from skops.io import dumps, get_untrusted_types
    except ImportError:
        return None
    return list(get_untrusted_types(data=dumps(model)))


def _requirements() -> list[str]:
    """Pinned scikit-learn: skips MLflow's requirement inference (a subprocess, ~10 s)."""
    import sklearn

    return [f"scikit-learn=={sklearn.__version__}"]
