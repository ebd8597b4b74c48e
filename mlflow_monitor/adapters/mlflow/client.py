"""Shared MLflow plumbing for the registry room: client, experiment naming, tag names.

Only ``mlflow_monitor.adapters.mlflow`` imports ``mlflow``; the rest of the package goes through the
functions of ``mlflow_monitor.adapters.mlflow``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_monitor.errors import RegistryError

T = TypeVar("T")


def filter_value(value: str) -> str:
    """``value`` quoted for an MLflow filter string (measured on MLflow 3: a backslash or a
    doubled quote does not escape ``'``, double quotes around a value with ``'`` do)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise RegistryError(f"{value!r}: a name with both ' and \" cannot be searched in MLflow")


def client(tracking_uri: str | None = None) -> MlflowClient:
    """An ``MlflowClient`` for ``tracking_uri``, else ``MLFLOW_TRACKING_URI``, else the default."""
    try:
        return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    except Exception as exc:  # MLflow raises many types for a bad URI
        raise RegistryError(f"cannot open MLflow at {tracking_uri!r}: {exc}") from None


def guarded(tracking_uri: str | None, what: str, func: Callable[[], T]) -> T:
    """Run one MLflow call; its failure becomes a one-line ``RegistryError`` saying what failed.

    ``what`` completes "while ...": "MLflow unreachable at URI while logging metrics",
    "MLflow error while reading model version churn/3: <MLflow's first line>".
    """
    try:
        return func()
    except RegistryError:
        raise
    except MlflowException as exc:
        raise RegistryError(describe_failure(tracking_uri, what, exc)) from None
    except OSError as exc:
        raise RegistryError(f"MLflow unreachable at {tracking_uri} while {what}: {exc}") from None


def describe_failure(tracking_uri: str | None, what: str, exc: MlflowException) -> str:
    """One line for an ``MlflowException``: unreachable server, or MLflow's own first line."""
    text = (str(exc.message).strip().splitlines() or [str(exc.error_code)])[0]
    lowered = text.lower()
    if "connection" in lowered or "max retries" in lowered or "failed to establish" in lowered:
        return f"MLflow unreachable at {tracking_uri} while {what}"
    return f"MLflow error while {what}: {text[:300]}"


@contextmanager
def quiet_downloads() -> Iterator[None]:
    """No MLflow progress bar for our own small downloads (a JSON, a notebook, a baseline).

    Only while the download runs, and only when the user has not set
    ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` themselves.
    """
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    if key in os.environ:
        yield
        return
    os.environ[key] = "false"
    try:
        yield
    finally:
        os.environ.pop(key, None)
