"""Monitoring and baseline runs in MLflow: start, log (metrics, tags, artifacts), end; version
and registered-model tags.

``MonitorRuns`` wraps one ``MlflowClient`` and turns every MLflow failure into a ``RegistryError``
with one line that says what failed ("model version churn/7 not found", "MLflow unreachable at
http://... while logging metrics"). Metrics are logged in batches of at most 1,000 with the
window end as timestamp so trends line up across runs (DESIGN.md section 4).
"""

from __future__ import annotations

import functools
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlparse

from mlflow.entities import Metric, Param, Run, RunTag, ViewType
from mlflow.exceptions import MlflowException

from mlflow_monitor.adapters.mlflow.client import (
    client,
    describe_failure,
    filter_value,
    guarded,
    quiet_downloads,
)
from mlflow_monitor.adapters.processes import process_alive
from mlflow_monitor.contract import (
    KIND_WINDOW,
    TAG_BASELINE_RUN,
    TAG_HEALTH,
    TAG_HEALTH_REASON,
    TAG_HEARTBEAT,
    TAG_HOST,
    TAG_KIND,
    TAG_LAST_CHECKED,
    TAG_LAST_ERROR,
    TAG_LAST_ERROR_AT,
    TAG_LAST_ERROR_RUN,
    TAG_LAST_RUN,
    TAG_MODEL_NAME,
    TAG_MODEL_VERSION,
    TAG_PARTIAL,
    TAG_PID,
    TAG_SUPERSEDED_BY,
    TAG_TOP_FINDING,
    TAG_WINDOW_END,
    TAG_WINDOW_START,
    MetricValue,
    experiment_name,
    parse_utc,
    safe_metric_name,
    utc_now,
    utc_text,
)
from mlflow_monitor.errors import RegistryError
from mlflow_monitor.verdicts.window_state import Attempt

__all__ = [
    "MonitorRuns",
    "RunStatus",
    "RunSummary",
    "VersionState",
]

_BATCH = 1000
_PAGE = 1000  # runs per search page
ABANDONED_AFTER_SECONDS = 600.0  # 20 missed heartbeats (workflows.run_steps.heartbeat)
_TAG_VALUE_MAX = 5000

RunStatus = Literal["FINISHED", "FAILED"]
T = TypeVar("T")


@dataclass(frozen=True)
class VersionState:
    """What the registry records about one model version's monitoring."""

    model: str
    version: str
    health: str | None
    last_checked: str | None
    last_run_id: str | None
    baseline_run_id: str | None
    reason: str | None
    aliases: tuple[str, ...]
    source_run_id: str | None
    window_start: str | None = None  # the verdict's window
    window_end: str | None = None
    last_error: str | None = None  # the last failed attempt, beside the verdict
    last_error_run_id: str | None = None
    last_error_at: str | None = None
    legacy_error: bool = False  # written by a release that stored failures as health "error"
    top_finding: str | None = None  # the verdict's first finding ("check_id: message")
    partial: bool = False  # the verdict's critical check not evaluated (tag monitor.partial)


@dataclass(frozen=True)
class RunSummary:
    """A finished monitoring or baseline run, as far as status and history need it."""

    run_id: str
    status: str
    start_time_ms: int
    tags: Mapping[str, str]


class MonitorRuns:
    """Runs, metrics, artifacts and version tags of one model's monitoring, on one tracking URI."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self._client = client(tracking_uri)
        self.tracking_uri = self._client.tracking_uri

    # -- errors -----------------------------------------------------------------------------
    def _call(self, what: str, func: Callable[[], T]) -> T:
        return guarded(self.tracking_uri, what, func)

    def _describe(self, what: str, exc: MlflowException) -> str:
        return describe_failure(self.tracking_uri, what, exc)

    # -- versions ---------------------------------------------------------------------------
    def version(self, model: str, version: str) -> VersionState:
        """The version's monitoring state; ``RegistryError`` naming it when it does not exist."""
        try:
            mv = self._client.get_model_version(model, str(version))
        except MlflowException as exc:
            if exc.error_code in (
                "RESOURCE_DOES_NOT_EXIST",
                "NOT_FOUND",
                "INVALID_PARAMETER_VALUE",
            ):
                raise RegistryError(
                    f"model version {model}/{version} not found in the registry at "
                    f"{self.tracking_uri}"
                ) from None
            raise RegistryError(
                self._describe(f"reading model version {model}/{version}", exc)
            ) from None
        except OSError as exc:
            raise RegistryError(f"MLflow unreachable at {self.tracking_uri}: {exc}") from None
        return _version_state(mv)

    def versions(self, model: str | None = None) -> list[VersionState]:
        """Every version of ``model`` (or of every registered model), newest first per model."""
        filter_string = f"name = {filter_value(model)}" if model else None
        found = self._call(
            "listing model versions",
            lambda: list(self._client.search_model_versions(filter_string=filter_string)),
        )
        aliases = self._aliases({mv.name for mv in found})
        states = [_version_state(mv, aliases) for mv in found]
        return sorted(states, key=lambda s: (s.model, -_as_int(s.version)))

    def _aliases(self, models: set[str]) -> dict[tuple[str, str], tuple[str, ...]]:
        """``(model, version) -> aliases``: version search results carry none, the model does."""
        found: dict[tuple[str, str], list[str]] = {}
        for name in sorted(models):
            read = functools.partial(self._client.get_registered_model, name)
            registered = self._call(f"reading registered model {name}", read)
            for alias, version in (getattr(registered, "aliases", None) or {}).items():
                found.setdefault((name, str(version)), []).append(alias)
        return {key: tuple(sorted(names)) for key, names in found.items()}

    def set_version_tags(self, model: str, version: str, tags: Mapping[str, str]) -> None:
        """Set tags on a model version (values truncated to MLflow's limit)."""
        for key, value in tags.items():
            tag = functools.partial(
                self._client.set_model_version_tag, model, str(version), key, value[:_TAG_VALUE_MAX]
            )
            self._call(f"tagging model version {model}/{version}", _retrying_insert_race(tag))

    # -- registered models ----------------------------------------------------------------------
    def model_tags(self, model: str) -> dict[str, str]:
        """The registered model's tags."""
        read = functools.partial(self._client.get_registered_model, model)
        registered = self._call(f"reading registered model {model}", read)
        return dict(getattr(registered, "tags", None) or {})

    def set_model_tags(self, model: str, tags: Mapping[str, str]) -> None:
        """Set tags on the registered model (values truncated to MLflow's limit)."""
        for key, value in tags.items():
            tag = functools.partial(
                self._client.set_registered_model_tag, model, key, value[:_TAG_VALUE_MAX]
            )
            self._call(f"tagging registered model {model}", _retrying_insert_race(tag))

    def delete_model_tag(self, model: str, key: str) -> None:
        """Remove a tag of the registered model (it must exist: read ``model_tags`` first)."""
        delete = functools.partial(self._client.delete_registered_model_tag, model, key)
        self._call(f"untagging registered model {model}", delete)

    # -- runs ---------------------------------------------------------------------------------
    def experiment_id(self, model: str) -> str:
        """The ``monitor/<model>`` experiment, created on first use."""
        name = experiment_name(model)

        def _get_or_create() -> str:
            found = self._client.get_experiment_by_name(name)
            if found is not None:
                return str(found.experiment_id)
            return str(self._client.create_experiment(name, artifact_location=self._artifacts()))

        return self._call(f"opening experiment {name}", _get_or_create)

    def _artifacts(self) -> str | None:
        """Next to a local SQLite store, artifacts go in ``mlartifacts/`` beside the db file."""
        parsed = urlparse(self.tracking_uri)
        if parsed.scheme != "sqlite":
            return None
        db = Path(self.tracking_uri.removeprefix("sqlite:///"))
        if not db.is_absolute():
            db = Path.cwd() / db
        return (db.parent / "mlartifacts").as_uri()

    def start_run(
        self, model: str, version: str, *, kind: str, run_name: str, tags: Mapping[str, str]
    ) -> str:
        """Start a run in ``monitor/<model>`` tagged with the model, version, kind and process."""
        experiment = self.experiment_id(model)
        all_tags = {
            TAG_KIND: kind,
            TAG_MODEL_NAME: model,
            TAG_MODEL_VERSION: str(version),
            TAG_HOST: socket.gethostname(),
            TAG_PID: str(os.getpid()),
            **tags,
        }
        run = self._call(
            "starting a run",
            lambda: self._client.create_run(experiment, tags=all_tags, run_name=run_name),
        )
        return str(run.info.run_id)

    def end_run(self, run_id: str, status: RunStatus) -> None:
        """End a run FINISHED or FAILED."""
        self._call(f"ending run {run_id}", lambda: self._client.set_terminated(run_id, status))

    def rename_run(self, run_id: str, name: str) -> None:
        """Give a run the name the MLflow UI lists it by."""
        self._call(f"renaming run {run_id}", lambda: self._client.update_run(run_id, name=name))

    def set_run_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Set several tags on a run in one call."""
        batch = [RunTag(k, v[:_TAG_VALUE_MAX]) for k, v in tags.items()]
        self._call("tagging the run", lambda: self._client.log_batch(run_id, tags=batch))

    def run_tag(self, run_id: str, key: str) -> str | None:
        """A run's tag ``key`` (None when the run lacks it)."""
        run = self._call(f"reading run {run_id}", lambda: self._client.get_run(run_id))
        value = run.data.tags.get(key)
        return str(value) if value is not None else None

    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        """Log run parameters (never a resolved secret: callers pass spec values only)."""
        batch = [Param(k, v[:6000]) for k, v in params.items()]
        self._call("logging parameters", lambda: self._client.log_batch(run_id, params=batch))

    def log_metrics(self, run_id: str, metrics: Sequence[MetricValue], timestamp_ms: int) -> None:
        """Log metrics under safe names, all stamped ``timestamp_ms``, in batches of <= 1000."""
        entities = [
            Metric(safe_metric_name(m.name), float(m.value), int(timestamp_ms), 0) for m in metrics
        ]
        for start in range(0, len(entities), _BATCH):
            chunk = entities[start : start + _BATCH]
            log = functools.partial(self._client.log_batch, run_id, metrics=chunk)
            self._call("logging metrics", log)

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str | None = None) -> None:
        """Upload a directory's files under ``artifact_path``."""
        self._call(
            f"uploading {artifact_path or 'artifacts'}",
            lambda: self._client.log_artifacts(run_id, str(local_dir), artifact_path),
        )

    def log_file(self, run_id: str, local_file: Path, artifact_path: str | None = None) -> None:
        """Upload one file under ``artifact_path``."""
        self._call(
            f"uploading {local_file.name}",
            lambda: self._client.log_artifact(run_id, str(local_file), artifact_path),
        )

    def download(self, run_id: str, path: str, dst: Path) -> Path:
        """Download a run's artifact (file or directory) into ``dst``; returns the local path."""
        dst.mkdir(parents=True, exist_ok=True)
        with quiet_downloads():
            local = self._call(
                f"downloading {path} from run {run_id}",
                lambda: self._client.download_artifacts(run_id, path, str(dst)),
            )
        return Path(local)

    def read_json(self, run_id: str, path: str) -> object | None:
        """A JSON artifact of a run, or None when the run has no such file."""
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self.download(run_id, path, Path(tmp))
            except RegistryError:
                return None
            parsed: object = json.loads(local.read_text())
            return parsed

    def monitor_runs(
        self, model: str, version: str, *, status: str | None = None, limit: int = 100
    ) -> list[RunSummary]:
        """Monitoring (window) runs of a version, newest first; optionally of one status."""
        experiment = self._client.get_experiment_by_name(experiment_name(model))
        if experiment is None:
            return []
        parts = [
            f"tags.`{TAG_MODEL_VERSION}` = {filter_value(version)}",
            f"tags.`{TAG_KIND}` = '{KIND_WINDOW}'",
        ]
        if status:
            parts.append(f"attributes.status = '{status}'")
        found = self._call(
            "searching monitoring runs",
            lambda: self._client.search_runs(
                [experiment.experiment_id],
                " and ".join(parts),
                ViewType.ACTIVE_ONLY,
                max_results=limit,
                order_by=["attributes.start_time DESC"],
            ),
        )
        return [
            RunSummary(r.info.run_id, r.info.status, int(r.info.start_time or 0), dict(r.data.tags))
            for r in found
        ]

    def window_attempts(self, model: str, version: str) -> list[Attempt]:
        """Every window run of a version (any status), paginated: what its state is settled from."""
        return [_attempt(r) for r in self._window_runs(model, version)]

    def window_records(self, model: str, version: str) -> list[tuple[Attempt, dict[str, float]]]:
        """Every window run of a version with its logged metrics (latest values, MLflow names)."""
        return [(_attempt(r), dict(r.data.metrics)) for r in self._window_runs(model, version)]

    def _window_runs(self, model: str, version: str) -> list[Run]:
        experiment = self._client.get_experiment_by_name(experiment_name(model))
        if experiment is None:
            return []
        query = (
            f"tags.`{TAG_MODEL_VERSION}` = {filter_value(version)} "
            f"and tags.`{TAG_KIND}` = '{KIND_WINDOW}'"
        )
        found: list[Run] = []
        token: str | None = None
        while True:
            search = functools.partial(
                self._client.search_runs,
                [experiment.experiment_id],
                query,
                ViewType.ACTIVE_ONLY,
                max_results=_PAGE,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )
            page = self._call("listing window runs", search)
            found += list(page)
            token = page.token
            if not token:
                return found

    def record_verdict(self, model: str, version: str, verdict: Attempt | None) -> None:
        """Point the version's health, last run and window at the verdict (None: no verdict)."""
        if verdict is None:
            return
        self.set_version_tags(
            model,
            version,
            {
                TAG_HEALTH: verdict.health or "",
                TAG_LAST_RUN: verdict.run_id,
                TAG_WINDOW_START: verdict.window_start or "",
                TAG_WINDOW_END: verdict.window_end or "",
                TAG_LAST_CHECKED: utc_text(utc_now()),
                TAG_HEALTH_REASON: "",
                TAG_TOP_FINDING: verdict.top_finding or "",
                TAG_PARTIAL: "true" if verdict.partial else "",
            },
        )

    def clear_health(self, model: str, version: str) -> None:
        """Remove the health tag: the version has no verdict (every attempt failed)."""
        delete = functools.partial(
            self._client.delete_model_version_tag, model, str(version), TAG_HEALTH
        )
        self._call(f"untagging model version {model}/{version}", delete)

    def record_error(self, model: str, version: str, run_id: str | None, reason: str) -> None:
        """Record a failed attempt beside the verdict (the health tags are left alone)."""
        tags = {TAG_LAST_ERROR: reason, TAG_LAST_ERROR_AT: utc_text(utc_now(), precise=True)}
        tags[TAG_LAST_ERROR_RUN] = run_id or ""
        self.set_version_tags(model, version, tags)

    def clear_error(self, model: str, version: str) -> None:
        """A later attempt finished: the recorded failure is history (its run stays FAILED)."""
        tags = {TAG_LAST_ERROR: "", TAG_LAST_ERROR_RUN: "", TAG_LAST_ERROR_AT: ""}
        self.set_version_tags(model, version, tags)

    def run_is_active(self, run_id: str) -> bool:
        """The run exists and is not (soft-)deleted: a deleted baseline is no baseline.

        The one rule for ``run`` and the gate alike; an unreachable server is a ``RegistryError``.
        """
        try:
            run = self._client.get_run(run_id)
        except MlflowException:  # an unknown run id
            return False
        except OSError as exc:
            raise RegistryError(f"MLflow unreachable at {self.tracking_uri}: {exc}") from None
        return str(run.info.lifecycle_stage) == "active"

    def fail_abandoned_runs(
        self, model: str, version: str, *, silent_seconds: float = ABANDONED_AFTER_SECONDS
    ) -> list[str]:
        """End FAILED every RUNNING window run of this version whose attempt is gone.

        Gone: its process on this host has exited, or (from any host) its heartbeat, or its
        start when it never beat, is older than ``silent_seconds``. A run whose tracking server
        vanished mid-way cannot be ended at the time; the next run finishes that bookkeeping.
        """
        ended: list[str] = []
        now_ms = utc_now().timestamp() * 1000
        for summary in self.monitor_runs(model, version, status="RUNNING"):
            if _abandoned(summary, now_ms, silent_seconds):
                self.set_run_tags(summary.run_id, {TAG_HEALTH_REASON: "monitoring process died"})
                self.end_run(summary.run_id, "FAILED")
                ended.append(summary.run_id)
        return ended


def _abandoned(summary: RunSummary, now_ms: float, silent_seconds: float) -> bool:
    pid = _as_int(summary.tags.get(TAG_PID, ""))
    if pid == os.getpid():
        return False
    if summary.tags.get(TAG_HOST) == socket.gethostname() and pid > 0 and not process_alive(pid):
        return True
    beat = summary.tags.get(TAG_HEARTBEAT)
    last_ms = parse_utc(beat).timestamp() * 1000 if beat else float(summary.start_time_ms)
    return now_ms - last_ms > silent_seconds * 1000


def _attempt(run: object) -> Attempt:
    info, tags = run.info, run.data.tags  # type: ignore[attr-defined]
    return Attempt(
        run_id=str(info.run_id),
        status=str(info.status),
        started_ms=int(info.start_time or 0),
        window_start=tags.get(TAG_WINDOW_START) or None,
        window_end=tags.get(TAG_WINDOW_END) or None,
        health=tags.get(TAG_HEALTH) or None,
        superseded_by=tags.get(TAG_SUPERSEDED_BY) or None,
        top_finding=tags.get(TAG_TOP_FINDING),
        partial=tags.get(TAG_PARTIAL) == "true",
    )


def _version_state(
    mv: object, aliases: Mapping[tuple[str, str], tuple[str, ...]] | None = None
) -> VersionState:
    tags: dict[str, str] = dict(getattr(mv, "tags", {}) or {})
    legacy_error = tags.get(TAG_HEALTH) == "error"  # before 0.2 a failure replaced the verdict
    if legacy_error:
        tags[TAG_HEALTH] = ""
        tags.setdefault(TAG_LAST_ERROR, tags.get(TAG_HEALTH_REASON) or "monitoring failed")
        tags.setdefault(TAG_LAST_ERROR_RUN, tags.get(TAG_LAST_RUN, ""))
    return VersionState(
        model=str(getattr(mv, "name", "")),
        version=str(getattr(mv, "version", "")),
        health=tags.get(TAG_HEALTH) or None,
        last_checked=tags.get(TAG_LAST_CHECKED),
        last_run_id=tags.get(TAG_LAST_RUN),
        baseline_run_id=tags.get(TAG_BASELINE_RUN),
        reason=tags.get(TAG_HEALTH_REASON) or None,
        aliases=(aliases or {}).get(
            (str(getattr(mv, "name", "")), str(getattr(mv, "version", ""))),
            tuple(getattr(mv, "aliases", ()) or ()),
        ),
        source_run_id=getattr(mv, "run_id", None),
        window_start=tags.get(TAG_WINDOW_START) or None,
        window_end=tags.get(TAG_WINDOW_END) or None,
        last_error=tags.get(TAG_LAST_ERROR) or None,
        last_error_run_id=tags.get(TAG_LAST_ERROR_RUN) or None,
        last_error_at=tags.get(TAG_LAST_ERROR_AT) or None,
        legacy_error=legacy_error,
        top_finding=tags.get(TAG_TOP_FINDING),
        partial=tags.get(TAG_PARTIAL) == "true",
    )


def _as_int(text: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return -1


_RACE_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8)  # seconds before each retry of a lost insert race
_RACE_TEXTS = ("unique constraint failed", "duplicate key value violates unique constraint")


def _retrying_insert_race(func: Callable[[], T]) -> Callable[[], T]:
    """``func`` retried when it lost an insert race on a new tag key.

    MLflow's SQL store sets a tag by reading it and inserting it when absent; two processes
    setting the same new key at once (two versions of one model finishing together write the
    model's health tags) make one fail with a unique-constraint error (SQLite: 15 of 80 calls
    of two racing processes). Tried again, the read finds the row and updates it.
    """

    def call() -> T:
        for pause in _RACE_PAUSES:
            try:
                return func()
            except MlflowException as exc:
                if not any(text in str(exc.message).lower() for text in _RACE_TEXTS):
                    raise
                time.sleep(pause)
        return func()

    return call

