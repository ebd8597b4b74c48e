"""Alias moves made around the promotion gate: detect them, record them, alert, and revert.

MLflow lets anyone with registry rights call ``set_registered_model_alias`` (or click in the UI);
the gate only sees what goes through ``promote``. Two ways to notice the rest:

- **Webhook** (MLflow >= 3.3, SQL store): the tracking server posts ``model_version_alias.created``
  to the dashboard (``ui.webhooks``), which calls ``handle_alias_event`` within seconds.
- **Sweep**: ``detect_bypasses`` compares every alias's current version with its audit trail
  (``status`` shows each mismatch; ``settle_bypasses`` handles them, for ``fleet run``).

``handle_alias_event`` steps: an event whose version the alias no longer holds (moved again,
reverted, deleted) is left alone: late and replayed deliveries never judge a move twice, and
what counts is the alias as it is now. Then the alias's audit trail is read with the intents
still RUNNING (``verdicts.promotion.read_alias_move``): a move the monitor made (promote,
rollback and revert record before they move) or one already recorded is left alone. Else,
under the version's alert lease (``adapters.mlflow.alert_state``: one process at a time per
version, so a webhook retried to another worker, or a sweep racing the webhook, records once)
the trail is read again and the alias's gate is judged with the spec stored with the version (the
``monitor.yaml`` copy of its latest window run, else of its baseline run) by the same
``verdicts.promotion.decide`` as ``promote``. A refusal is recorded as ``bypass`` (user
``unknown (webhook)``: the event names nobody; the event's fields are kept), sent as a critical
alert to the spec's channels, and with the gate's ``revert_bypass: true`` the alias goes back to
the version the monitor last put there (deleted when there is none) with a ``revert`` record.
A move the gate would have granted is recorded as ``unaudited`` (no alert): the trail then says
where the alias is, and the next event or sweep finds it recorded.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import yaml

from mlflow_monitor.contract import (
    TAG_AUDIT_AT,
    TAG_AUDIT_DECISION,
    TAG_AUDIT_VERSION,
    utc_text,
)
from mlflow_monitor.errors import MonitorError, RegistryError, SpecError
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.verdicts.alert_plan import AlertsReport
from mlflow_monitor.verdicts.promotion import AliasEntry, AliasMove, AuditRecord, read_alias_move
from mlflow_monitor.workflows.dispatch_alerts import notify_critical
from mlflow_monitor.workflows.promote import judge_gate, record_move, store_record

if TYPE_CHECKING:
    from mlflow_monitor.adapters.mlflow.audit_log import AliasRegistry
    from mlflow_monitor.adapters.mlflow.webhooks import WebhookInfo

__all__ = [
    "BYPASS_CHECK",
    "Bypass",
    "BypassOutcome",
    "WebhookInputError",
    "detect_bypasses",
    "handle_alias_event",
    "list_webhooks",
    "register_webhook",
    "settle_bypasses",
    "stored_spec",
]

BYPASS_CHECK = "gate/bypass"
WEBHOOK_USER = "unknown (webhook)"
SWEEP_USER = "unknown (detected)"
_AFTER = timedelta(microseconds=1)
_LEASE_TTL_SECONDS = 180.0
_LEASE_WAIT_SECONDS = 60.0

OutcomeKind = Literal["ours", "recorded", "bypass", "unaudited", "locked", "moved_on"]


@dataclass(frozen=True)
class Bypass:
    """An alias whose current version no record explains: ``expected`` is where the trail last
    put it (None: never placed by a record)."""

    model: str
    alias: str
    version: str
    expected: str | None
    recorded: bool = False  # True: a ``bypass`` record already holds it (alerted once)

    @property
    def line(self) -> str:
        """``bypass: m@champion -> version 3 (not recorded; the audit trail says version 2)``."""
        where = f"bypass: {self.model}@{self.alias} -> version {self.version}"
        if self.recorded:
            return f"{where} (recorded: the gate refuses it, set outside promote)"
        said = f"version {self.expected}" if self.expected else "no version (never promoted)"
        return f"{where} (not recorded; the audit trail says {said})"


@dataclass(frozen=True)
class BypassOutcome:
    """What handling one alias event did.

    ``ours``/``recorded``: nothing (the move was audited, or already handled); ``bypass``: the
    gate refused, recorded and alerted (``revert`` set when the alias was moved back);
    ``unaudited``: the gate would have granted, recorded; ``locked``: another process held the
    version's lease too long (try again); ``moved_on``: the alias no longer points at the
    event's version (moved again, reverted, deleted; or no such model: MLflow's test delivery):
    a late or replayed event is not judged again, the alias as it is now is what counts.
    """

    model: str
    alias: str
    version: str
    kind: OutcomeKind
    reasons: tuple[str, ...] = ()
    record: AuditRecord | None = None
    revert: AuditRecord | None = None
    alert: AlertsReport | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """JSON-safe summary (the webhook's response body)."""
        return {
            "model": self.model,
            "alias": self.alias,
            "version": self.version,
            "outcome": self.kind,
            "reasons": list(self.reasons),
            "record_run_id": self.record.run_id if self.record else None,
            "revert_run_id": self.revert.run_id if self.revert else None,
            "reverted_to": self.revert.version or None if self.revert else None,
            "alert": self.alert.status if self.alert else None,
            "notes": list(self.notes),
        }


# -- one event -------------------------------------------------------------------------------------
def handle_alias_event(
    *,
    tracking_uri: str | None,
    model: str,
    alias: str,
    version: str,
    now: datetime | None = None,
    event: Mapping[str, str] | None = None,
    user: str = WEBHOOK_USER,
    spec: MonitorSpec | None = None,
) -> BypassOutcome:
    """Judge ``model@alias -> version`` (an alias event) against the trail and the gate.

    ``spec``: the gates and channels to use (``fleet run`` passes the fleet's); else the copy
    stored with the version's runs.

    Idempotent: a second call for the same move finds the first one's record. Raises
    ``RegistryError`` when MLflow cannot be read (the webhook answers 503, MLflow retries).
    """
    from mlflow_monitor.adapters.mlflow.alert_state import AlertStateStore
    from mlflow_monitor.adapters.mlflow.audit_log import AliasRegistry

    now = now or datetime.now(timezone.utc)
    registry = AliasRegistry(tracking_uri)
    if registry.alias_version(model, alias) != str(version):
        return BypassOutcome(model, alias, str(version), "moved_on")
    move = _read_move(registry, model, alias, version)
    if move.kind != "unexplained":
        return BypassOutcome(model, alias, str(version), move.kind)
    store = AlertStateStore(model, str(version), tracking_uri=registry.tracking_uri)
    lease = store.acquire(ttl_seconds=_LEASE_TTL_SECONDS, wait_seconds=_LEASE_WAIT_SECONDS)
    if lease is None:
        return BypassOutcome(model, alias, str(version), "locked")
    try:  # read again: another process may have handled it meanwhile
        if registry.alias_version(model, alias) != str(version):
            return BypassOutcome(model, alias, str(version), "moved_on")
        move = _read_move(registry, model, alias, version)
        if move.kind != "unexplained":
            return BypassOutcome(model, alias, str(version), move.kind)
        return _judge_and_record(registry, move, model, alias, str(version), now, event, user, spec)
    finally:
        with contextlib.suppress(MonitorError):
            store.release(lease)


def _read_move(registry: AliasRegistry, model: str, alias: str, version: str) -> AliasMove:
    return read_alias_move(_entries(registry, model, alias), str(version))


def _entries(registry: AliasRegistry, model: str, alias: str) -> list[AliasEntry]:
    return [
        AliasEntry(
            decision=a.tags.get(TAG_AUDIT_DECISION, ""),
            version=a.tags.get(TAG_AUDIT_VERSION, ""),
            at=a.tags.get(TAG_AUDIT_AT, ""),
            run_id=a.run_id,
            pending=a.status != "FINISHED",
        )
        for a in registry.audit_runs(model, alias=alias, pending=True)
    ]


def _judge_and_record(
    registry: AliasRegistry,
    move: AliasMove,
    model: str,
    alias: str,
    version: str,
    now: datetime,
    event: Mapping[str, str] | None,
    user: str,
    given: MonitorSpec | None = None,
) -> BypassOutcome:
    spec, notes = (given, ()) if given is not None else stored_spec(registry, model, version)
    judged = judge_gate(registry, spec, model, version, alias, now=now)
    expected = move.basis.version if move.basis else None
    granted = judged.decision.granted
    record = store_record(
        registry,
        AuditRecord(
            model=model,
            alias=alias,
            version=version,
            decision="unaudited" if granted else "bypass",
            at=utc_text(now, precise=True),
            user=user,
            previous_version=expected,
            reasons=judged.decision.reasons,
            override_reason=None,
            evidence=judged.evidence(),
            event=dict(event or {}),
        ),
    )
    if granted:
        return BypassOutcome(model, alias, version, "unaudited", record=record, notes=notes)
    current = registry.alias_version(model, alias)
    revert = None
    if judged.gate.revert_bypass and current == version:
        revert = _revert(registry, move, model, alias, version, now)
    elif judged.gate.revert_bypass:
        notes = (*notes, f"not reverted: @{alias} already points at {current or 'nothing'}")
    alert = _alert(spec, record, revert)
    _record_model_health(registry, model)
    return BypassOutcome(
        model,
        alias,
        version,
        "bypass",
        reasons=judged.decision.reasons,
        record=record,
        revert=revert,
        alert=alert,
        notes=notes,
    )


def _revert(
    registry: AliasRegistry, move: AliasMove, model: str, alias: str, version: str, now: datetime
) -> AuditRecord:
    """Back to the version the monitor last put there (intent first), else delete the alias."""
    target = move.restore_to
    said = f"moved back to version {target}" if target else "deleted (no audited holder before)"
    record = AuditRecord(
        model=model,
        alias=alias,
        version=target or "",
        decision="revert",
        at=utc_text(now + _AFTER, precise=True),  # ordered after the bypass it undoes
        user="mlflow-monitor (revert_bypass)",
        previous_version=version,
        reasons=(f"{model}@{alias} {said}: version {version} was set around the gate",),
        override_reason=None,
        evidence=None,
    )
    return record_move(registry, record, target=target)


def _alert(
    spec: MonitorSpec | None, record: AuditRecord, revert: AuditRecord | None
) -> AlertsReport | None:
    if spec is None:
        return None
    m, alias, v = record.model, record.alias, record.version
    if revert is None:
        outcome = f"@{alias} still points at version {v}."
    elif revert.version:
        outcome = f"revert_bypass: @{alias} was moved back to version {revert.version}."
    else:
        outcome = f"revert_bypass: @{alias} was deleted (no audited holder before)."
    title = f"[CRITICAL] [mlflow-monitor] {m}@{alias} moved to version {v} around its gate"
    reasons = "\n".join(f"- {r}" for r in record.reasons)
    body = (
        f"{m}@{alias} was set to version {v} outside `mlflow-monitor promote` "
        f"(who: {record.user}); the gate refuses this version:\n{reasons}\n\n{outcome}\n"
        f"Audit record run: {record.run_id}"
    )
    return notify_critical(spec, model=m, version=v, check_id=BYPASS_CHECK, title=title, body=body)


def _record_model_health(registry: AliasRegistry, model: str) -> None:
    from mlflow_monitor.workflows.version_state import record_model_health

    with contextlib.suppress(MonitorError):
        record_model_health(registry.runs, model)


def stored_spec(
    registry: AliasRegistry, model: str, version: str
) -> tuple[MonitorSpec | None, tuple[str, ...]]:
    """The spec the version is monitored with: ``monitor.yaml`` of its latest window run, else
    of its baseline run; None (with notes saying why) when neither holds a readable one."""
    from mlflow_monitor.adapters.mlflow.card_store import read_card_inputs

    state = registry.runs.version(model, version)
    notes: list[str] = []
    for run_id in dict.fromkeys(r for r in (state.last_run_id, state.baseline_run_id) if r):
        try:
            text = read_card_inputs(run_id, tracking_uri=registry.tracking_uri).spec_text
        except RegistryError as exc:
            notes.append(f"spec of run {run_id} unreadable: {exc}")
            continue
        if text is None:
            continue
        try:
            return parse_spec(yaml.safe_load(text), source=f"monitor.yaml of run {run_id}"), ()
        except (SpecError, yaml.YAMLError) as exc:
            notes.append(str(exc).splitlines()[0])
    notes.append(f"no stored spec for {model} v{version}: default gate, no alert channels")
    return None, tuple(notes)


# -- without webhooks --------------------------------------------------------------------------
def detect_bypasses(
    *,
    tracking_uri: str | None,
    model: str | None = None,
    spec: MonitorSpec | None = None,
    now: datetime | None = None,
    include_recorded: bool = False,
) -> list[Bypass]:
    """Every gated alias of ``model`` (or ``spec.model``; every registered model when neither
    is given) whose current version its audit trail does not explain; with ``include_recorded``
    also those held by a recorded ``bypass`` (what ``status`` shows). Reads only.

    Gated: the alias has an audit trail (a decision was ever recorded for it) or ``spec.gates``
    names it. An alias nobody ever promoted through mlflow-monitor is not the gate's business
    (the webhook judges every alias event, as it was registered to).
    """
    del now  # the trail and the registry are read as they are now; kept for the fleet's calls
    from mlflow_monitor.adapters.mlflow.audit_log import AliasRegistry

    registry = AliasRegistry(tracking_uri)
    name = model or (spec.model if spec is not None else None)
    found: list[Bypass] = []
    for each, aliases in registry.model_aliases(name).items():
        for alias, version in sorted(aliases.items()):
            entries = _entries(registry, each, alias)
            gated = spec is not None and spec.model == each and alias in spec.gates
            if not (entries or gated):
                continue
            move = read_alias_move(entries, version)
            expected = move.basis.version if move.basis else None
            if move.kind == "unexplained":
                found.append(Bypass(each, alias, version, expected))
            elif include_recorded and move.basis and move.basis.decision == "bypass":
                found.append(Bypass(each, alias, version, expected, recorded=True))
    return found


def settle_bypasses(
    *,
    tracking_uri: str | None,
    model: str | None = None,
    spec: MonitorSpec | None = None,
    now: datetime | None = None,
) -> list[BypassOutcome]:
    """``detect_bypasses`` then ``handle_alias_event`` for each (user ``unknown (detected)``):
    what ``fleet run`` calls. A bypass already recorded (by the webhook) is not handled again."""
    return [
        handle_alias_event(
            tracking_uri=tracking_uri,
            model=b.model,
            alias=b.alias,
            version=b.version,
            now=now,
            event={"source": "sweep"},
            user=SWEEP_USER,
            spec=spec if spec is not None and spec.model == b.model else None,
        )
        for b in detect_bypasses(tracking_uri=tracking_uri, model=model, spec=spec, now=now)
    ]


# -- webhooks ------------------------------------------------------------------------------------
class WebhookInputError(MonitorError):
    """``webhooks register`` cannot work as asked (no secret, a bad URL, a local store)."""


def register_webhook(
    *, tracking_uri: str | None, url: str, secret_env: str, model: str | None = None
) -> WebhookInfo:
    """Create (or update) the MLflow webhook posting alias events to ``url``, signed with the
    secret in ``$secret_env`` (the value never leaves this call but to MLflow)."""
    from mlflow_monitor.adapters.mlflow.webhooks import register_alias_webhook

    secret = os.environ.get(secret_env, "")
    if not secret:
        raise WebhookInputError(f"${secret_env} is not set: export the webhook secret first")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookInputError(
            f"--url {url!r}: expected http(s)://HOST[:PORT]/monitor/webhooks/mlflow"
        )
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    served = uri.startswith(("http://", "https://"))
    if not served and not os.environ.get("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"):
        raise WebhookInputError(
            f"tracking URI {uri or '(default)'} is not an MLflow server: register through the "
            "server (--tracking-uri http://...) or share MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY "
            "with it, else the server cannot read the secret"
        )
    return register_alias_webhook(tracking_uri=tracking_uri, url=url, secret=secret, model=model)


def list_webhooks(*, tracking_uri: str | None) -> list[WebhookInfo]:
    """Every webhook the tracking server holds."""
    from mlflow_monitor.adapters.mlflow.webhooks import list_webhooks as listed

    return listed(tracking_uri=tracking_uri)
