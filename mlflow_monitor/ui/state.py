"""What the dashboard reads, once per app: the store, caches, links, and the page data.

``Dashboard`` holds the tracking URI the pages read (the ``--tracking-uri`` standalone, the
server's backend store inside ``mlflow server``), one ``ArtifactCache`` (a finished run's
``results.json`` / ``alerts.json`` is read once per process), and a short TTL cache of the fleet
rows, so the fleet page, the 404 check of every model page and the JSON API cost one registry
read per ``FLEET_TTL_SECONDS`` however many people look.
"""

from __future__ import annotations

import posixpath
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from mlflow_monitor.adapters.mlflow.fleet import RunRef, ServerRuns
from mlflow_monitor.contract import CARD_HTML_FILE, NOTEBOOKS_DIR, REPORTS_DIR
from mlflow_monitor.errors import DataError, RegistryError
from mlflow_monitor.verdicts.promotion import AuditRecord
from mlflow_monitor.verdicts.trends import VersionTrends
from mlflow_monitor.workflows.fleet_view import (
    AlertRow,
    FleetRow,
    alert_rows,
    fleet_rows,
    gate_rows,
)
from mlflow_monitor.workflows.version_trends import ArtifactCache, version_trends

__all__ = ["FLEET_TTL_SECONDS", "Dashboard", "NotFound", "PerModel", "RunFiles", "Settings"]

FLEET_TTL_SECONDS = 10.0
T = TypeVar("T")


class NotFound(LookupError):
    """A model, version, run or file the dashboard does not know; the text says which."""


@dataclass(frozen=True)
class Settings:
    """Where the data comes from and where the MLflow UI is.

    ``mlflow_ui_url``: the MLflow UI's base URL for run links; ``""`` is this same origin (the
    plugin inside ``mlflow server``); None: no links to the MLflow UI.
    """

    tracking_uri: str | None
    mlflow_ui_url: str | None = None
    mode: str = "standalone"  # or "plugin"


@dataclass(frozen=True)
class RunFiles:
    """A run's files the pages link to: executed notebooks, HTML reports, the card."""

    run_id: str
    mlflow_url: str | None
    notebooks: tuple[str, ...]
    reports: tuple[str, ...]
    card: str | None


@dataclass(frozen=True)
class PerModel(Generic[T]):
    """Rows read model by model, and the models that could not be read (name, why)."""

    rows: list[T]
    unreadable: list[tuple[str, str]]


def _per_model(models: Sequence[str], read: Callable[[str], list[T]]) -> PerModel[T]:
    """``read`` each model on its own: one bad model (a name MLflow filters cannot express, a
    broken run) costs its rows only, not the page."""
    rows: list[T] = []
    unreadable: list[tuple[str, str]] = []
    for model in models:
        try:
            rows += read(model)
        except (RegistryError, DataError) as exc:
            unreadable.append((model, str(exc)))
    return PerModel(rows, unreadable)


def _numeric(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)


class _Ttl:
    """One value, recomputed when older than ``seconds`` (or when asked to)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._value: object = None
        self._at = -float("inf")

    def get(self, compute: Callable[[], T], *, fresh: bool = False) -> T:
        with self._lock:
            if fresh or time.monotonic() - self._at > self.seconds:
                self._value = compute()
                self._at = time.monotonic()
            return self._value  # type: ignore[return-value]


class Dashboard:
    """The pages' data, read through the package's workflows on one tracking URI."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runs = ServerRuns(settings.tracking_uri)
        self.tracking_uri = self.runs.tracking_uri
        self.mlflow_ui_url = settings.mlflow_ui_url
        if self.mlflow_ui_url is None and self.tracking_uri.startswith(("http://", "https://")):
            self.mlflow_ui_url = self.tracking_uri.rstrip("/")  # the store is an MLflow server
        self.cache = ArtifactCache()
        self._fleet = _Ttl(FLEET_TTL_SECONDS)
        self._refs: dict[str, RunRef | None] = {}

    # -- pages ------------------------------------------------------------------------------
    def fleet(self, *, fresh: bool = False) -> list[FleetRow]:
        """Every monitored version, worst first (cached for ``FLEET_TTL_SECONDS``)."""
        read = lambda: fleet_rows(runs=self.runs, cache=self.cache)  # noqa: E731
        return self._fleet.get(read, fresh=fresh)

    def models(self) -> list[str]:
        return sorted({row.model for row in self.fleet()})

    def rows_of(self, model: str, version: str | None = None) -> list[FleetRow]:
        """The model's fleet rows (one version's); ``NotFound`` naming what is known."""
        for fresh in (False, True):  # a model monitored a moment ago is not cached yet
            rows = [r for r in self.fleet(fresh=fresh) if r.model == model]
            if version is not None:
                rows = [r for r in rows if r.version == version]
            if rows:
                return rows
        known = ", ".join(self.models()) or "none"
        if version is not None and model in self.models():
            listed = sorted((r.version for r in self.fleet() if r.model == model), key=_numeric)
            versions = ", ".join(listed)
            raise NotFound(
                f"model {model!r} has no monitored version {version!r} (monitored: {versions})"
            )
        raise NotFound(
            f"no monitored model named {model!r} at {self.tracking_uri} (monitored models: {known})"
        )

    def trends(self, model: str, version: str | None = None, *, last: int = 30) -> VersionTrends:
        self.rows_of(model, version)
        return version_trends(
            model, version=version, last=last, tracking_uri=self.tracking_uri, cache=self.cache
        )

    def alerts(self) -> PerModel[AlertRow]:
        """Every model's alert rows, newest window first; a model that cannot be read is named
        in ``unreadable`` and the others still show."""
        read = lambda model: alert_rows([model], runs=self.runs, cache=self.cache)  # noqa: E731
        found = _per_model(self.models(), read)
        rows = sorted(found.rows, key=lambda r: (r.window_end, r.model, r.version), reverse=True)
        return PerModel(rows, found.unreadable)

    def gates(self) -> PerModel[AuditRecord]:
        """Every alias decision, newest first; unreadable models named, the others shown."""
        read = lambda model: gate_rows([model], tracking_uri=self.tracking_uri)  # noqa: E731
        found = _per_model(self.models(), read)
        rows = sorted(found.rows, key=lambda r: (r.at, r.model), reverse=True)
        return PerModel(rows, found.unreadable)

    # -- runs and their files ---------------------------------------------------------------
    def run_ref(self, run_id: str) -> RunRef | None:
        if run_id not in self._refs:
            self._refs[run_id] = self.runs.run_ref(run_id)
        return self._refs[run_id]

    def mlflow_run_url(self, run_id: str) -> str | None:
        """The run's page in the MLflow UI, when the UI's address is known."""
        base = self.mlflow_ui_url
        ref = self.run_ref(run_id) if base is not None else None
        if base is None or ref is None:
            return None
        return f"{base.rstrip('/')}/#/experiments/{ref.experiment_id}/runs/{run_id}"

    def run_files(self, run_id: str) -> RunFiles:
        """The notebooks (``.ipynb``), reports and card a monitoring run logged."""
        notebooks = self.runs.list_files(run_id, NOTEBOOKS_DIR)
        reports = self.runs.list_files(run_id, REPORTS_DIR)
        top = self.runs.list_files(run_id, "")
        return RunFiles(
            run_id=run_id,
            mlflow_url=self.mlflow_run_url(run_id),
            notebooks=tuple(p for p in notebooks if p.endswith(".ipynb")),
            reports=tuple(p for p in reports if p.endswith(".html")),
            card=CARD_HTML_FILE if CARD_HTML_FILE in top else None,
        )

    def artifact(self, run_id: str, path: str, dst: Path) -> Path:
        """A monitoring run's file, downloaded into ``dst``; ``NotFound`` for anything else."""
        clean = posixpath.normpath(path)
        if clean.startswith(("/", "..")) or "\\" in path or clean in (".", ""):
            raise NotFound(f"{path!r} is not a file of run {run_id}")
        ref = self.run_ref(run_id)
        if ref is None or ref.kind is None:
            raise NotFound(f"no monitoring run {run_id!r} at {self.tracking_uri}")
        folder = posixpath.dirname(clean)
        if clean not in self.runs.list_files(run_id, folder):
            raise NotFound(f"run {run_id} has no file {clean!r}")
        return self.runs.download(run_id, clean, dst)

    def has_file(self, run_id: str, path: str) -> bool:
        return path in self.runs.list_files(run_id, posixpath.dirname(path))
