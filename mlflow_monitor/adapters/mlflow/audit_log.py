"""Registry aliases, the audit trail of their moves, and the facts a promotion gate decides on.

MLflow keeps no history of alias moves; this module keeps it. Storage: one MLflow run per
decision in the model's experiment ``monitor/<model>``, tagged ``monitor.kind=audit``, with the
whole record as the artifact ``audit.json`` and its key fields (alias, decision, version,
previous holder, user, time) as run tags. Why a run per decision rather than one shared run or
registered-model tags: appending is a create, so two people promoting at once cannot overwrite
each other (no read-modify-write); runs, tags and artifacts behave the same on SQLite, the HTTP
server and PostgreSQL; tag values stay far below MLflow's length limits whatever the evidence
holds; the history is one ``search_runs`` call; and every record is visible in the MLflow UI.

Only this module (with the rest of ``registry/``) talks to MLflow; ``gate.py`` turns the plain
facts returned here into its typed decision inputs and records.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from mlflow_monitor.adapters.mlflow.client import client, filter_value, guarded
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns, VersionState
from mlflow_monitor.contract import (
    AUDIT_FILE,
    CARD_MARKDOWN_FILE,
    KIND_AUDIT,
    TAG_AUDIT_ALIAS,
    TAG_AUDIT_AT,
    TAG_CARD_RUN,
    TAG_KIND,
    experiment_name,
)
from mlflow_monitor.errors import RegistryError

__all__ = [
    "AliasRegistry",
    "GateFacts",
    "StoredAudit",
]

_PAGE = 1000

T = TypeVar("T")


@dataclass(frozen=True)
class StoredAudit:
    """One stored audit record: its run, its index tags and the parsed ``audit.json``."""

    run_id: str
    tags: Mapping[str, str]
    record: object | None
    status: str = "FINISHED"  # RUNNING: an intent whose move may still be under way


@dataclass(frozen=True)
class GateFacts:
    """What the registry holds about a version that a gate looks at (read, not judged)."""

    state: VersionState
    baseline_present: bool
    card_present: bool
    results: object | None


class AliasRegistry:
    """Aliases, audit records and gate facts of registered models on one tracking URI."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.runs = MonitorRuns(tracking_uri)
        self.tracking_uri = self.runs.tracking_uri
        self._client = client(tracking_uri)

    def _call(self, what: str, func: Callable[[], T]) -> T:
        return guarded(self.tracking_uri, what, func)

    # -- aliases ----------------------------------------------------------------------------
    def alias_version(self, model: str, alias: str) -> str | None:
        """The version ``model@alias`` points at, or None when the alias is not set."""
        try:
            return str(self._client.get_model_version_by_alias(model, alias).version)
        except MlflowException as exc:
            if exc.error_code in (
                "INVALID_PARAMETER_VALUE",
                "RESOURCE_DOES_NOT_EXIST",
                "NOT_FOUND",
            ):
                return None
            text = (str(exc.message).strip().splitlines() or [""])[0][:300]
            raise RegistryError(
                f"MLflow error while reading alias {model}@{alias}: {text}"
            ) from None
        except OSError as exc:
            raise RegistryError(f"MLflow unreachable at {self.tracking_uri}: {exc}") from None

    def model_aliases(self, model: str | None = None) -> dict[str, dict[str, str]]:
        """Model name -> {alias: version}, of ``model`` or of every registered model."""
        if model is not None:
            one = self._call(
                f"reading model {model}", lambda: self._client.get_registered_model(model)
            )
            found = [one]
        else:
            found = []
            token: str | None = None
            while True:
                page = self._call(
                    "listing registered models",
                    lambda t=token: self._client.search_registered_models(  # type: ignore[misc]
                        max_results=_PAGE, page_token=t
                    ),
                )
                found += list(page)
                token = page.token
                if not token:
                    break
        return {m.name: {a: str(v) for a, v in (m.aliases or {}).items()} for m in found}

    def set_alias(self, model: str, alias: str, version: str) -> None:
        """Point ``model@alias`` at ``version`` (a registry alias, never a stage)."""
        self._call(
            f"setting alias {model}@{alias}",
            lambda: self._client.set_registered_model_alias(model, alias, str(version)),
        )

    def delete_alias(self, model: str, alias: str) -> None:
        """Remove ``model@alias`` (used to undo a move whose audit could not be written)."""
        self._call(
            f"deleting alias {model}@{alias}",
            lambda: self._client.delete_registered_model_alias(model, alias),
        )

    # -- audit records ------------------------------------------------------------------------
    def append_audit(
        self, model: str, version: str, record: object, tags: Mapping[str, str], *, run_name: str
    ) -> str:
        """Store one audit record as a new FINISHED run; returns its run id."""
        run_id = self.runs.start_run(model, version, kind=KIND_AUDIT, run_name=run_name, tags=tags)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / AUDIT_FILE
            path.write_text(json.dumps(record, indent=2, sort_keys=True))
            try:
                self.runs.log_file(run_id, path)
            except RegistryError:
                self.runs.end_run(run_id, "FAILED")
                raise
        self.runs.end_run(run_id, "FINISHED")
        return run_id

    def begin_audit(
        self, model: str, version: str, record: object, tags: Mapping[str, str], *, run_name: str
    ) -> str:
        """Store an audit record as an intent: the run stays RUNNING until ``end_audit``.

        A move is recorded before it is made, so the registry's event of the move (a webhook)
        always finds its record (``audit_runs(pending=True)``); history reads FINISHED runs only.
        """
        run_id = self.runs.start_run(model, version, kind=KIND_AUDIT, run_name=run_name, tags=tags)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / AUDIT_FILE
            path.write_text(json.dumps(record, indent=2, sort_keys=True))
            try:
                self.runs.log_file(run_id, path)
            except RegistryError:
                self.runs.end_run(run_id, "FAILED")
                raise
        return run_id

    def end_audit(self, run_id: str, *, moved: bool) -> None:
        """FINISHED once the move was made; FAILED when it was not (the intent is void)."""
        self.runs.end_run(run_id, "FINISHED" if moved else "FAILED")

    def audit_runs(
        self, model: str, *, alias: str | None = None, pending: bool = False
    ) -> list[StoredAudit]:
        """Audit records' tags (no artifacts read), oldest first; optionally of one alias.

        ``pending=True`` adds the intents still RUNNING (a move under way, or whose process died
        after moving): what an alias event is checked against.
        """
        experiment = self._call(
            f"opening experiment {experiment_name(model)}",
            lambda: self._client.get_experiment_by_name(experiment_name(model)),
        )
        if experiment is None:
            return []
        # FINISHED only: a FAILED audit run is a record that could not be stored (its move undone)
        status = "attributes.status != 'FAILED'" if pending else "attributes.status = 'FINISHED'"
        parts = [f"tags.`{TAG_KIND}` = '{KIND_AUDIT}'", status]
        if alias is not None:
            parts.append(f"tags.`{TAG_AUDIT_ALIAS}` = {filter_value(alias)}")
        found: list[StoredAudit] = []
        token: str | None = None
        while True:
            page = self._call(
                "searching audit records",
                lambda t=token: self._client.search_runs(  # type: ignore[misc]
                    [experiment.experiment_id],
                    " and ".join(parts),
                    ViewType.ACTIVE_ONLY,
                    max_results=_PAGE,
                    order_by=["attributes.start_time ASC"],
                    page_token=t,
                ),
            )
            found += [
                StoredAudit(r.info.run_id, dict(r.data.tags), None, str(r.info.status))
                for r in page
            ]
            token = page.token
            if not token:
                break
        return sorted(found, key=lambda a: a.tags.get(TAG_AUDIT_AT, ""))

    def audit_records(self, model: str, *, alias: str | None = None) -> list[StoredAudit]:
        """Audit records with their ``audit.json`` read, oldest first."""
        return [
            StoredAudit(a.run_id, a.tags, self.runs.read_json(a.run_id, AUDIT_FILE))
            for a in self.audit_runs(model, alias=alias)
        ]

    # -- gate facts ---------------------------------------------------------------------------
    def gate_facts(self, model: str, version: str) -> GateFacts:
        """The version's tags, whether its baseline and card exist, its last results.json."""
        state = self.runs.version(model, version)
        results = None
        if state.last_run_id and self.runs.run_is_active(state.last_run_id):
            results = self.runs.read_json(state.last_run_id, "results.json")
        baseline_id = state.baseline_run_id
        baseline = bool(baseline_id) and self.runs.run_is_active(baseline_id or "")
        return GateFacts(state, baseline, self.card_present(model, version), results)

    def fleet_version_tags(self) -> dict[tuple[str, str], dict[str, str]]:
        """Every version's ``monitor.*`` tags by ``(model, version)``: one paginated search.

        What an exporter reads beside the fleet rows (``monitor.slo``, the judgement
        ``workflows.slo_report`` records) without a call per version.
        """
        found: dict[tuple[str, str], dict[str, str]] = {}
        token: str | None = None
        while True:
            page = self._call(
                "listing model versions",
                lambda t=token: self._client.search_model_versions(  # type: ignore[misc]
                    max_results=_PAGE, page_token=t
                ),
            )
            for mv in page:
                tags = {k: v for k, v in (mv.tags or {}).items() if k.startswith("monitor.")}
                if tags:
                    found[(str(mv.name), str(mv.version))] = tags
            token = page.token
            if not token:
                return found

    def version_health(self, model: str, version: str) -> str | None:
        """The version's ``monitor.health`` tag; None when the version is gone or unchecked."""
        try:
            return self.runs.version(model, version).health
        except RegistryError:
            return None

    def card_present(self, model: str, version: str) -> bool:
        """True when the version's card run (tag ``monitor.card_run_id``) holds model_card.md."""
        mv = self._call(
            f"reading model version {model}/{version}",
            lambda: self._client.get_model_version(model, str(version)),
        )
        run_id = (mv.tags or {}).get(TAG_CARD_RUN)
        if not run_id or not self.runs.run_is_active(run_id):
            return False
        files = self._call(
            f"listing artifacts of run {run_id}", lambda: self._client.list_artifacts(run_id)
        )
        return any(f.path == CARD_MARKDOWN_FILE for f in files)
