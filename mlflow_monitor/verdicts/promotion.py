"""The promotion decision (pure) and the audit record every decision leaves.

``decide`` takes a ``VersionState`` (what the registry recorded about the version: health, last
check, baseline, card, the last window's outcomes), the alias's ``GateSpec`` and the current time,
and returns a ``Decision`` with every reason for a refusal. ``AuditRecord`` (with its
``Evidence``) is the JSON kept for each decision (``audit.json``) and the run tags that index it.
``workflows.promote`` reads the state from MLflow, decides, moves aliases and stores the records.

Alias moves made outside ``promote`` (``MlflowClient.set_registered_model_alias``, the MLflow UI)
are read by ``read_alias_move``: an alias event is *ours* when the latest record that says where
the alias went (a move the monitor made: granted, forced, rollback, revert; or a move it already
observed: bypass, unaudited) names the event's version. Promote, rollback and revert store their
record *before* they move the alias (a RUNNING audit run is the intent), so the event of their
own move always finds it: a revert never triggers another revert.

Judged and not judged, one rule for gate, card and status (``judged_summary``): ``pass``, ``warn``,
``fail`` and ``error`` are judged; ``insufficient_data`` (a denominator below its minimum, with
its counts) and ``not_evaluated`` (the input was absent) are not. A check not judged is never a
pass and never a finding (nobody is paged, health ignores it). A gate's ``must_pass`` asks for
the named checks to be judged *and* pass, so an ``insufficient_data`` check it names refuses with
"not judged: insufficient data (<counts>)": promoting on a rule that was never judged would
claim compliance nobody measured (a gate that should not wait for small groups names the rules
it needs, not the whole pack). A critical ``not_evaluated`` check refuses whatever ``must_pass``
says, because the window's health does not cover it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
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
    Status,
    WindowResults,
    unevaluated_critical,
    utc_text,
)
from mlflow_monitor.errors import DataError, RegistryError
from mlflow_monitor.spec import GateSpec
from mlflow_monitor.verdicts.comparison import BeatJudgement

__all__ = [
    "AUDITED_MOVES",
    "NOT_JUDGED",
    "OBSERVED_MOVES",
    "AliasEntry",
    "AliasMove",
    "AuditRecord",
    "Decision",
    "DecisionKind",
    "Evidence",
    "JudgedSummary",
    "VersionState",
    "decide",
    "judged_summary",
    "not_judged_reason",
    "policy_status",
    "read_alias_move",
    "read_outcomes",
    "status_summary",
]

DecisionKind = Literal[
    "granted",
    "refused",
    "forced",
    "rollback",
    "rollback_skipped",
    "bypass",  # an alias moved outside promote onto a version its gate refuses
    "unaudited",  # an alias moved outside promote onto a version its gate would grant
    "revert",  # a bypass undone (``revert_bypass: true``)
]
# moves the monitor makes itself (each stores its record before it moves the alias)
AUDITED_MOVES: frozenset[str] = frozenset({"granted", "forced", "rollback", "revert"})
# moves made by someone else, recorded once they were seen
OBSERVED_MOVES: frozenset[str] = frozenset({"bypass", "unaudited"})
_MAX_LISTED = 5
NOT_JUDGED: frozenset[Status] = frozenset({"insufficient_data", "not_evaluated"})
_SHOWN_ORDER: tuple[Status, ...] = ("pass", "warn", "fail", "error", *sorted(NOT_JUDGED))
_STATUS_WORDS: dict[Status, str] = {
    "pass": "pass",
    "warn": "warn",
    "fail": "fail",
    "error": "error",
    "insufficient_data": "insufficient data (not judged)",
    "not_evaluated": "not evaluated (not judged)",
}


# -- judged or not: the one rule gate, card and status share -----------------------------------
@dataclass(frozen=True)
class JudgedSummary:
    """How many checks ended in each status; judged = pass, warn, fail or error."""

    counts: Mapping[Status, int]

    @property
    def total(self) -> int:
        """Every check counted."""
        return sum(self.counts.values())

    @property
    def passed(self) -> int:
        """Checks judged and passing."""
        return self.counts.get("pass", 0)

    @property
    def not_judged(self) -> int:
        """Checks reported but not judged (``insufficient_data``, ``not_evaluated``)."""
        return sum(n for s, n in self.counts.items() if s in NOT_JUDGED)

    @property
    def judged(self) -> int:
        """Checks with a verdict (pass, warn, fail, error)."""
        return self.total - self.not_judged

    @property
    def all_pass(self) -> bool:
        """True only when there is at least one check and every one was judged and passed."""
        return self.total > 0 and self.passed == self.total

    def text(self, noun: str = "check") -> str:
        """``7 rule checks: 5 pass, 2 insufficient data (not judged)``; ``all 3 pass`` only then."""
        label = f"{self.total} {noun}{'' if self.total == 1 else 's'}"
        if self.total == 0:
            return f"no {noun}s"
        if self.all_pass:
            return f"{label}: all {self.total} pass" if self.total > 1 else f"{label}: pass"
        parts = [f"{self.counts[s]} {_STATUS_WORDS[s]}" for s in _SHOWN_ORDER if self.counts.get(s)]
        return f"{label}: {', '.join(parts)}"


def judged_summary(outcomes: Iterable[CheckOutcome]) -> JudgedSummary:
    """Count ``outcomes`` per status (pure)."""
    return status_summary(o.status for o in outcomes)


def status_summary(statuses: Iterable[str]) -> JudgedSummary:
    """Count statuses (a rule's rows, ``compliance.json`` rows); unknown ones are left out."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return JudgedSummary({s: counts[s] for s in _SHOWN_ORDER if s in counts})


def policy_status(outcomes: Iterable[CheckOutcome]) -> str:
    """The policy rule checks' counts (``7 rule checks: 5 pass, ...``); "" when there are none."""
    summary = judged_summary(o for o in outcomes if _is_rule(o))
    return summary.text("rule check") if summary.total else ""


def _is_rule(outcome: CheckOutcome) -> bool:
    return outcome.check_id.startswith("policy/")


def not_judged_reason(outcome: CheckOutcome) -> str:
    """``not judged: insufficient data (12 rows < minimum 30; n=12 vs 400)``, for people."""
    if outcome.status == "insufficient_data":
        return f"not judged: insufficient data ({_counts_text(outcome)})"
    return f"not judged: not evaluated ({_why(outcome)})"


def _counts_text(outcome: CheckOutcome) -> str:
    """The counts behind an ``insufficient_data`` outcome: its notes, then its denominators."""
    ev = outcome.evidence
    keys = ("note", "reason", "judgement")
    parts = [str(ev[k]) for k in keys if isinstance(ev.get(k), str) and ev[k]]
    counts = _denominators(outcome)
    if counts and not any(counts in p for p in parts):
        parts.append(counts)
    return "; ".join(parts) or outcome.message or "too few cases"


def _denominators(outcome: CheckOutcome) -> str:
    """``n=12 vs 400`` from the interval or the evidence; ``12 rows < minimum 30``; or ""."""
    ev, interval = outcome.evidence, outcome.interval
    n, versus = ev.get("denominator"), ev.get("reference_denominator")
    if interval is not None and interval.denominator is not None:
        n, versus = interval.denominator, interval.reference_denominator
    if isinstance(n, int):
        return f"n={n}" + (f" vs {versus}" if isinstance(versus, int) else "")
    size, minimum = ev.get("size"), ev.get("min_group_size")
    if isinstance(size, int):
        return f"{size} rows" + (f" < minimum {minimum}" if minimum else "")
    return ""


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


def decide(
    state: VersionState,
    gate: GateSpec,
    *,
    alias: str,
    now: datetime,
    beat: BeatJudgement | None = None,
) -> Decision:
    """Check health, age, baseline, card, unevaluated critical checks, must-pass and must-beat.

    ``beat`` is the gate's ``must_beat`` judged on the verdict window's shadow comparison
    (``verdicts.comparison.judge_beat``); a gate with ``must_beat`` and no judgement refuses.
    Pure.
    """
    reasons = [
        *_health_reasons(state, gate),
        *_age_reasons(state, gate, now),
        *_baseline_reasons(state, gate),
        *_card_reasons(state, gate),
        *_not_evaluated_reasons(state),
        *_must_pass_reasons(state, gate),
        *_must_beat_reasons(gate, beat),
    ]
    return Decision(alias=alias, granted=not reasons, reasons=tuple(reasons))


def _must_beat_reasons(gate: GateSpec, beat: BeatJudgement | None) -> list[str]:
    if gate.must_beat is None:
        return []
    if beat is None:
        return [f"must_beat @{gate.must_beat.alias}: not judged (no comparison was read)"]
    return [] if beat.beats else [beat.reason]


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
        f"stale: the verdict's window ended {_human_seconds(age)} ago "
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
    """Every named check must be judged and pass: the counts, then each one that did not.

    A critical ``not_evaluated`` check is already a reason (``_not_evaluated_reasons``) and is
    not listed twice; any other check named here that is not a judged pass refuses.
    """
    reasons: list[str] = []
    listed = {o.check_id for o in unevaluated_critical(state.outcomes or ())}
    for name in gate.must_pass:
        if state.outcomes is None:
            reasons.append(f"must_pass {name}: the last monitoring run has no results.json")
            continue
        # an estimate (judged before labels) never satisfies a gate: measured outcomes only
        matched = [o for o in state.outcomes if o.matches(name) and o.basis == "measured"]
        if not matched:
            reasons.append(f"must_pass {name}: no such check in the last monitoring run")
            continue
        summary = judged_summary(matched)
        if summary.all_pass:
            continue
        noun = "rule check" if all(_is_rule(o) for o in matched) else "check"
        reasons.append(f"must_pass {name}: {summary.text(noun)}")
        refusing = [o for o in matched if o.status != "pass" and o.check_id not in listed]
        reasons += [f"must_pass {name}: {_not_passing(o)}" for o in refusing[:_MAX_LISTED]]
        if len(refusing) > _MAX_LISTED:
            reasons.append(f"must_pass {name}: and {len(refusing) - _MAX_LISTED} more not passing")
    return reasons


def _not_passing(outcome: CheckOutcome) -> str:
    if outcome.status in NOT_JUDGED:
        return f"{outcome.check_id} {not_judged_reason(outcome)}"
    detail = f" ({outcome.message})" if outcome.message else ""
    return f"{outcome.check_id} is {outcome.status}{detail}"


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


# -- alias moves made outside promote ------------------------------------------------------------
@dataclass(frozen=True)
class AliasEntry:
    """One stored audit record of an alias, as its run tags index it (``pending``: the record
    was stored as an intent and its move may still be under way)."""

    decision: str
    version: str
    at: str
    run_id: str
    pending: bool = False


MoveKind = Literal["ours", "recorded", "unexplained"]


@dataclass(frozen=True)
class AliasMove:
    """What an alias event means against the audit trail.

    ``ours``: the latest placing record is a move the monitor made to this version;
    ``recorded``: this move was already seen (a ``bypass``/``unaudited`` record names it);
    ``unexplained``: nobody recorded it: judge the version with the alias's gate.
    ``basis`` is that latest placing record (None: the alias was never placed by record);
    ``restore_to`` the version the monitor itself last put there, other than the event's (None:
    none, a revert deletes the alias).
    """

    kind: MoveKind
    basis: AliasEntry | None
    restore_to: str | None


def read_alias_move(entries: Iterable[AliasEntry], version: str) -> AliasMove:
    """Judge ``model@alias -> version`` against the alias's audit entries (any order). Pure."""
    ordered = sorted(entries, key=lambda e: (e.at, e.run_id))
    placing = [e for e in ordered if e.decision in AUDITED_MOVES | OBSERVED_MOVES]
    basis = placing[-1] if placing else None
    placed_by_us = [e.version for e in ordered if e.decision in AUDITED_MOVES]
    restore = next((v for v in reversed(placed_by_us) if v != str(version)), None)
    if basis is not None and basis.version == str(version):
        kind: MoveKind = "ours" if basis.decision in AUDITED_MOVES else "recorded"
        return AliasMove(kind, basis, restore)
    return AliasMove("unexplained", basis, restore)


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
    # must_beat: the paired test's numbers, the margin and the one-sided bound (or None)
    beat: dict[str, object] | None = None

    @classmethod
    def of(
        cls, state: VersionState, gate: GateSpec, beat: BeatJudgement | None = None
    ) -> Evidence:
        """The evidence of ``state`` judged against ``gate`` (and ``must_beat``'s numbers)."""
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
            beat=_beat_evidence(beat),
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
    # what an observed move was seen through (webhook delivery id, payload fields), else None
    event: Mapping[str, str] | None = None

    def to_dict(self) -> dict[str, object]:
        """JSON-safe mapping (stored as ``audit.json``)."""
        evidence = None
        if self.evidence is not None:
            evidence = {**self.evidence.__dict__, "not_passing": list(self.evidence.not_passing)}
        body: dict[str, object] = {
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
        if self.event is not None:
            body["event"] = dict(self.event)
        return body

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
                event=_event(data.get("event")),
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


def _beat_evidence(beat: BeatJudgement | None) -> dict[str, object] | None:
    if beat is None:
        return None
    return {"beats": beat.beats, "reason": beat.reason, **dict(beat.evidence)}


def _event(value: object) -> dict[str, str] | None:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
