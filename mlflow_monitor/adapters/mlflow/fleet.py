"""The registry read the fleet page needs, and artifacts read from inside ``mlflow server``.

``fleet_versions`` lists every monitored version (one with a ``monitor.*`` tag) with its aliases
in a fixed number of calls, whatever the fleet's size: one paginated ``search_model_versions``
and one paginated ``search_registered_models`` (a version search result carries no aliases, a
registered model does). ``MonitorRuns.versions`` reads aliases with one call per model; the
dashboard's fleet page must answer in under a second for 100 versions, so it uses this.

Inside ``mlflow server --app-name monitor`` the dashboard reads the server's backend store
directly; ``install_proxied_artifacts`` lets it read runs whose artifact root is
``mlflow-artifacts:/...`` (``--serve-artifacts``) from the server's ``--artifacts-destination``,
as ``mlflow.server.handlers`` does, since such a URI otherwise only means something to an HTTP
client of that same server. ``ServerRuns`` adds the run facts the dashboard's links need.
``server_flask_app``, ``with_basic_auth`` and ``served_app`` are the MLflow server's pieces an
``mlflow.app`` plugin (``ui.plugin``) is built from, so that only this package imports MLflow.
"""

from __future__ import annotations

import functools
import os
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repo import ArtifactRepository
from mlflow.store.artifact.artifact_repository_registry import (
    _artifact_repository_registry,
    get_artifact_repository,
)
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository
from mlflow.tracking import get_tracking_uri

from mlflow_monitor.adapters.mlflow.client import guarded
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns, VersionState, _version_state
from mlflow_monitor.contract import TAG_KIND, TAG_PARTIAL, TAG_TOP_FINDING
from mlflow_monitor.errors import RegistryError

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "ARTIFACTS_DESTINATION_ENV",
    "BACKEND_STORE_ENV",
    "FleetVersion",
    "RunRef",
    "ServerRuns",
    "fleet_versions",
    "install_proxied_artifacts",
    "served_app",
    "server_flask_app",
    "server_store_uri",
    "with_basic_auth",
]


_PAGE = 1000
_MONITOR_PREFIX = "monitor."
# set by `mlflow server` for its workers (mlflow.server.constants)
BACKEND_STORE_ENV = "_MLFLOW_SERVER_FILE_STORE"
ARTIFACTS_DESTINATION_ENV = "_MLFLOW_SERVER_ARTIFACT_DESTINATION"
SERVE_ARTIFACTS_ENV = "_MLFLOW_SERVER_SERVE_ARTIFACTS"
SGI_NAME_ENV = "_MLFLOW_SGI_NAME"  # uvicorn, gunicorn or waitress


@dataclass(frozen=True)
class FleetVersion:
    """A monitored version's state and the verdict's top finding when the version records it."""

    state: VersionState
    top_finding: str | None
    partial: bool | None = None  # the ``monitor.partial`` tag; None: not written (older verdict)
    monitored: bool = True  # False: a version of a monitored model with no monitor.* tag yet


@dataclass(frozen=True)
class RunRef:
    """What a page needs to link a run: its experiment and kind (``monitor.kind`` tag)."""

    run_id: str
    experiment_id: str
    kind: str | None


def fleet_versions(runs: MonitorRuns) -> list[FleetVersion]:
    """Every version of a model that has a monitored version (one with a ``monitor.*`` tag),
    with its aliases: two paginated searches. A version with no ``monitor.*`` tag of such a
    model comes with ``monitored=False`` (it has no baseline yet)."""
    client = runs._client
    versions = list(_pages(runs, "listing model versions", client.search_model_versions))
    models = {mv.name for mv in versions if _is_monitored(mv)}
    listed = [mv for mv in versions if mv.name in models]
    aliases = _aliases(runs) if listed else {}
    return [_fleet_version(mv, aliases) for mv in listed]


def _is_monitored(mv: Any) -> bool:
    return any(str(k).startswith(_MONITOR_PREFIX) for k in (mv.tags or {}))


def _fleet_version(mv: Any, aliases: dict[tuple[str, str], tuple[str, ...]]) -> FleetVersion:
    tags = mv.tags or {}
    partial = tags.get(TAG_PARTIAL)
    return FleetVersion(
        _version_state(mv, aliases),
        tags.get(TAG_TOP_FINDING) or None,
        partial=None if partial is None else partial == "true",
        monitored=_is_monitored(mv),
    )


def _aliases(runs: MonitorRuns) -> dict[tuple[str, str], tuple[str, ...]]:
    found: dict[tuple[str, str], list[str]] = {}
    search = runs._client.search_registered_models
    for registered in _pages(runs, "listing registered models", search):
        for alias, version in (registered.aliases or {}).items():
            found.setdefault((registered.name, str(version)), []).append(alias)
    return {key: tuple(sorted(names)) for key, names in found.items()}


def _pages(runs: MonitorRuns, what: str, search: Callable[..., Any]) -> Iterator[Any]:
    """Every result of an MLflow search, page by page (MLflow entities: typed loosely)."""
    token: str | None = None
    while True:
        call = functools.partial(search, max_results=_PAGE, page_token=token)
        page = guarded(runs.tracking_uri, what, call)
        yield from page
        token = page.token
        if not token:
            return


def server_store_uri() -> str | None:
    """The backend store URI of the ``mlflow server`` this process serves for (None: not one)."""
    return os.environ.get(BACKEND_STORE_ENV) or None


class ServerRuns(MonitorRuns):
    """``MonitorRuns`` with what the dashboard's links need: a run's experiment, kind and files."""

    def run_ref(self, run_id: str) -> RunRef | None:
        """The run's experiment and kind; None when no such run exists."""
        try:
            run = self._client.get_run(run_id)
        except MlflowException:
            return None
        except OSError as exc:
            raise RegistryError(f"MLflow unreachable at {self.tracking_uri}: {exc}") from None
        tags = dict(run.data.tags)
        return RunRef(run_id, str(run.info.experiment_id), tags.get(TAG_KIND))

    def list_files(self, run_id: str, folder: str) -> list[str]:
        """The paths of the files directly in a run's artifact ``folder`` (empty when none)."""
        listed = guarded(
            self.tracking_uri,
            f"listing {folder} of run {run_id}",
            lambda: self._client.list_artifacts(run_id, folder),
        )
        return sorted(str(f.path) for f in listed if not f.is_dir)


def install_proxied_artifacts() -> None:
    """Let this server process read its own ``mlflow-artifacts:`` run roots.

    Such a URI means "ask the tracking server", which MLflow's client can only do over HTTP.
    Inside the server that proxies them (``--serve-artifacts``) the dashboard reads the store
    directly, so the root is resolved against ``--artifacts-destination`` as
    ``mlflow.server.handlers`` does. Registered for the scheme, it changes nothing where MLflow
    already knows what to do (an HTTP tracking URI, or a server that does not serve artifacts).
    """
    _artifact_repository_registry.register("mlflow-artifacts", _proxied_repository)


def _proxied_repository(
    artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None
) -> ArtifactRepository:
    local = _proxied_root(artifact_uri)
    effective = tracking_uri or get_tracking_uri()
    if local is None or urlparse(effective).scheme in ("http", "https"):
        return MlflowArtifactsRepository(
            artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri
        )
    return get_artifact_repository(local)


def _proxied_root(artifact_uri: str) -> str | None:
    """Where a ``mlflow-artifacts:`` root lives when this process serves proxied artifacts."""
    destination = os.environ.get(ARTIFACTS_DESTINATION_ENV)
    serving = os.environ.get(SERVE_ARTIFACTS_ENV, "false") == "true"
    parsed = urlparse(artifact_uri)
    if not destination or not serving or parsed.scheme != "mlflow-artifacts":
        return None
    return posixpath.join(destination.rstrip("/"), parsed.path.lstrip("/"))


# -- hosting the dashboard inside `mlflow server` (ui.plugin) --------------------------------------
def server_flask_app() -> Flask:
    """MLflow's own Flask app (``mlflow.server.app``): what an ``mlflow.app`` plugin decorates."""
    from mlflow.server import app

    flask_app: Flask = app
    return flask_app


def with_basic_auth(app: Flask) -> object:
    """MLflow's basic-auth applied to ``app`` (``mlflow.server.auth.create_app``): the ASGI app
    under uvicorn, else ``app``. Needs ``mlflow[auth]`` (Flask-WTF), as MLflow's own does."""
    from mlflow.server.auth import create_app

    served: object = create_app(app)
    return served


def served_app(app: Flask) -> object:
    """What ``mlflow server`` runs for a plugin: under uvicorn (MLflow 3's default) the ASGI app
    MLflow builds around its Flask app (``create_fastapi_app``), else the Flask app itself."""
    if os.environ.get(SGI_NAME_ENV) != "uvicorn":
        return app
    from mlflow.server.fastapi_app import create_fastapi_app

    served: object = create_fastapi_app(app)
    return served
