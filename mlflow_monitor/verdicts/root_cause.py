"""Root causes (pure): one cause, one finding.

``assign_causes`` sets ``CheckOutcome.cause`` on the findings (warn, fail, error) that one cause
explains, so alerts (``alert_plan.alert_key`` = ``cause:<cause>``) are sent, repeated and
resolved once per cause instead of once per symptom. The rules, in this order, the specific
before the general; the first rule that explains a finding wins, and a cause is set only on at
least two findings (a cause of one is no grouping: that finding keeps ``None``):

1. ``shift:<attr>``, a level shift: a metric of one attribute moved the same way in every group
   (``level_shifts``: every tested group's change, the ``(missing)`` group not counted, has the
   same sign, and the changes are within a factor of 2 of each other or within ``min_effect``
   of each other; at least two tested groups). Such bias drift is drift, not a disparity (the
   policy rules judge gaps): every bias-drift finding of the attribute on such a metric. It
   comes first because it is read from the findings themselves and says what a fairness reader
   must know first: no gap between groups opened.
2. ``prevalence``, a group's own: a bias-drift finding on the metric ``prevalence`` (the group's
   share of actual positives moved, and not as every group's did: that is rule 1's level shift)
   explains every bias-drift finding left of that group.
3. ``drift:<column>``: a drifted feature that is a grouping column (named as an attribute, a part
   of an intersection ``a:b``, or a segment column in some outcome's check id) explains its own
   drift finding, the bias-drift findings left of attributes built on it and its segments'
   drops. Like every cause it needs two findings: a grouping column whose drift explains
   nothing else is one drifted column among the others (rule 4).
4. ``drift:dataset``, dataset drift: when ``drift/share_drifted`` fires, or at least
   ``DATASET_MIN_COLUMNS`` feature columns drift, the share finding and every drift finding
   left of a feature column (``drift/<column>``; prediction drift, ``drift/prediction/...``,
   is no feature and stays on its own line). The share finding is the cause's head
   (``cause_head``).
5. ``prevalence``, overall: the groups of one attribute pooled from the bias-drift prevalence
   outcomes' counts (``baseline_value``/``baseline_n`` against ``current_value``/``current_n``,
   whatever their status) show a change of at least ``min_effect`` with a two-proportion z-test
   p < ``alpha``: every bias-drift finding and segment drop left explains the label shift.
6. ``attribute:<attr>``: both groups of a two-group attribute (``sex=Female`` and ``sex=Male``;
   the ``(missing)`` group not counted) have bias-drift findings: all of that attribute's.
7. ``group:<attr>=<group>``: several bias-drift findings of one group.
8. ``performance``: several performance findings.

Quality, policy, prediction-drift findings, findings that already carry a cause and outcomes that
are not findings are returned unchanged. The result depends only on the outcomes and their order.
``could_explain`` says which checks a cause covers (an alert under a cause that no outcome carries
any more is resolved once those checks were judged); ``cause_label`` is the cause for people.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from mlflow_monitor.contract import CheckOutcome, findings
from mlflow_monitor.stats.bias_drift import two_proportion_z
from mlflow_monitor.stats.fairness import INTERSECTION_SEPARATOR, MISSING_GROUP

__all__ = [
    "DATASET_DRIFT",
    "DATASET_MIN_COLUMNS",
    "PERFORMANCE",
    "PREVALENCE",
    "SHARE_DRIFTED",
    "assign_causes",
    "bias_drift_parts",
    "cause_head",
    "cause_label",
    "could_explain",
    "headline",
    "level_shift_attribute",
    "level_shifts",
    "segment_column",
]

PREVALENCE = "prevalence"
PERFORMANCE = "performance"
DATASET_DRIFT = "drift:dataset"
SHARE_DRIFTED = "drift/share_drifted"
DATASET_MIN_COLUMNS = 3  # drifted feature columns that make dataset drift without the share
_SHIFT_PREFIX = "shift:"
_SHIFT_RATIO = 2.0  # a level shift's largest change is at most twice its smallest ...
_EPS = 1e-9  # ... or within min_effect of it; rates are differences of rounded values
_BIAS_PREFIX = "bias_drift/"
_SEGMENT_PREFIX = "segment/"
_DRIFT_PREFIX = "drift/"
_NOT_FEATURES = ("share_drifted", "prediction/")  # drift ids that are no feature column
_JUDGED = frozenset({"pass", "warn", "fail"})  # a bias-drift change that was tested

Rule = Callable[[Sequence[CheckOutcome], frozenset[int]], dict[int, str]]


def assign_causes(
    outcomes: Sequence[CheckOutcome], *, alpha: float = 0.05, min_effect: float = 0.05
) -> tuple[CheckOutcome, ...]:
    """The outcomes with ``cause`` set on the findings one cause explains (see the module).

    ``alpha`` and ``min_effect`` judge the overall prevalence change, ``min_effect`` also what
    counts as similar changes of a level shift (the bias-drift settings,
    ``fairness.drift_alpha`` and ``fairness.drift_min_effect``, in ``evaluate_window``).
    """
    result = list(outcomes)
    shifts = level_shifts(result, min_effect=min_effect)
    rules: list[Rule] = [
        lambda found, free: _level_shifted(found, free, shifts),
        lambda found, free: _prevalence_of_groups(found, free, shifts),
        _drifted_columns,
        _dataset_drift,
        lambda found, free: _overall_prevalence(found, free, alpha=alpha, min_effect=min_effect),
        _binary_attributes,
        _groups,
        _performance,
    ]
    for rule in rules:
        free = frozenset(i for i, o in enumerate(result) if o.firing and o.cause is None)
        for index, cause in rule(result, free).items():
            result[index] = replace(result[index], cause=cause)
    return tuple(result)


def cause_label(cause: str) -> str:
    """The cause for people: ``label prevalence changed``, ``age drifted`` ..."""
    kind, _, what = cause.partition(":")
    if cause == PREVALENCE:
        return "label prevalence changed"
    if cause == PERFORMANCE:
        return "performance dropped"
    if cause == DATASET_DRIFT:
        return "dataset drift (feature columns drifted together)"
    if kind == "drift" and what:
        return f"{what} drifted (its distribution changed)"
    if kind == "shift" and what:
        return f"{what}: a level shift in every group, not a gap between groups"
    if kind == "attribute" and what:
        return f"both groups of {what} moved"
    if kind == "group" and what:
        return f"several metrics of {what} moved"
    return f"cause {cause}"


def cause_head(cause: str) -> str | None:
    """The check a cause is named after, shown with the cause's heading when it is folded:
    the share of drifted columns for dataset drift, the column's drift for ``drift:<col>``."""
    kind, _, what = cause.partition(":")
    if cause == DATASET_DRIFT:
        return SHARE_DRIFTED
    if kind == "drift" and what:
        return _DRIFT_PREFIX + what
    return None


def level_shift_attribute(cause: str | None) -> str | None:
    """The attribute of a ``shift:<attr>`` cause (None for any other cause)."""
    if cause and cause.startswith(_SHIFT_PREFIX) and len(cause) > len(_SHIFT_PREFIX):
        return cause[len(_SHIFT_PREFIX) :]
    return None


def could_explain(cause: str, outcome: CheckOutcome) -> bool:
    """True when ``outcome``'s check is one ``cause`` covers (whatever its status)."""
    kind, _, what = cause.partition(":")
    parts = bias_drift_parts(outcome.check_id)
    if cause == PREVALENCE:
        return parts is not None or segment_column(outcome.check_id) is not None
    if cause == PERFORMANCE:
        return outcome.kind == "performance"
    if cause == DATASET_DRIFT and (
        outcome.check_id == SHARE_DRIFTED or _feature_column(outcome) is not None
    ):
        return True  # (a grouping column named "dataset" is covered as below, too)
    if kind == "drift":
        return (
            outcome.check_id == _DRIFT_PREFIX + what
            or (parts is not None and what in parts[0].split(INTERSECTION_SEPARATOR))
            or segment_column(outcome.check_id) == what
        )
    if kind in ("attribute", "shift"):
        return parts is not None and parts[0] == what
    if kind == "group":
        return parts is not None and f"{parts[0]}={parts[1]}" == what
    return False


def bias_drift_parts(check_id: str) -> tuple[str, str, str] | None:
    """(attribute, group, metric) of a ``bias_drift/<attr>=<group>/<metric>`` check id."""
    if not check_id.startswith(_BIAS_PREFIX):
        return None
    where, _, metric = check_id[len(_BIAS_PREFIX) :].rpartition("/")
    attribute, equals, group = where.partition("=")
    return (attribute, group, metric) if equals and metric else None


def segment_column(check_id: str) -> str | None:
    """The column of a ``segment/<column>=<value>`` check id."""
    if not check_id.startswith(_SEGMENT_PREFIX):
        return None
    column, equals, _ = check_id[len(_SEGMENT_PREFIX) :].partition("=")
    return column if equals else None


def level_shifts(
    outcomes: Iterable[CheckOutcome], *, min_effect: float = 0.05
) -> frozenset[tuple[str, str]]:
    """(attribute, metric) pairs whose bias drift is a level shift, not a gap (rule 1).

    Read from every tested bias-drift outcome (pass, warn or fail; a group too small to test
    says nothing either way), the ``(missing)`` group not counted: at least two groups, every
    change of the same sign (none zero), and the changes similar: the largest at most twice
    the smallest, or the two within ``min_effect`` of each other. Only pairs with a finding.
    """
    changes: dict[tuple[str, str], list[float]] = {}
    firing: set[tuple[str, str]] = set()
    for o in outcomes:
        parts = bias_drift_parts(o.check_id)
        if parts is None or parts[1] == MISSING_GROUP or o.status not in _JUDGED:
            continue
        change = _bias_change(o)
        if change is None:
            continue
        changes.setdefault((parts[0], parts[2]), []).append(change)
        if o.firing:
            firing.add((parts[0], parts[2]))
    return frozenset(pair for pair in firing if _alike(changes[pair], min_effect))


def _alike(changes: list[float], min_effect: float) -> bool:
    if len(changes) < 2 or not (all(c > 0 for c in changes) or all(c < 0 for c in changes)):
        return False
    small, large = min(abs(c) for c in changes), max(abs(c) for c in changes)
    return large <= _SHIFT_RATIO * small + _EPS or large - small <= min_effect + _EPS


def _bias_change(outcome: CheckOutcome) -> float | None:
    """A bias-drift outcome's change: window minus baseline from the evidence, else ``change``."""
    ev = outcome.evidence
    current, base = _number(ev.get("current_value")), _number(ev.get("baseline_value"))
    if current is not None and base is not None:
        return current - base
    change = _number(ev.get("change"))
    if change is not None:
        return change
    if outcome.value is not None and outcome.baseline is not None:
        return outcome.value - outcome.baseline
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _feature_column(outcome: CheckOutcome) -> str | None:
    """The feature column of a ``drift/<column>`` outcome (not the share, not predictions)."""
    if outcome.kind != "drift" or not outcome.check_id.startswith(_DRIFT_PREFIX):
        return None
    column = outcome.check_id[len(_DRIFT_PREFIX) :]
    return column if column and not column.startswith(_NOT_FEATURES) else None


# -- the rules: each returns {index: cause} for the free findings (``free``) it explains -------
# A rule reads every outcome (passing ones carry the counts and group names it needs) and
# assigns only free findings: firing, and without a cause from an earlier rule.


def _level_shifted(
    found: Sequence[CheckOutcome], free: frozenset[int], shifts: frozenset[tuple[str, str]]
) -> dict[int, str]:
    by_attribute: dict[str, list[int]] = {}
    for i in sorted(free):
        parts = bias_drift_parts(found[i].check_id)
        if parts is not None and (parts[0], parts[2]) in shifts:
            by_attribute.setdefault(parts[0], []).append(i)
    causes: dict[int, str] = {}
    for attribute, chosen in by_attribute.items():
        causes.update(_at_least_two(chosen, _SHIFT_PREFIX + attribute))
    return causes


def _prevalence_of_groups(
    found: Sequence[CheckOutcome], free: frozenset[int], shifts: frozenset[tuple[str, str]]
) -> dict[int, str]:
    moved = {
        (p[0], p[1])
        for o in found
        if o.firing
        and (p := bias_drift_parts(o.check_id)) is not None
        and p[2] == PREVALENCE
        and (p[0], PREVALENCE) not in shifts  # every group's moved alike: no group's own
    }
    chosen = [
        i
        for i in sorted(free)
        if (p := bias_drift_parts(found[i].check_id)) is not None and (p[0], p[1]) in moved
    ]
    return _at_least_two(chosen, PREVALENCE)


def _overall_prevalence(
    found: Sequence[CheckOutcome], free: frozenset[int], *, alpha: float, min_effect: float
) -> dict[int, str]:
    if not _overall_prevalence_moved(found, alpha=alpha, min_effect=min_effect):
        return {}
    chosen = [
        i
        for i in sorted(free)
        if bias_drift_parts(found[i].check_id) or segment_column(found[i].check_id)
    ]
    return _at_least_two(chosen, PREVALENCE, already=sum(o.cause == PREVALENCE for o in found))


def _overall_prevalence_moved(
    outcomes: Iterable[CheckOutcome], *, alpha: float, min_effect: float
) -> bool:
    """The groups of the first attribute with complete counts pooled: did prevalence move?"""
    pooled: dict[str, list[float] | None] = {}  # attribute -> summed counts; None: incomplete
    for o in outcomes:
        parts = bias_drift_parts(o.check_id)
        if parts is None or parts[2] != PREVALENCE or INTERSECTION_SEPARATOR in parts[0]:
            continue
        counts = _prevalence_counts(o)
        sums = pooled.setdefault(parts[0], [0.0, 0.0, 0.0, 0.0])
        if counts is None or sums is None:
            pooled[parts[0]] = None
            continue
        pooled[parts[0]] = [a + b for a, b in zip(sums, counts, strict=True)]
    for sums in pooled.values():
        if sums is None or sums[1] <= 0 or sums[3] <= 0:
            continue
        base_pos, base_n, cur_pos, cur_n = sums
        change = cur_pos / cur_n - base_pos / base_n
        _, p_value = two_proportion_z(round(base_pos), int(base_n), round(cur_pos), int(cur_n))
        return abs(change) >= min_effect and p_value < alpha
    return False


def _prevalence_counts(outcome: CheckOutcome) -> tuple[float, float, float, float] | None:
    """(baseline positives, baseline n, current positives, current n) from the evidence."""
    ev = outcome.evidence
    raw = [ev.get(k) for k in ("baseline_value", "baseline_n", "current_value", "current_n")]
    values = [float(v) for v in raw if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(values) != 4:
        return None
    base, base_n, cur, cur_n = values
    return base * base_n, base_n, cur * cur_n, cur_n


def _drifted_columns(found: Sequence[CheckOutcome], free: frozenset[int]) -> dict[int, str]:
    grouping = {c for o in found for c in _grouping_columns(o)}
    causes: dict[int, str] = {}
    for column in _drifted(found):
        if column not in grouping:
            continue
        cause = f"drift:{column}"
        chosen = [i for i in sorted(free - causes.keys()) if could_explain(cause, found[i])]
        causes.update(_at_least_two(chosen, cause))
    return causes


def _drifted(found: Sequence[CheckOutcome]) -> list[str]:
    """Drifted feature columns, in the outcomes' order."""
    return [c for o in found if o.firing and (c := _feature_column(o)) is not None]


def _dataset_drift(found: Sequence[CheckOutcome], free: frozenset[int]) -> dict[int, str]:
    share_fires = any(o.check_id == SHARE_DRIFTED and o.firing for o in found)
    if not share_fires and len(_drifted(found)) < DATASET_MIN_COLUMNS:
        return {}
    chosen = [
        i
        for i in sorted(free)
        if found[i].check_id == SHARE_DRIFTED or _feature_column(found[i]) is not None
    ]
    return _at_least_two(chosen, DATASET_DRIFT)


def _grouping_columns(outcome: CheckOutcome) -> list[str]:
    parts = bias_drift_parts(outcome.check_id)
    if parts is not None:
        return parts[0].split(INTERSECTION_SEPARATOR)
    column = segment_column(outcome.check_id)
    return [column] if column else []


def _binary_attributes(found: Sequence[CheckOutcome], free: frozenset[int]) -> dict[int, str]:
    named: dict[str, set[str]] = {}  # every group the outcomes name (any status)
    for o in found:
        if (p := bias_drift_parts(o.check_id)) is not None and p[1] != MISSING_GROUP:
            named.setdefault(p[0], set()).add(p[1])
    causes: dict[int, str] = {}
    for attribute, (chosen, moved) in _bias_by(found, free, by_group=False).items():
        groups = named.get(attribute, set())
        if len(groups) == 2 and groups <= moved:
            causes.update(_at_least_two(chosen, f"attribute:{attribute}"))
    return causes


def _groups(found: Sequence[CheckOutcome], free: frozenset[int]) -> dict[int, str]:
    causes: dict[int, str] = {}
    for group, (chosen, _) in _bias_by(found, free, by_group=True).items():
        causes.update(_at_least_two(chosen, f"group:{group}"))
    return causes


def _performance(found: Sequence[CheckOutcome], free: frozenset[int]) -> dict[int, str]:
    chosen = [i for i in sorted(free) if found[i].kind == "performance"]
    return _at_least_two(chosen, PERFORMANCE)


def _bias_by(
    found: Sequence[CheckOutcome], free: frozenset[int], *, by_group: bool
) -> dict[str, tuple[list[int], set[str]]]:
    """Free bias-drift findings per attribute (or ``attr=group``): indices and groups moved."""
    out: dict[str, tuple[list[int], set[str]]] = {}
    for i in sorted(free):
        parts = bias_drift_parts(found[i].check_id)
        if parts is None:
            continue
        key = f"{parts[0]}={parts[1]}" if by_group else parts[0]
        indices, groups = out.setdefault(key, ([], set()))
        indices.append(i)
        groups.add(parts[1])
    return out


def _at_least_two(indices: list[int], cause: str, *, already: int = 0) -> dict[int, str]:
    """``cause`` for every index when it then explains two findings or more, else nothing."""
    return {i: cause for i in indices} if len(indices) + already >= 2 else {}


def headline(outcomes: Iterable[CheckOutcome], *, width: int | None = None) -> str:
    """A window's story in one line: its first finding (``contract.findings`` order) and how
    many more its root cause explains: ``check_id: message (+N more: <cause label>)``; "" when
    nothing fires. ``width`` shortens the message, never the cause. The fleet view, the run's
    description and ``monitor.top_finding`` use it."""
    found = findings(outcomes)
    if not found:
        return ""
    first = found[0]
    line = f"{first.check_id}: {first.message}"
    more = sum(1 for o in found[1:] if first.cause and o.cause == first.cause)
    suffix = f" (+{more} more: {cause_label(first.cause)})" if more and first.cause else ""
    if width is not None and len(line) + len(suffix) > width:
        line = line[: max(width - len(suffix) - 1, 0)] + "…"
    return line + suffix
