"""Health-gated promotion: a pure decision, its audit record, and the registry workflows.

``decide`` is pure: a ``VersionState`` (what the registry recorded about the version), the alias's
``GateSpec`` and the current time give a ``Decision`` with every reason for a refusal. ``promote``
reads the state, decides, moves the alias on a grant (or a forced override) and appends an
``AuditRecord`` for every outcome; ``auto_rollback`` moves an alias off a version that a
monitoring run turned critical, back to the most recent previous holder still within its gate's
allowed health. ``history`` returns the records in order. MLflow registry aliases only, never
stages.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from mlflow_monitor.errors import GateRefused, MonitorError, RegistryError
from mlflow_monitor.spec import GateSpec, MonitorSpec

if TYPE_CHECKING:  # the registry imports mlflow: loaded only when a workflow runs
    from mlflow_monitor.registry.audit import AliasRegistry

__all__ = [
    "AuditRecord",
    "Decision",
    "DecisionKind",
    "Evidence",
    "OutcomeSummary",
    "PromotionInputError",
    "PromotionResult",
    "RollbackResult",
    "RollbackStep",
    "VersionState",
    "auto_rollback",
    "current_user",
    "decide",
    "history",
    "parse_outcomes",
    "promote",
]

DecisionKind = Literal["granted", "refused", "forced", "rollback", "rollback_skipped"]
_HOLDER_DECISIONS = ("granted", "forced", "rollback")
_MAX_LISTED = 5


class PromotionInputError(MonitorError):
    """A promotion request is malformed (e.g. ``--force`` without ``--reason``). Exit code 2."""


# -- the decision's inputs and output ----------------------------------------------------------
@dataclass(frozen=True)
class OutcomeSummary:
    """One check outcome of the last monitoring run, as far as a gate needs it."""

    check_id: str
    status: str
    severity: str = ""
    message: str = ""
    source: str = ""

    def matches(self, name: str) -> bool:
        """``name`` is this check's id, an id prefix, a path segment or its policy pack."""
        prefix = name.rstrip("/")
        return (
            self.check_id == prefix
            or self.check_id.startswith(prefix + "/")
            or prefix in self.check_id.split("/")
            or self.source == f"policy:{prefix}"
        )


@dataclass(frozen=True)
class VersionState:
    """What the registry recorded about a version: the gate's only input besides its spec."""

    model: str
    version: str
    health: str | None
    health_reason: str | None
    last_checked: datetime | None
    last_run_id: str | None
    baseline_run_id: str | None
    baseline_present: bool
    card_present: bool
    outcomes: tuple[OutcomeSummary, ...] | None


@dataclass(frozen=True)
class Decision:
    """A gate's verdict: granted or refused, with every reason for a refusal."""

    alias: str
    granted: bool
    reasons: tuple[str, ...]


def decide(state: VersionState, gate: GateSpec, *, alias: str, now: datetime) -> Decision:
    """Check health, age of the last check, baseline, card and must-pass checks. Pure."""
    reasons = [
        *_health_reasons(state, gate),
        *_age_reasons(state, gate, now),
        *_baseline_reasons(state, gate),
        *_card_reasons(state, gate),
        *_must_pass_reasons(state, gate),
    ]
    return Decision(alias=alias, granted=not reasons, reasons=tuple(reasons))


def _health_reasons(state: VersionState, gate: GateSpec) -> list[str]:
    if state.health is None:
        return ["health: never monitored (no monitor.health tag): run `mlflow-monitor run` first"]
    if state.health in gate.allowed_health:
        return []
    why = f" ({state.health_reason})" if state.health_reason else ""
    allowed = ", ".join(gate.allowed_health)
    return [f"health: {state.health}{why}; the gate allows {allowed}"]


def _age_reasons(state: VersionState, gate: GateSpec, now: datetime) -> list[str]:
    if gate.max_age is None:
        return []
    if state.last_checked is None:
        return ["stale: never checked (no monitor.last_checked tag)"]
    age = (now - state.last_checked).total_seconds()
    if age <= gate.max_age:
        return []
    return [
        f"stale: last checked {_human_seconds(age)} ago "
        f"({state.last_checked.isoformat()}), older than max_age {_human_seconds(gate.max_age)}"
    ]


def _baseline_reasons(state: VersionState, gate: GateSpec) -> list[str]:
    if not gate.require_baseline or state.baseline_present:
        return []
    if state.baseline_run_id:
        return [f"baseline: run {state.baseline_run_id} (monitor.baseline_run_id) does not exist"]
    return ["baseline: none attached (no monitor.baseline_run_id): run `mlflow-monitor baseline`"]


def _card_reasons(state: VersionState, gate: GateSpec) -> list[str]:
    if not gate.require_card or state.card_present:
        return []
    return ["card: no model card attached: run `mlflow-monitor card` or a monitoring window"]


def _must_pass_reasons(state: VersionState, gate: GateSpec) -> list[str]:
    reasons: list[str] = []
    for name in gate.must_pass:
        if state.outcomes is None:
            reasons.append(f"must_pass {name}: the last monitoring run has no results.json")
            continue
        matched = [o for o in state.outcomes if o.matches(name)]
        failing = [o for o in matched if o.status != "pass"]
        if not matched:
            reasons.append(f"must_pass {name}: no such check in the last monitoring run")
        for outcome in failing[:_MAX_LISTED]:
            detail = f" ({outcome.message})" if outcome.message else ""
            reasons.append(f"must_pass {name}: {outcome.check_id} is {outcome.status}{detail}")
        if len(failing) > _MAX_LISTED:
            reasons.append(f"must_pass {name}: and {len(failing) - _MAX_LISTED} more not passing")
    return reasons


def _human_seconds(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def parse_outcomes(results: object) -> tuple[OutcomeSummary, ...] | None:
    """The outcomes in a ``results.json`` payload (``{"outcomes": [...]}`` or a bare list)."""
    items = results.get("outcomes") if isinstance(results, dict) else results
    if not isinstance(items, list):
        return None
    outcomes = []
    for item in items:
        if not isinstance(item, dict) or "check_id" not in item:
            continue
        threshold = item.get("threshold")
        source = threshold.get("source", "") if isinstance(threshold, dict) else ""
        outcomes.append(
            OutcomeSummary(
                check_id=str(item["check_id"]),
                status=str(item.get("status", "error")),
                severity=str(item.get("severity", "")),
                message=str(item.get("message", "")),
                source=str(source or ""),
            )
        )
    return tuple(outcomes)


# -- audit records ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Evidence:
    """The recorded state a decision was based on (kept with the audit record)."""

    health: str | None
    health_reason: str | None
    last_checked: str | None
    last_run_id: str | None
    baseline_run_id: str | None
    baseline_present: bool
    card_present: bool
    not_passing: tuple[str, ...]
    gate: str

    @classmethod
    def of(cls, state: VersionState, gate: GateSpec) -> Evidence:
        """The evidence of ``state`` judged against ``gate``."""
        not_passing = tuple(
            f"{o.check_id}={o.status}" for o in state.outcomes or () if o.status != "pass"
        )
        return cls(
            health=state.health,
            health_reason=state.health_reason,
            last_checked=state.last_checked.isoformat() if state.last_checked else None,
            last_run_id=state.last_run_id,
            baseline_run_id=state.baseline_run_id,
            baseline_present=state.baseline_present,
            card_present=state.card_present,
            not_passing=not_passing,
            gate=json.dumps(gate.model_dump(mode="json"), sort_keys=True),
        )


@dataclass(frozen=True)
class AuditRecord:
    """One alias decision: who, when, what, the previous holder, and the evidence."""

    model: str
    alias: str
    version: str
    decision: DecisionKind
    at: str
    user: str
    previous_version: str | None
    reasons: tuple[str, ...]
    override_reason: str | None
    evidence: Evidence | None
    run_id: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe mapping (stored as ``audit.json``)."""
        evidence = None
        if self.evidence is not None:
            evidence = {**self.evidence.__dict__, "not_passing": list(self.evidence.not_passing)}
        return {
            "schema_version": 1,
            "model": self.model,
            "alias": self.alias,
            "version": self.version,
            "decision": self.decision,
            "at": self.at,
            "user": self.user,
            "previous_version": self.previous_version,
            "reasons": list(self.reasons),
            "override_reason": self.override_reason,
            "evidence": evidence,
        }

    @classmethod
    def from_dict(cls, data: object, *, run_id: str | None = None) -> AuditRecord:
        """Inverse of ``to_dict``; ``RegistryError`` naming the run when it is malformed."""
        if not isinstance(data, dict):
            raise RegistryError(
                f"audit record in run {run_id}: audit.json missing or not a JSON object"
            )
        try:
            raw = data.get("evidence")
            evidence = None
            if isinstance(raw, dict):
                evidence = Evidence(**{**raw, "not_passing": tuple(raw.get("not_passing", ()))})
            return cls(
                model=str(data["model"]),
                alias=str(data["alias"]),
                version=str(data["version"]),
                decision=data["decision"],
                at=str(data["at"]),
                user=str(data["user"]),
                previous_version=_opt_str(data.get("previous_version")),
                reasons=tuple(str(r) for r in data.get("reasons", ())),
                override_reason=_opt_str(data.get("override_reason")),
                evidence=evidence,
                run_id=run_id,
            )
        except (KeyError, TypeError) as exc:
            raise RegistryError(f"audit record in run {run_id} is malformed: {exc}") from None

    def tags(self) -> dict[str, str]:
        """Run tags indexing the record (searched by ``auto_rollback`` and ``history``)."""
        from mlflow_monitor.registry import audit as store

        return {
            store.TAG_AUDIT_ALIAS: self.alias,
            store.TAG_AUDIT_DECISION: self.decision,
            store.TAG_AUDIT_VERSION: self.version,
            store.TAG_AUDIT_PREVIOUS: self.previous_version or "",
            store.TAG_AUDIT_USER: self.user,
            store.TAG_AUDIT_AT: self.at,
        }


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def current_user() -> str:
    """Who is deciding: ``$MLFLOW_MONITOR_USER``, else the login name, else ``unknown``."""
    user = os.environ.get("MLFLOW_MONITOR_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _now_iso(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
    Refusal raises ``GateRefused`` listing every reason (after the refusal is audited);
    ``force=True`` with a ``reason`` moves the alias anyway and records an override.
    """
    from mlflow_monitor.registry.audit import AliasRegistry

    if force and not (reason and reason.strip()):
        raise PromotionInputError("--force needs --reason TEXT: an override must say why")
    gate = spec.gates.get(alias, GateSpec()) if spec is not None else GateSpec()
    now = now or datetime.now(timezone.utc)
    registry = AliasRegistry(tracking_uri)
    state = _version_state(registry, model, str(version))
    decision = decide(state, gate, alias=alias, now=now)
    kind: DecisionKind = "granted" if decision.granted else ("forced" if force else "refused")
    previous = registry.alias_version(model, alias)
    record = AuditRecord(
        model=model,
        alias=alias,
        version=str(version),
        decision=kind,
        at=_now_iso(now),
        user=current_user(),
        previous_version=previous,
        reasons=decision.reasons,
        override_reason=reason.strip() if force and reason else None,
        evidence=Evidence.of(state, gate),
    )
    if kind == "refused":
        _store(registry, record)
        raise GateRefused(
            f"promotion of {model} version {version} to @{alias} refused: "
            f"{len(decision.reasons)} reason(s)",
            list(decision.reasons),
        )
    registry.set_alias(model, alias, str(version))
    try:
        stored = _store(registry, record)
    except RegistryError:
        _restore_alias(registry, model, alias, previous)
        raise
    return PromotionResult(decision, stored)


def _version_state(registry: AliasRegistry, model: str, version: str) -> VersionState:
    facts = registry.gate_facts(model, version)
    tags = facts.state
    return VersionState(
        model=model,
        version=version,
        health=tags.health,
        health_reason=tags.reason,
        last_checked=_parse_time(tags.last_checked),
        last_run_id=tags.last_run_id,
        baseline_run_id=tags.baseline_run_id,
        baseline_present=facts.baseline_present,
        card_present=facts.card_present,
        outcomes=parse_outcomes(facts.results) if facts.results is not None else None,
    )


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _store(registry: AliasRegistry, record: AuditRecord) -> AuditRecord:
    run_name = f"audit {record.decision} @{record.alias} v{record.version}"
    run_id = registry.append_audit(
        record.model, record.version, record.to_dict(), record.tags(), run_name=run_name
    )
    return AuditRecord(**{**record.__dict__, "run_id": run_id})


def _restore_alias(registry: AliasRegistry, model: str, alias: str, previous: str | None) -> None:
    """Undo an alias move whose audit record could not be stored (no unaudited moves)."""
    try:
        if previous is None:
            registry.delete_alias(model, alias)
        else:
            registry.set_alias(model, alias, previous)
    except RegistryError:
        pass  # the audit failure is the error the caller must see


def history(
    model: str, *, tracking_uri: str | None = None, alias: str | None = None
) -> list[AuditRecord]:
    """Every audit record of ``model`` (optionally one alias), oldest first."""
    from mlflow_monitor.registry.audit import AliasRegistry

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
    from mlflow_monitor.registry.audit import AliasRegistry

    if health != "critical":
        return None
    registry = AliasRegistry(tracking_uri)
    now = now or datetime.now(timezone.utc)
    steps = [
        _roll_back(registry, model, str(version), alias, gate, now)
        for alias, gate in spec.gates.items()
        if gate.auto_rollback and registry.alias_version(model, alias) == str(version)
    ]
    return RollbackResult(model, str(version), health, tuple(steps)) if steps else None


def _roll_back(
    registry: AliasRegistry, model: str, version: str, alias: str, gate: GateSpec, now: datetime
) -> RollbackStep:
    from mlflow_monitor.registry.audit import TAG_AUDIT_AT, TAG_AUDIT_DECISION, TAG_AUDIT_VERSION

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
        registry.set_alias(model, alias, target)
        message = f"{model}@{alias} rolled back from version {version} (critical) to {target}"
    record = AuditRecord(
        model=model,
        alias=alias,
        version=target or version,
        decision="rollback" if target else "rollback_skipped",
        at=_now_iso(now),
        user=current_user(),
        previous_version=version,
        reasons=(message,),
        override_reason=None,
        evidence=None,
    )
    _store(registry, record)
    return RollbackStep(alias, version, target, message)
