"""Root causes (pure): one cause, one finding.

``assign_causes`` sets ``CheckOutcome.cause`` on the findings (warn, fail, error) that one cause
explains, so alerts (``alert_plan.alert_key`` = ``cause:<cause>``) are sent, repeated and
resolved once per cause instead of once per symptom. The rules, in this order, the specific
before the general; the first rule that explains a finding wins, and a cause is set only on at
least two findings (a cause of one is no grouping: that finding keeps ``None``):

1. ``prevalence``, a group's: a bias-drift finding on the metric ``prevalence`` (the group's
   share of actual positives moved) explains every bias-drift finding of that group.
2. ``drift:<column>``: a drifted feature that is a grouping column (named as an attribute, a part
   of an intersection ``a:b``, or a segment column in some outcome's check id) explains its own
   drift finding, the bias-drift findings of attributes built on it and its segments' drops.
3. ``prevalence``, overall: the groups of one attribute pooled from the bias-drift prevalence
   outcomes' counts (``baseline_value``/``baseline_n`` against ``current_value``/``current_n``,
   whatever their status) show a change of at least ``min_effect`` with a two-proportion z-test
   p < ``alpha``: every bias-drift finding and segment drop left explains the label shift.
4. ``attribute:<attr>``: both groups of a two-group attribute (``sex=Female`` and ``sex=Male``;
   the ``(missing)`` group not counted) have bias-drift findings: all of that attribute's.
5. ``group:<attr>=<group>``: several bias-drift findings of one group.
6. ``performance``: several performance findings.

Quality, policy and other drift findings, findings that already carry a cause and outcomes that
are not findings are returned unchanged. The result depends only on the outcomes and their order.
``could_explain`` says which checks a cause covers (an alert under a cause that no outcome carries
any more is resolved once those checks were judged); ``cause_label`` is the cause for people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from mlflow_monitor.contract import CheckOutcome
from mlflow_monitor.stats.bias_drift import two_proportion_z
from mlflow_monitor.stats.fairness import INTERSECTION_SEPARATOR, MISSING_GROUP

__all__ = [
    "PERFORMANCE",
    "PREVALENCE",
    "assign_causes",
    "bias_drift_parts",
    "cause_label",
    "could_explain",
    "segment_column",
]

PREVALENCE = "prevalence"
PERFORMANCE = "performance"
_BIAS_PREFIX = "bias_drift/"
_SEGMENT_PREFIX = "segment/"
_DRIFT_PREFIX = "drift/"
_NOT_FEATURES = ("share_drifted", "prediction/")  # drift ids that are no feature column

Rule = Callable[[Sequence[CheckOutcome], frozenset[int]], dict[int, str]]


def assign_causes(
    outcomes: Sequence[CheckOutcome], *, alpha: float = 0.05, min_effect: float = 0.05
) -> tuple[CheckOutcome, ...]:
    """The outcomes with ``cause`` set on the findings one cause explains (see the module).

    ``alpha`` and ``min_effect`` judge the overall prevalence change (the bias-drift settings,
    ``fairness.drift_alpha`` and ``fairness.drift_min_effect``, in ``evaluate_window``).
    """
    result = list(outcomes)
    rules: list[Rule] = [
        _prevalence_of_groups,
        _drifted_columns,
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
    if kind == "drift" and what:
        return f"{what} drifted (its distribution changed)"
    if kind == "attribute" and what:
        return f"both groups of {what} moved"
    if kind == "group" and what:
        return f"several metrics of {what} moved"
    return f"cause {cause}"


def could_explain(cause: str, outcome: CheckOutcome) -> bool:
    """True when ``outcome``'s check is one ``cause`` covers (whatever its status)."""
    kind, _, what = cause.partition(":")
    parts = bias_drift_parts(outcome.check_id)
    if cause == PREVALENCE:
        return parts is not None or segment_column(outcome.check_id) is not None
    if cause == PERFORMANCE:
        return outcome.kind == "performance"
    if kind == "drift":
        return (
            outcome.check_id == _DRIFT_PREFIX + what
            or (parts is not None and what in parts[0].split(INTERSECTION_SEPARATOR))
            or segment_column(outcome.check_id) == what
        )
    if kind == "attribute":
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


# -- the rules: each returns {index: cause} for the free findings (``free``) it explains -------
# A rule reads every outcome (passing ones carry the counts and group names it needs) and
# assigns only free findings: firing, and without a cause from an earlier rule.


def _prevalence_of_groups(found: Sequence[CheckOutcome], free: frozenset[int]) -> dict[int, str]:
    moved = {
        (p[0], p[1])
        for o in found
        if o.firing and (p := bias_drift_parts(o.check_id)) is not None and p[2] == PREVALENCE
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
    columns = []
    for o in found:
        if o.kind == "drift" and o.firing and o.check_id.startswith(_DRIFT_PREFIX):
            column = o.check_id[len(_DRIFT_PREFIX) :]
            if column and not column.startswith(_NOT_FEATURES):
                columns.append(column)
    return columns


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
