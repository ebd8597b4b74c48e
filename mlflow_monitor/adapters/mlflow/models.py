"""Registered models: resolve ``@alias`` to a version; log and register a scikit-learn model.

``resolve_version`` is how every command that takes ``--version`` also takes ``--version
@champion`` (DESIGN.md section 4). ``register_sklearn_model`` serves the demo, the examples and
the tests. pandas is imported only where a model is registered, so resolving an alias stays light.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_monitor.adapters.mlflow.client import client, describe_failure
from mlflow_monitor.errors import RegistryError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["register_sklearn_model", "resolve_version"]

# what MLflow answers for an alias (or model) it does not know, depending on the store
_UNKNOWN = ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")


def resolve_version(model: str, version_or_alias: str, *, tracking_uri: str | None) -> str:
    """The version number ``version_or_alias`` names: ``@alias`` is read from the registry.

    A plain version is returned as given (the workflow checks that it exists). An unknown alias
    is a ``RegistryError`` whose one line names the alias and the aliases the model has.
    """
    if not version_or_alias.startswith("@"):
        return version_or_alias
    alias = version_or_alias[1:]
    registry = client(tracking_uri)
    what = f"reading {model}@{alias}"
    try:
        found = registry.get_model_version_by_alias(model, alias)
    except MlflowException as exc:
        if exc.error_code not in _UNKNOWN:
            raise RegistryError(describe_failure(registry.tracking_uri, what, exc)) from None
        raise RegistryError(_unknown_alias(registry, model, alias)) from None
    except OSError as exc:
        raise RegistryError(f"MLflow unreachable at {registry.tracking_uri}: {exc}") from None
    return str(found.version)


def _unknown_alias(registry: MlflowClient, model: str, alias: str) -> str:
    """One line: ``@alias`` is not an alias of ``model``, and the aliases it has (or no model)."""
    uri = registry.tracking_uri
    try:
        registered = registry.get_registered_model(model)
    except MlflowException as exc:
        if exc.error_code in _UNKNOWN:
            return f"model {model!r} not found in the registry at {uri} (looking up @{alias})"
        raise RegistryError(describe_failure(uri, f"reading model {model}", exc)) from None
    except OSError as exc:
        raise RegistryError(f"MLflow unreachable at {uri}: {exc}") from None
    aliases = sorted(getattr(registered, "aliases", None) or {})
    known = ", ".join(f"@{a}" for a in aliases) if aliases else "none"
    return f"alias @{alias} not found for model {model!r} (its aliases: {known})"


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
    try:
        with _scoped_uris(tracking_uri):
            info = _log_and_register(model, name, tracking_uri, example, artifact_root, experiment)
    except MlflowException as exc:
        raise RegistryError(f"registering {name}: {str(exc.message).splitlines()[0]}") from None
    version = info.registered_model_version
    if version is None:
        raise RegistryError(f"registering {name}: MLflow returned no version")
    return str(version)


@contextlib.contextmanager
def _scoped_uris(tracking_uri: str | None) -> Iterator[None]:
    """Point MLflow's fluent API at ``tracking_uri`` for one block, then put everything back.

    ``mlflow.set_tracking_uri``/``set_registry_uri`` change process globals and export
    ``MLFLOW_TRACKING_URI``/``MLFLOW_REGISTRY_URI``; leaving them set would redirect every later
    client in this process (and its subprocesses) to this store.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved_globals = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    mlflow.set_tracking_uri(tracking_uri)  # type: ignore[arg-type]
    mlflow.set_registry_uri(tracking_uri)  # type: ignore[arg-type]
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved_globals
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _log_and_register(
    model: object,
    name: str,
    tracking_uri: str | None,
    example: pd.DataFrame | None,
    artifact_root: Path | None,
    experiment: str,
) -> Any:
    """Log ``model`` in a run of ``experiment`` and register it; MLflow's ModelInfo back."""
    import mlflow
    import mlflow.sklearn

    found = client(tracking_uri).get_experiment_by_name(experiment)
    if found is None:
        location = artifact_root.resolve().as_uri() if artifact_root else None
        experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
    else:
        experiment_id = found.experiment_id
    with (
        mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{name}"),
        warnings.catch_warnings(),
    ):
        # the predicted class labels are integers and never missing: MLflow's hint does not apply
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
        return mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=_doubles(example),
            registered_model_name=name,
            skops_trusted_types=_own_types(model),
            pip_requirements=_requirements(),
        )


def _doubles(example: pd.DataFrame | None) -> pd.DataFrame | None:
    """Integer columns as float64, so the signature accepts a missing value in them.

    MLflow's own advice (it warns on every integer column of an inferred schema otherwise).
    """
    if example is None:
        return None
    import pandas as pd

    ints = [c for c in example.columns if pd.api.types.is_integer_dtype(example[c])]
    return example.astype({c: "float64" for c in ints}) if ints else example


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
