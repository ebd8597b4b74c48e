"""Health-gated promotion: the registry workflows around the pure decision.

``verdicts.promotion.decide`` judges a ``VersionState`` against the alias's ``GateSpec``.
``promote`` reads the state, decides, moves the alias on a grant (or a forced override) and
appends an ``AuditRecord`` for every outcome; ``auto_rollback`` moves an alias off a version that a
monitoring run turned critical, back to the most recent previous holder still within its gate's
allowed health. ``history`` returns the records in order. MLflow registry aliases only, never
stages. After an alias moves, the registered model's ``monitor.health`` follows its holders
(``version_state.record_model_health``).

Every move is recorded before it is made (``record_move``): the audit run is started as an
intent, the alias moves, the run ends FINISHED (FAILED, with the alias put back, when the move or
the record fails). The registry's own event of the move (an MLflow webhook, ``workflows.bypass``)
therefore always finds the record of a move the monitor made, while ``history`` lists finished
records only.
"""

from __future__ import annotations

import contextlib
import getpass
import html
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from mlflow_monitor.contract import parse_utc, utc_text
from mlflow_monitor.errors import GateRefused, MonitorError, RegistryError
from mlflow_monitor.spec import GateSpec, MonitorSpec, comparison_metric
from mlflow_monitor.verdicts.comparison import BeatJudgement, Comparison, judge_beat
from mlflow_monitor.verdicts.promotion import (
    AuditRecord,
    Decision,
    DecisionKind,
    Evidence,
    VersionState,
    decide,
    read_outcomes,
)

if TYPE_CHECKING:  # the registry imports mlflow: loaded only when a workflow runs
    from mlflow_monitor.adapters.mlflow.audit_log import AliasRegistry, GateFacts

__all__ = [
    "GateJudgement",
    "PromotionInputError",
    "PromotionResult",
    "RollbackResult",
    "RollbackStep",
    "auto_rollback",
    "current_user",
    "history",
    "judge_gate",
    "promote",
    "record_move",
    "store_record",
]

_HOLDER_DECISIONS = ("granted", "forced", "rollback", "revert")
_LOG = logging.getLogger("mlflow_monitor.workflows.promote")


class PromotionInputError(MonitorError):
    """A promotion request is malformed (e.g. ``--force`` without ``--reason``). Exit code 2."""


def current_user() -> str:
    """Who is deciding: ``$MLFLOW_MONITOR_USER``, else the login name, else ``unknown``."""
    user = os.environ.get("MLFLOW_MONITOR_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


# -- workflows ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PromotionResult:
    """A granted or forced promotion: the decision and its stored audit record."""

    decision: Decision
    record: AuditRecord

    @property
    def forced(self) -> bool:
        """True when the alias moved by override despite a refusal."""
        return self.record.decision == "forced"

    def to_dict(self) -> dict[str, object]:
        """The audit record as stored, with its run id."""
        return {**self.record.to_dict(), "run_id": self.record.run_id}

    def _repr_html_(self) -> str:
        from mlflow_monitor.views import panel_html, table_html

        r = self.record
        line = (
            f"<p><b>{html.escape(r.decision)}</b>: {html.escape(r.model)}@{html.escape(r.alias)}"
            f" → version {html.escape(r.version)} (previous: "
            f"{html.escape(r.previous_version or 'unset')}); audit record run "
            f"{html.escape(r.run_id or '-')}</p>"
        )
        overridden = [{"overridden reason": reason} for reason in r.reasons]
        return panel_html(
            line,
            table_html(overridden, columns=["overridden reason"]) if overridden else "",
        )


def promote(
    spec: MonitorSpec | None,
    model: str,
    version: str | int,
    alias: str,
    *,
    tracking_uri: str | None = None,
    force: bool = False,
    reason: str | None = None,
    now: datetime | None = None,
) -> PromotionResult:
    """Point ``model@alias`` at ``version`` if the alias's gate allows it; audit every outcome.

    The gate is ``spec.gates[alias]`` (the default ``GateSpec`` when the spec has none).
    Refusal raises ``GateRefused`` (``promotion of m version 2 to @champion refused``) with
    every line of the decision in ``reasons`` (after the refusal is audited);
    ``force=True`` with a ``reason`` moves the alias anyway and records an override.
    """
    from mlflow_monitor.adapters.mlflow.audit_log import AliasRegistry

    if force and not (reason and reason.strip()):
        raise PromotionInputError("--force needs --reason TEXT: an override must say why")
    now = now or datetime.now(timezone.utc)
    registry = AliasRegistry(tracking_uri)
    judged = judge_gate(registry, spec, model, str(version), alias, now=now)
    decision = judged.decision
    kind: DecisionKind = "granted" if decision.granted else ("forced" if force else "refused")
    previous = registry.alias_version(model, alias)
    record = AuditRecord(
        model=model,
        alias=alias,
        version=str(version),
        decision=kind,
        at=utc_text(now, precise=True),
        user=current_user(),
        previous_version=previous,
        reasons=decision.reasons,
        override_reason=reason.strip() if force and reason else None,
        evidence=judged.evidence(),
    )
    if kind == "refused":
        store_record(registry, record)
        # no count: a must_pass summary line and the checks under it are not separate reasons
        refused = GateRefused(
            f"promotion of {model} version {version} to @{alias} refused",
            list(decision.reasons),
        )
        for line in decision.reasons:  # shown under the message in a traceback (PEP 678)
            refused.add_note(f"  - {line}")
        raise refused
    stored = record_move(registry, record, target=str(version))
    _record_model_health(registry, model)
    return PromotionResult(decision, stored)


@dataclass(frozen=True)
class GateJudgement:
    """An alias's gate applied to a version: the decision and what it was based on."""

    gate: GateSpec
    state: VersionState
    beat: BeatJudgement | None
    decision: Decision

    def evidence(self) -> Evidence:
        """The evidence kept with the audit record."""
        return Evidence.of(self.state, self.gate, self.beat)


def judge_gate(
    registry: AliasRegistry,
    spec: MonitorSpec | None,
    model: str,
    version: str,
    alias: str,
    *,
    now: datetime,
) -> GateJudgement:
    """``spec.gates[alias]`` (the default gate without one) judged on what the registry holds."""
    gate = spec.gates.get(alias, GateSpec()) if spec is not None else GateSpec()
    facts = registry.gate_facts(model, version)
    state = _version_state(facts, model, version)
    beat = _judge_beat(registry, spec, gate, model, version, facts.results)
    return GateJudgement(gate, state, beat, decide(state, gate, alias=alias, now=now, beat=beat))


def record_move(registry: AliasRegistry, record: AuditRecord, *, target: str | None) -> AuditRecord:
    """Record ``record`` as an intent, point ``model@alias`` at ``target`` (None deletes the
    alias), then finish the record; the stored record (with its run id) is returned.

    A move that fails voids the intent (FAILED run) and raises; a record that cannot be
    finished puts the alias back on ``record.previous_version`` (no unaudited moves) and raises.
    """
    model, alias = record.model, record.alias
    run_id = registry.begin_audit(
        model, record.version, record.to_dict(), record.tags(), run_name=_run_name(record)
    )
    try:
        if target is None:
            registry.delete_alias(model, alias)
        else:
            registry.set_alias(model, alias, target)
    except RegistryError:
        _void(registry, run_id)
        raise
    try:
        registry.end_audit(run_id, moved=True)
    except RegistryError:
        _restore_alias(registry, model, alias, record.previous_version)
        _void(registry, run_id)
        raise
    return replace(record, run_id=run_id)


def _void(registry: AliasRegistry, run_id: str) -> None:
    with contextlib.suppress(RegistryError):  # the error the caller must see is being raised
        registry.end_audit(run_id, moved=False)


def _run_name(record: AuditRecord) -> str:
    return f"audit {record.decision} @{record.alias} v{record.version}"


def _judge_beat(
    registry: AliasRegistry,
    spec: MonitorSpec | None,
    gate: GateSpec,
    model: str,
    version: str,
    results: object,
) -> BeatJudgement | None:
    """``must_beat`` on the verdict window's comparison against the alias's current holder."""
    rule = gate.must_beat
    if spec is None or rule is None:
        return None
    section = results.get("comparison") if isinstance(results, Mapping) else None
    return judge_beat(
        Comparison.from_dict(section) if isinstance(section, Mapping) else None,
        rule=rule,
        metric=comparison_metric(spec, rule),
        holder=registry.alias_version(model, rule.alias),
        level=spec.confidence_level,
        version=version,
    )


def _version_state(facts: GateFacts, model: str, version: str) -> VersionState:
    tags = facts.state
    return VersionState(
        model=model,
        version=version,
        health=tags.health,
        health_reason=tags.reason,
        # staleness runs from the verdict's window end (a backfill never looks fresh); stores
        # written before the window was recorded on the version fall back to the check time
        last_checked=_parse_time(tags.window_end or tags.last_checked),
        last_run_id=tags.last_run_id,
        baseline_run_id=tags.baseline_run_id,
        baseline_present=facts.baseline_present,
        card_present=facts.card_present,
        outcomes=read_outcomes(facts.results),
    )


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_utc(text)
    except ValueError:
        return None


def store_record(registry: AliasRegistry, record: AuditRecord) -> AuditRecord:
    """Store a record of a decision that moves nothing (a refusal, a skipped rollback)."""
    run_id = registry.append_audit(
        record.model, record.version, record.to_dict(), record.tags(), run_name=_run_name(record)
    )
    return replace(record, run_id=run_id)


def _restore_alias(registry: AliasRegistry, model: str, alias: str, previous: str | None) -> None:
    """Undo an alias move whose audit record could not be stored (no unaudited moves)."""
    try:
        if previous is None:
            registry.delete_alias(model, alias)
        else:
            registry.set_alias(model, alias, previous)
    except RegistryError:
        pass  # the audit failure is the error the caller must see


def _record_model_health(registry: AliasRegistry, model: str) -> None:
    """The model's health follows the alias holders; a failure here undoes no decision."""
    from mlflow_monitor.workflows.version_state import record_model_health

    try:
        record_model_health(registry.runs, model)
    except MonitorError as exc:
        _LOG.warning("%s: model health tag not updated: %s", model, exc)


def history(
    model: str, *, tracking_uri: str | None = None, alias: str | None = None
) -> list[AuditRecord]:
    """Every audit record of ``model`` (optionally one alias), oldest first.

    Re-baselines (``workflows.rebaseline``) are records too: decision ``rebaseline``, no alias,
    so asking for one alias leaves them out."""
    from mlflow_monitor.adapters.mlflow.audit_log import AliasRegistry

    stored = AliasRegistry(tracking_uri).audit_records(model, alias=alias)
    return [AuditRecord.from_dict(s.record, run_id=s.run_id) for s in stored]


# -- automatic rollback ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RollbackStep:
    """What happened to one alias: moved back to ``to_version``, or left (no healthy holder)."""

    alias: str
    from_version: str
    to_version: str | None
    message: str

    @property
    def moved(self) -> bool:
        """True when the alias now points at ``to_version``."""
        return self.to_version is not None


@dataclass(frozen=True)
class RollbackResult:
    """Every auto-rollback alias the critical version held, and what happened to each."""

    model: str
    version: str
    health: str
    steps: tuple[RollbackStep, ...]

    @property
    def moved(self) -> bool:
        """True when at least one alias moved back."""
        return any(s.moved for s in self.steps)

    @property
    def message(self) -> str:
        """One line per alias, for the alert."""
        return "\n".join(s.message for s in self.steps)


def auto_rollback(
    spec: MonitorSpec,
    model: str,
    version: str | int,
    health: str,
    *,
    tracking_uri: str | None = None,
    now: datetime | None = None,
) -> RollbackResult | None:
    """Move auto-rollback aliases off ``version`` when it turned critical; None if none applied.

    For each alias whose gate has ``auto_rollback: true`` and that points at ``version``, the
    alias goes back to the most recent previous holder (from the audit history) whose health is
    still allowed by that gate. Without one nothing moves and the step says so. Both are audited.
    """
    from mlflow_monitor.adapters.mlflow.audit_log import AliasRegistry

    if health != "critical":
        return None
    registry = AliasRegistry(tracking_uri)
    now = now or datetime.now(timezone.utc)
    steps = [
        _roll_back(registry, model, str(version), alias, gate, now)
        for alias, gate in spec.gates.items()
        if gate.auto_rollback and registry.alias_version(model, alias) == str(version)
    ]
    if not steps:
        return None
    if any(step.moved for step in steps):
        _record_model_health(registry, model)
    return RollbackResult(model, str(version), health, tuple(steps))


def _roll_back(
    registry: AliasRegistry, model: str, version: str, alias: str, gate: GateSpec, now: datetime
) -> RollbackStep:
    from mlflow_monitor.contract import TAG_AUDIT_AT, TAG_AUDIT_DECISION, TAG_AUDIT_VERSION

    holders = [
        a.tags.get(TAG_AUDIT_VERSION, "")
        for a in sorted(
            registry.audit_runs(model, alias=alias),
            key=lambda a: a.tags.get(TAG_AUDIT_AT, ""),
            reverse=True,
        )
        if a.tags.get(TAG_AUDIT_DECISION) in _HOLDER_DECISIONS
    ]
    target = next(
        (
            v
            for v in dict.fromkeys(holders)
            if v and v != version and registry.version_health(model, v) in gate.allowed_health
        ),
        None,
    )
    if target is None:
        message = (
            f"{model}@{alias} stays on version {version} (critical): no previous holder "
            f"is still {'/'.join(gate.allowed_health)}"
        )
    else:
        message = f"{model}@{alias} rolled back from version {version} (critical) to {target}"
    record = AuditRecord(
        model=model,
        alias=alias,
        version=target or version,
        decision="rollback" if target else "rollback_skipped",
        at=utc_text(now, precise=True),
        user=current_user(),
        previous_version=version,
        reasons=(message,),
        override_reason=None,
        evidence=None,
    )
    if target is None:
        store_record(registry, record)
    else:
        record_move(registry, record, target=target)
    return RollbackStep(alias, version, target, message)
