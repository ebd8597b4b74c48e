"""The promotion decision (pure) and the audit record every decision leaves.

``decide`` takes a ``VersionState`` (what the registry recorded about the version: health, last
check, baseline, card, the last window's outcomes), the alias's ``GateSpec`` and the current time,
and returns a ``Decision`` with every reason for a refusal. ``AuditRecord`` (with its
``Evidence``) is the JSON kept for each decision (``audit.json``) and the run tags that index it.
``workflows.promote`` reads the state from MLflow, decides, moves aliases and stores the records.

Checks that were not judged: a critical ``not_evaluated`` check (its input was absent: no labels,
no score) refuses whatever ``must_pass`` says, because the window's health does not cover it; a
``must_pass`` check that is ``not_evaluated`` refuses at any severity. ``insufficient_data`` (a
group or segment below its minimum size, reported with its counts) never refuses, ``must_pass``
included: a small group would otherwise block every promotion until it grew.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from mlflow_monitor.contract import (
    TAG_AUDIT_ALIAS,
    TAG_AUDIT_AT,
    TAG_AUDIT_DECISION,
    TAG_AUDIT_PREVIOUS,
    TAG_AUDIT_USER,
    TAG_AUDIT_VERSION,
    CheckOutcome,
    WindowResults,
    unevaluated_critical,
    utc_text,
)
from mlflow_monitor.errors import DataError, RegistryError
from mlflow_monitor.spec import GateSpec

__all__ = [
    "AuditRecord",
    "Decision",
    "DecisionKind",
    "Evidence",
    "VersionState",
    "decide",
    "read_outcomes",
]

DecisionKind = Literal["granted", "refused", "forced", "rollback", "rollback_skipped"]
_MAX_LISTED = 5
# must_pass refuses on these; insufficient_data (too small to judge) and pass do not.
_NOT_PASSING = frozenset({"fail", "warn", "error", "not_evaluated"})


# -- the decision's inputs and output ----------------------------------------------------------
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
    outcomes: tuple[CheckOutcome, ...] | None


@dataclass(frozen=True)
class Decision:
    """A gate's verdict: granted or refused, with every reason for a refusal."""

    alias: str
    granted: bool
    reasons: tuple[str, ...]


def decide(state: VersionState, gate: GateSpec, *, alias: str, now: datetime) -> Decision:
    """Check health, age, baseline, card, unevaluated critical checks and must-pass. Pure."""
    reasons = [
        *_health_reasons(state, gate),
        *_age_reasons(state, gate, now),
        *_baseline_reasons(state, gate),
        *_card_reasons(state, gate),
        *_not_evaluated_reasons(state),
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
        f"({utc_text(state.last_checked)}), older than max_age {_human_seconds(gate.max_age)}"
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


def _not_evaluated_reasons(state: VersionState) -> list[str]:
    """A critical check whose input was absent: the window's health does not cover it."""
    absent = unevaluated_critical(state.outcomes or ())
    reasons = [f"{o.check_id} was not evaluated: {_why(o)}" for o in absent[:_MAX_LISTED]]
    if len(absent) > _MAX_LISTED:
        reasons.append(f"and {len(absent) - _MAX_LISTED} more critical checks not evaluated")
    return reasons


def _why(outcome: CheckOutcome) -> str:
    reason = outcome.evidence.get("reason")
    return reason if isinstance(reason, str) and reason else outcome.message


def _must_pass_reasons(state: VersionState, gate: GateSpec) -> list[str]:
    """Every named check must pass; ``insufficient_data`` (a small group) does not refuse.

    A critical ``not_evaluated`` check is already a reason (``_not_evaluated_reasons``) and is
    not listed twice; a warning/info one named here refuses, since it was asked to pass.
    """
    reasons: list[str] = []
    listed = {o.check_id for o in unevaluated_critical(state.outcomes or ())}
    for name in gate.must_pass:
        if state.outcomes is None:
            reasons.append(f"must_pass {name}: the last monitoring run has no results.json")
            continue
        matched = [o for o in state.outcomes if o.matches(name)]
        failing = [o for o in matched if o.status in _NOT_PASSING and o.check_id not in listed]
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


def read_outcomes(results: object) -> tuple[CheckOutcome, ...] | None:
    """The outcomes of a ``results.json`` body (any schema version); None when unreadable."""
    if not isinstance(results, Mapping):
        return None
    try:
        return WindowResults.from_dict(results).outcomes
    except DataError:
        return None


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
            last_checked=utc_text(state.last_checked) if state.last_checked else None,
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
        return {
            TAG_AUDIT_ALIAS: self.alias,
            TAG_AUDIT_DECISION: self.decision,
            TAG_AUDIT_VERSION: self.version,
            TAG_AUDIT_PREVIOUS: self.previous_version or "",
            TAG_AUDIT_USER: self.user,
            TAG_AUDIT_AT: self.at,
        }


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
