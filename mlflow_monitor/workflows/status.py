"""Status of monitored model versions: health, its window, the last error, failing checks.

Read from the version tags (the contract of DESIGN.md section 4) and from the verdict run's
``results.json``: its findings are the failing checks, and a critical check that could not be
evaluated (``not_evaluated``: its input, e.g. the labels, was absent) marks the verdict partial
(``healthy (partial)``), because a gate refuses it. A failed attempt is shown beside the verdict
(``LAST ERROR``), never instead of it; a version with a failed attempt and no verdict yet is
``failed (no verdict)``. Legacy stores whose version has no window tag take the window from
``results.json``; a legacy ``error`` health shows its reason as the failing entry.

``CHECKS`` counts the verdict's outcomes per status with the rule the gate and the card use
(``verdicts.promotion.judged_summary``): ``insufficient_data`` and ``not_evaluated`` are shown as
not judged, never as passing and never as failing. The policy rule checks are among them:
``85 checks (12 of them policy rules): 80 pass, 5 fail; policy rules: all 12 pass``.

``-v`` (``status_table(verbose=True)``) adds, below the table, each version's findings with
their value, baseline, allowed bound and interval (``CheckOutcome.value`` / ``.baseline`` /
``.threshold`` / ``.interval``), and every check not judged with its reason and counts
(``verdicts.promotion.not_judged_reason``). ``--json`` holds the same lines.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns, VersionState
from mlflow_monitor.contract import RESULTS_FILE, CheckOutcome, WindowResults
from mlflow_monitor.errors import DataError
from mlflow_monitor.verdicts.promotion import (
    NOT_JUDGED,
    JudgedSummary,
    judged_summary,
    not_judged_reason,
    policy_status,
    status_summary,
)
from mlflow_monitor.views import health_badge, panel_html, table_html

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["StatusReport", "StatusRow", "status", "status_json", "status_rows", "status_table"]

_VERDICTS = ("healthy", "warning", "critical")
_SEVERITY = {"healthy": 1, "warning": 2, "critical": 3}
_TABLE_FINDINGS = 3  # failing checks shown per row unless verbose
_ERROR_WIDTH = 60  # characters of the last error's first line in the table


@dataclass(frozen=True)
class StatusRow:
    """One version's status: every field of ``status --json``; the table shows a selection."""

    model: str
    version: str
    aliases: tuple[str, ...]
    health: str  # as shown: "healthy", "healthy (partial)", "failed (no verdict)", "no baseline"
    verdict: str | None  # the monitor.health tag as recorded
    partial: bool  # a critical check of the verdict was not evaluated
    window_start: str | None
    window_end: str | None
    last_checked: str | None
    last_run_id: str | None
    baseline_run_id: str | None
    last_error: str | None
    last_error_run_id: str | None
    last_error_at: str | None
    failing: tuple[str, ...]  # complete: findings, then critical checks not evaluated
    checks: str = ""  # "14 checks: 12 pass, 2 insufficient data (not judged)"
    policy_checks: str = ""  # the same count over the policy rule checks ("" without any)
    check_counts: Mapping[str, int] = field(default_factory=dict)  # status -> outcomes
    policy_counts: Mapping[str, int] = field(default_factory=dict)  # the same, rules only
    # each finding with its value, baseline, allowed bound and interval (worst first)
    finding_details: tuple[str, ...] = ()
    not_judged: tuple[str, ...] = ()  # "<check id>: insufficient data (<counts>)", by id
    slos: tuple[str, ...] = ()  # one line per SLO as last judged (tag monitor.slo)
    # an alias on this version set outside promote (workflows.bypass): "bypass: m@a -> ..."
    bypasses: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-safe fields (tuples as lists)."""
        fields = asdict(self)
        fields["check_counts"] = dict(self.check_counts)
        fields["policy_counts"] = dict(self.policy_counts)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


def status_rows(model: str | None = None, *, tracking_uri: str | None = None) -> list[StatusRow]:
    """One row per registered version (of ``model``, or of every model)."""
    runs = MonitorRuns(tracking_uri)
    rows = [_row(runs, state) for state in runs.versions(model)]
    rows = _with_bypasses(rows, model, tracking_uri=runs.tracking_uri)
    return _with_slos(rows, tracking_uri=runs.tracking_uri)


def _with_bypasses(
    rows: list[StatusRow], model: str | None, *, tracking_uri: str | None
) -> list[StatusRow]:
    """Each alias whose version its audit trail does not explain, or a recorded bypass holds."""
    from mlflow_monitor.workflows.bypass import detect_bypasses

    if not any(r.aliases for r in rows):
        return rows
    found = detect_bypasses(tracking_uri=tracking_uri, model=model, include_recorded=True)
    lines: dict[tuple[str, str], tuple[str, ...]] = {}
    for b in found:
        lines[(b.model, b.version)] = (*lines.get((b.model, b.version), ()), b.line)
    return [replace(r, bypasses=lines.get((r.model, r.version), ())) for r in rows]


def _with_slos(rows: list[StatusRow], *, tracking_uri: str | None) -> list[StatusRow]:
    """Each row's SLO lines from its ``monitor.slo`` tag (one search for every version)."""
    if not rows:
        return rows
    from dataclasses import replace

    from mlflow_monitor.adapters.mlflow.audit_log import AliasRegistry
    from mlflow_monitor.contract import TAG_SLO
    from mlflow_monitor.workflows.slo_report import read_slo_tag

    tags = AliasRegistry(tracking_uri).fleet_version_tags()
    return [
        replace(r, slos=read_slo_tag(tags.get((r.model, r.version), {}).get(TAG_SLO)))
        for r in rows
    ]


@dataclass(frozen=True)
class _Verdict:
    """What the verdict run's ``results.json`` adds to the tags (nothing when unreadable)."""

    window_start: str | None = None
    window_end: str | None = None
    failing: tuple[str, ...] = ()
    partial: bool = False
    checks: str = ""
    policy_checks: str = ""
    check_counts: Mapping[str, int] = field(default_factory=dict)
    policy_counts: Mapping[str, int] = field(default_factory=dict)
    finding_details: tuple[str, ...] = ()
    not_judged: tuple[str, ...] = ()


def _row(runs: MonitorRuns, state: VersionState) -> StatusRow:
    verdict = _read_verdict(runs, state)
    return StatusRow(
        model=state.model,
        version=state.version,
        aliases=state.aliases,
        health=_health_text(state, partial=verdict.partial),
        verdict=state.health,
        partial=verdict.partial,
        window_start=state.window_start or verdict.window_start,
        window_end=state.window_end or verdict.window_end,
        last_checked=state.last_checked,
        last_run_id=state.last_run_id,
        baseline_run_id=state.baseline_run_id,
        last_error=state.last_error,
        last_error_run_id=state.last_error_run_id,
        last_error_at=state.last_error_at,
        failing=verdict.failing,
        checks=verdict.checks,
        policy_checks=verdict.policy_checks,
        check_counts=verdict.check_counts,
        policy_counts=verdict.policy_counts,
        finding_details=verdict.finding_details,
        not_judged=verdict.not_judged,
    )


def _health_text(state: VersionState, *, partial: bool) -> str:
    """The HEALTH cell: the verdict (partial when a critical input was absent), else why none."""
    if state.health:
        return f"{state.health} (partial)" if partial else state.health
    if state.last_error:
        return "failed (no verdict)"
    return "no baseline" if not state.baseline_run_id else "not checked"


def _read_verdict(runs: MonitorRuns, state: VersionState) -> _Verdict:
    """The verdict run's window, findings and partiality, from its ``results.json``."""
    if state.health == "error":  # a legacy store recorded failures in place of the verdict
        return _Verdict(failing=(f"error: {state.reason or 'monitoring failed'}",))
    if state.health not in _VERDICTS or not state.last_run_id:
        return _Verdict()
    try:
        body = runs.read_json(state.last_run_id, RESULTS_FILE)
    except ValueError as exc:  # not JSON
        return _Verdict(failing=(f"unreadable results.json: {exc}",))
    if not isinstance(body, Mapping):
        return _Verdict()
    try:
        results = WindowResults.from_dict(body)
    except DataError as exc:
        return _Verdict(failing=(f"unreadable results.json: {exc}",))
    missing = _critical_not_evaluated(results.outcomes)
    summary = judged_summary(results.outcomes)
    rules = judged_summary(o for o in results.outcomes if _is_rule(o))
    unjudged = sorted((o for o in results.outcomes if o.status in NOT_JUDGED), key=_by_id)
    return _Verdict(
        window_start=results.window_start,
        window_end=results.window_end or None,
        failing=tuple(_finding(o) for o in (*results.findings, *missing)),
        partial=bool(missing),
        checks=summary.text() if summary.total else "",
        policy_checks=policy_status(results.outcomes),
        check_counts={str(s): n for s, n in summary.counts.items()},
        policy_counts={str(s): n for s, n in rules.counts.items()},
        finding_details=tuple(finding_detail(o) for o in results.findings),
        not_judged=tuple(
            f"{o.check_id}: {not_judged_reason(o).removeprefix('not judged: ')}" for o in unjudged
        ),
    )


def _is_rule(outcome: CheckOutcome) -> bool:
    """A policy rule check (the ids ``verdicts.promotion.policy_status`` counts)."""
    return outcome.check_id.startswith("policy/")


def _by_id(outcome: CheckOutcome) -> str:
    return outcome.check_id


def finding_detail(outcome: CheckOutcome) -> str:
    """``performance/roc_auc (fail): value 0.71, baseline 0.81, allowed [0.76, +inf]
    (baseline), interval [0.68, 0.74] (95% delong, n=400)``; the message when none is known."""
    parts = []
    if outcome.value is not None:
        parts.append(f"value {outcome.value:.4g}")
    if outcome.baseline is not None:
        parts.append(f"baseline {outcome.baseline:.4g}")
    if outcome.threshold is not None:
        parts.append(f"allowed {outcome.threshold.text()}")
    if outcome.interval is not None:
        parts.append(f"interval {outcome.interval.text()}")
    if not parts and outcome.message:
        parts.append(outcome.message)
    head = f"{outcome.check_id} ({outcome.status})"
    return f"{head}: {', '.join(parts)}" if parts else head


def _critical_not_evaluated(outcomes: tuple[CheckOutcome, ...]) -> list[CheckOutcome]:
    found = [o for o in outcomes if o.status == "not_evaluated" and o.severity == "critical"]
    return sorted(found, key=lambda o: o.check_id)


def _finding(outcome: CheckOutcome) -> str:
    return f"{outcome.check_id} ({outcome.status})"


@dataclass(frozen=True)
class StatusReport:
    """``status`` for Python: the rows, as text (``str``), a table, JSON or inline HTML."""

    rows: tuple[StatusRow, ...]

    def __str__(self) -> str:
        return status_table(list(self.rows))

    def __repr__(self) -> str:
        shown = ", ".join(f"{r.model} v{r.version}: {r.health}" for r in self.rows[:5])
        more = f", … {len(self.rows) - 5} more" if len(self.rows) > 5 else ""
        return f"StatusReport({shown}{more})"

    def to_dict(self) -> list[dict[str, object]]:
        """Every field of every row (``status --json``)."""
        return [r.to_dict() for r in self.rows]

    def to_frame(self) -> pd.DataFrame:
        """One row per version, every field a column."""
        import pandas as pd

        columns = list(StatusRow.__dataclass_fields__)
        return pd.DataFrame(self.to_dict(), columns=columns)

    def _repr_html_(self) -> str:
        if not self.rows:
            return panel_html("<p>No registered model versions found.</p>")
        table = table_html(
            [_html_row(r) for r in self.rows],
            columns=[
                "model",
                "version",
                "aliases",
                "health",
                "window",
                "last error",
                "checks",
                "failing",
            ],
        )
        worst = max(self.rows, key=lambda r: _SEVERITY.get(r.verdict or "", 0))
        head = f"{len(self.rows)} version(s); worst: {health_badge(worst.health)}"
        return panel_html(f"<p>{head}</p>", table)


def _html_row(r: StatusRow) -> dict[str, object]:
    return {
        "model": r.model,
        "version": r.version,
        "aliases": ", ".join(r.aliases),
        "health": r.health,
        "window": r.window_end,
        "last error": _first_line(r.last_error),
        "checks": _checks_cell(r),
        "failing": "; ".join(r.failing[:_TABLE_FINDINGS]),
    }


def status(model: str | None = None, *, tracking_uri: str | None = None) -> StatusReport:
    """Every registered version's status (of ``model``, or of every model)."""
    return StatusReport(tuple(status_rows(model, tracking_uri=tracking_uri)))


# -- output ------------------------------------------------------------------------------------
def status_json(rows: list[StatusRow]) -> str:
    """Every field of every row, as a JSON list (the failing checks complete)."""
    return json.dumps([r.to_dict() for r in rows], indent=2)


def status_table(rows: list[StatusRow], *, verbose: bool = False) -> str:
    """A plain-text table; failing checks joined with ``; `` (the first 3 unless ``verbose``).

    ``verbose`` lists every failing check and, below the table, each version's findings with
    their numbers and its checks not judged with their reasons (``status_details``).
    """
    if not rows:
        return "no registered model versions found"
    header = ("MODEL", "VERSION", "ALIASES", "HEALTH", "WINDOW", "LAST ERROR", "CHECKS", "FAILING")
    body = [
        (
            r.model,
            r.version,
            ",".join(r.aliases) or "-",
            r.health,
            r.window_end or "-",
            _first_line(r.last_error),
            _checks_cell(r),
            "; ".join(_shown(r.failing, verbose=verbose)) or "-",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header) - 1)]
    lines = []
    for line in (header, *body):
        cells = [c.ljust(w) for c, w in zip(line[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, line[-1]]))
    details = status_details(rows) if verbose else ""
    slos = [f"  {r.model} v{r.version} {line}" for r in rows for line in r.slos]
    if slos:
        lines += ["", "SLOs (as last judged by `slo report`/`slo alert`/`fleet run`):", *slos]
    bypasses = [line for r in rows for line in r.bypasses]
    if bypasses:
        lines += ["", *bypasses]
    return "\n".join(lines) + (f"\n\n{details}" if details else "")


def status_details(rows: list[StatusRow]) -> str:
    """Per version with any: its findings with their numbers, then its checks not judged."""
    blocks = []
    for r in rows:
        if not (r.finding_details or r.not_judged):
            continue
        lines = [
            f"{r.model} version {r.version} ({r.health}), window ending {r.window_end or '-'}:"
        ]
        if r.finding_details:
            lines.append(f"  findings ({len(r.finding_details)}):")
            lines += [f"    - {d}" for d in r.finding_details]
        if r.not_judged:
            lines.append(f"  not judged ({len(r.not_judged)}):")
            lines += [f"    - {d}" for d in r.not_judged]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _checks_cell(row: StatusRow) -> str:
    """``85 checks (12 of them policy rules): 80 pass, 5 fail; policy rules: all 12 pass``.

    The rule checks are part of the total, never extra to it; a row read without the counts
    (``check_counts`` empty) keeps the recorded texts.
    """
    if not row.check_counts:
        return "; ".join(t for t in (row.checks, row.policy_checks) if t) or "-"
    total = _summary(row.check_counts)
    head, _, counts = total.text().partition(": ")
    rules = _summary(row.policy_counts)
    if not rules.total:
        return f"{head}: {counts}"
    if rules.total == total.total:
        return f"{head} ({'a policy rule' if rules.total == 1 else 'all policy rules'}): {counts}"
    noun = "policy rule" if rules.total == 1 else "policy rules"
    rule_counts = rules.text().partition(": ")[2]
    return f"{head} ({rules.total} of them {noun}): {counts}; {noun}: {rule_counts}"


def _summary(counts: Mapping[str, int]) -> JudgedSummary:
    return status_summary(s for s, n in counts.items() for _ in range(n))


def _first_line(text: str | None) -> str:
    """The error's first line, cut to ``_ERROR_WIDTH`` characters (``...`` marks the cut)."""
    lines = (text or "").strip().splitlines()
    if not lines:
        return "-"
    line = lines[0].strip()
    return line if len(line) <= _ERROR_WIDTH else line[: _ERROR_WIDTH - 3].rstrip() + "..."


def _shown(failing: tuple[str, ...], *, verbose: bool) -> list[str]:
    if verbose or len(failing) <= _TABLE_FINDINGS:
        return list(failing)
    return [*failing[:_TABLE_FINDINGS], f"+{len(failing) - _TABLE_FINDINGS} more"]
