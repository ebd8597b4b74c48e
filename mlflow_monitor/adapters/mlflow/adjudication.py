"""Alert adjudications (ack, dismiss, reopen) and silences, kept in MLflow as append-only runs.

Storage: one FINISHED run per record in the model's experiment ``monitor/<model>``, tagged
``monitor.kind=adjudication`` or ``monitor.kind=silence``, its fields as tags under
``monitor.adjudication.*`` / ``monitor.silence.*``. Why runs, as for the alias audit records
(``audit_log``): appending is a create, so two people deciding at once cannot overwrite each
other; the history of a version is one ``search_runs``; every record shows in the MLflow UI.
A silence is never changed except by ``end``, which adds ``ended_at``/``ended_by`` tags (the
record of who set it stays). A model-wide silence is tagged ``monitor.model_version=*``.

Records are read back as the pure types of ``verdicts.escalation``, which decides what they mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TypeVar, cast

from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException

from mlflow_monitor.adapters.mlflow.client import client, filter_value, guarded
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import (
    KIND_ADJUDICATION,
    KIND_SILENCE,
    TAG_ADJUDICATION_PREFIX,
    TAG_KIND,
    TAG_MODEL_NAME,
    TAG_MODEL_VERSION,
    TAG_SILENCE_PREFIX,
    experiment_name,
    parse_utc,
    utc_text,
)
from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import Severity
from mlflow_monitor.verdicts.escalation import Adjudication, AdjudicationAction, Silence

__all__ = ["ALL_VERSIONS", "AdjudicationLog"]

ALL_VERSIONS = "*"
_REASON_CHARS = 2000
_PAGE = 1000
T = TypeVar("T")


class AdjudicationLog:
    """Append and read adjudications and silences of models on one tracking URI."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.runs = MonitorRuns(tracking_uri)
        self._client = client(tracking_uri)
        self.tracking_uri = self._client.tracking_uri

    def _call(self, what: str, func: Callable[[], T]) -> T:
        return guarded(self.tracking_uri, what, func)

    # -- adjudications ------------------------------------------------------------------------
    def append(self, record: Adjudication) -> Adjudication:
        """Store one decision as a new FINISHED run; returns it with its ``record_id``."""
        fields = {
            "action": record.action,
            "key": record.key,
            "check": record.check_id,
            "user": record.user,
            "at": utc_text(record.at, precise=True),
            "reason": record.reason[:_REASON_CHARS],
            "severity": record.severity or "",
            "effect": "" if record.effect is None else repr(record.effect),
        }
        tags = {TAG_ADJUDICATION_PREFIX + k: v for k, v in fields.items()}
        name = f"{record.action} {record.check_id} v{record.version}"[:250]
        run_id = self.runs.start_run(
            record.model, record.version, kind=KIND_ADJUDICATION, run_name=name, tags=tags
        )
        self.runs.end_run(run_id, "FINISHED")
        return replace(record, record_id=run_id)

    def history(self, model: str, version: str | None = None) -> list[Adjudication]:
        """The decisions about ``model`` (or one version), oldest first."""
        parts = [f"tags.`{TAG_KIND}` = '{KIND_ADJUDICATION}'"]
        if version is not None:
            parts.append(f"tags.`{TAG_MODEL_VERSION}` = {filter_value(str(version))}")
        records = [_adjudication(r) for r in self._search(model, " and ".join(parts))]
        return sorted(records, key=lambda r: (r.at, r.record_id))

    # -- silences -----------------------------------------------------------------------------
    def add_silence(self, silence: Silence) -> Silence:
        """Store a silence as a new FINISHED run; returns it with its id (the run id)."""
        fields = {
            "until": utc_text(silence.until, precise=True),
            "reason": silence.reason[:_REASON_CHARS],
            "user": silence.user,
            "created_at": utc_text(silence.created_at, precise=True),
            "check": silence.check or "",
            "channel": silence.channel or "",
        }
        tags = {TAG_SILENCE_PREFIX + k: v for k, v in fields.items()}
        version = silence.version or ALL_VERSIONS
        run_id = self.runs.start_run(
            silence.model,
            version,
            kind=KIND_SILENCE,
            run_name=f"silence {silence.scope}"[:250],
            tags=tags,
        )
        self.runs.end_run(run_id, "FINISHED")
        return replace(silence, silence_id=run_id)

    def silences(self, model: str) -> list[Silence]:
        """Every silence of ``model`` (ended and expired ones too), oldest first."""
        found = self._search(model, f"tags.`{TAG_KIND}` = '{KIND_SILENCE}'")
        return sorted((_silence(r) for r in found), key=lambda s: (s.created_at, s.silence_id))

    def silence(self, silence_id: str) -> Silence:
        """One silence by id; ``DataError`` naming the id when there is no such silence."""
        try:
            run = self._client.get_run(silence_id)
        except MlflowException:
            raise DataError(f"silence {silence_id}: no such silence") from None
        except OSError as exc:
            raise DataError(f"MLflow unreachable at {self.tracking_uri}: {exc}") from None
        if run.data.tags.get(TAG_KIND) != KIND_SILENCE:
            raise DataError(f"silence {silence_id}: no such silence (that run is no silence)")
        return _silence(run)

    def end_silence(self, silence_id: str, *, user: str, at: datetime) -> Silence:
        """End a silence now (it stays listed, with who ended it and when)."""
        found = self.silence(silence_id)
        tags = {
            TAG_SILENCE_PREFIX + "ended_at": utc_text(at, precise=True),
            TAG_SILENCE_PREFIX + "ended_by": user,
        }
        self.runs.set_run_tags(silence_id, tags)
        return replace(found, ended_at=at, ended_by=user)

    # -- reading ------------------------------------------------------------------------------
    def _search(self, model: str, query: str) -> list[Run]:
        experiment = self._call(
            f"opening experiment {experiment_name(model)}",
            lambda: self._client.get_experiment_by_name(experiment_name(model)),
        )
        if experiment is None:
            return []
        found: list[Run] = []
        token: str | None = None
        while True:
            page = self._call(
                "searching alert decisions",
                lambda t=token: self._client.search_runs(  # type: ignore[misc]
                    [experiment.experiment_id],
                    query,
                    ViewType.ACTIVE_ONLY,
                    max_results=_PAGE,
                    page_token=t,
                ),
            )
            found += list(page)
            token = page.token
            if not token:
                break
        return found


def _fields(run: Run, prefix: str) -> Mapping[str, str]:
    tags = run.data.tags
    return {k[len(prefix) :]: v for k, v in tags.items() if k.startswith(prefix)}


def _adjudication(run: Run) -> Adjudication:
    f = _fields(run, TAG_ADJUDICATION_PREFIX)
    tags = run.data.tags
    effect = f.get("effect", "")
    return Adjudication(
        action=cast(AdjudicationAction, f.get("action", "ack")),
        model=tags.get(TAG_MODEL_NAME, ""),
        version=tags.get(TAG_MODEL_VERSION, ""),
        key=f.get("key", ""),
        check_id=f.get("check", ""),
        user=f.get("user", ""),
        at=parse_utc(f["at"]),
        reason=f.get("reason", ""),
        severity=cast(Severity, f["severity"]) if f.get("severity") else None,
        effect=float(effect) if effect else None,
        record_id=run.info.run_id,
    )


def _silence(run: Run) -> Silence:
    f = _fields(run, TAG_SILENCE_PREFIX)
    tags = run.data.tags
    version = tags.get(TAG_MODEL_VERSION, ALL_VERSIONS)
    return Silence(
        silence_id=run.info.run_id,
        model=tags.get(TAG_MODEL_NAME, ""),
        until=parse_utc(f["until"]),
        reason=f.get("reason", ""),
        user=f.get("user", ""),
        created_at=parse_utc(f["created_at"]),
        version=None if version == ALL_VERSIONS else version,
        check=f.get("check") or None,
        channel=f.get("channel") or None,
        ended_at=parse_utc(f["ended_at"]) if f.get("ended_at") else None,
        ended_by=f.get("ended_by") or None,
    )
