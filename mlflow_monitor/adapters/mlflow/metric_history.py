"""Previous windows' metric values of one model version, read back from MLflow for history bounds.

The values are the latest values of the metrics on the version's FINISHED monitoring runs
(experiment ``monitor/<model>``, tagged ``monitor.model_version`` and ``monitor.kind=window``),
each at the timestamp it was logged with (the window end, DESIGN.md section 4). One paginated
``search_runs`` call returns metric values with their timestamps, so reading N windows costs one
round trip per page instead of one ``get_run`` per window. When a window was run twice (a retry),
the later run's value wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from mlflow_monitor.adapters.mlflow.client import client, filter_value
from mlflow_monitor.contract import (
    TAG_KIND,
    TAG_MODEL_VERSION,
    TAG_SUPERSEDED_BY,
    experiment_name,
    safe_metric_name,
)
from mlflow_monitor.errors import RegistryError

__all__ = ["metric_history"]

_PAGE = 500


def metric_history(
    model: str,
    version: str,
    names: Sequence[str],
    *,
    tracking_uri: str | None = None,
    limit: int = 500,
) -> dict[str, list[tuple[datetime, float]]]:
    """Metric name -> ``[(logged timestamp UTC, value)]`` oldest first, from up to ``limit`` runs.

    ``names`` are contract names (``perf/accuracy``); they are looked up under their MLflow-safe
    form. A model without an experiment has no history (empty lists). MLflow failures raise
    ``RegistryError``.
    """
    wanted = {safe_metric_name(n): n for n in names}
    history: dict[str, dict[datetime, tuple[int, float]]] = {n: {} for n in names}
    if not wanted:
        return {}
    try:
        runs = _finished_window_runs(model, version, tracking_uri, limit)
    except MlflowException as exc:
        raise RegistryError(
            f"MLflow error while reading metric history of {model}/{version}: "
            f"{str(exc.message).splitlines()[0][:300]}"
        ) from None
    except OSError as exc:
        raise RegistryError(f"MLflow unreachable while reading metric history: {exc}") from None
    for start_ms, metrics in runs:
        for metric in metrics:
            name = wanted.get(metric.key)
            if name is None:
                continue
            at = datetime.fromtimestamp(metric.timestamp / 1000.0, tz=timezone.utc)
            previous = history[name].get(at)
            if previous is None or previous[0] < start_ms:
                history[name][at] = (start_ms, float(metric.value))
    return {n: sorted((t, v) for t, (_, v) in points.items()) for n, points in history.items()}


def _finished_window_runs(
    model: str, version: str, tracking_uri: str | None, limit: int
) -> list[tuple[int, list[_MetricProto]]]:
    mlflow = client(tracking_uri)
    experiment = mlflow.get_experiment_by_name(experiment_name(model))
    if experiment is None:
        return []
    query = (
        f"tags.`{TAG_MODEL_VERSION}` = {filter_value(version)} and tags.`{TAG_KIND}` = 'window' "
        "and attributes.status = 'FINISHED'"
    )
    found: list[tuple[int, list[_MetricProto]]] = []
    token: str | None = None
    while len(found) < limit:
        page = mlflow.search_runs(
            [experiment.experiment_id],
            query,
            ViewType.ACTIVE_ONLY,
            max_results=min(_PAGE, limit - len(found)),
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        for run in page:
            if run.data.tags.get(TAG_SUPERSEDED_BY):  # a newer attempt of its window counts
                continue
            metrics = list(run.data.to_proto().metrics)
            found.append((int(run.info.start_time or 0), metrics))
        token = page.token
        if not token:
            break
    return found


class _MetricProto:
    """The fields of MLflow's metric protobuf this module reads (for typing only)."""

    key: str
    value: float
    timestamp: int
