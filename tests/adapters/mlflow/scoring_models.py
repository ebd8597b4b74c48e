"""Small MLflow models for the scoring tests: pyfunc models with known outputs, and how to log them.

The ``PythonModel`` classes live in this importable module so that MLflow's cloudpickle stores
them by reference and the tests load them back in the same process.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

INPUTS = ["monthly_charges", "support_calls"]


def churn_like_score(frame: pd.DataFrame) -> np.ndarray:
    """The score every pyfunc model here gives: a logistic curve of two churn features."""
    logit = (frame["monthly_charges"].to_numpy(float) - 70) / 20 + 0.3 * frame["support_calls"]
    return np.asarray(1 / (1 + np.exp(-logit)), dtype=float)


class KnownOutputs(PythonModel):
    """A pyfunc model whose output shape is chosen by ``kind``.

    ``frame``: a DataFrame with named columns (``extra``, ``prediction``, ``churn_score``, in that
    order); ``labels``: a 1-D array of 0/1; ``scores``: a 1-D array of scores; ``pairs``: a 2-D
    array ``[1 - score, score]``; ``short``: one value too few; ``fails``: raises.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind

    # a DataFrame hint: MLflow infers no schema from it (the input example gives the signature)
    def predict(self, context: object, model_input: pd.DataFrame, params: object = None) -> object:
        score = churn_like_score(model_input)
        labels = (score >= 0.5).astype(np.int64)
        if self.kind == "frame":
            return pd.DataFrame({"extra": -1.0, "prediction": labels, "churn_score": score})
        if self.kind == "labels":
            return labels
        if self.kind == "scores":
            return score
        if self.kind == "pairs":
            return np.column_stack([1 - score, score])
        if self.kind == "short":
            return labels[:-1]
        raise ValueError("the model broke on purpose\nsecond line of the traceback text")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's advice on type hints and integer columns does not apply to these test models."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
        yield


def save_pyfunc(model: PythonModel, path: Path, *, example: pd.DataFrame | None) -> Path:
    """``model`` saved as an MLflow pyfunc model in ``path`` (no signature without ``example``)."""
    import mlflow.pyfunc

    with _quiet():
        mlflow.pyfunc.save_model(
            str(path), python_model=model, input_example=example, pip_requirements=["pandas"]
        )
    return path


def log_pyfunc(
    model: PythonModel, name: str, *, tracking_uri: str, artifact_root: Path, example: pd.DataFrame
) -> str:
    """Log ``model`` with ``mlflow.pyfunc.log_model`` and register it as ``name``; the version."""
    import mlflow
    import mlflow.pyfunc

    from mlflow_monitor.adapters.mlflow.models import _scoped_uris

    with _scoped_uris(tracking_uri), _quiet():
        experiment = mlflow.create_experiment(
            f"pyfunc-{name}", artifact_location=artifact_root.resolve().as_uri()
        )
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=model,
                input_example=example,
                registered_model_name=name,
                pip_requirements=["pandas"],
            )
    return str(info.registered_model_version)
