"""Markdown descriptions of monitoring runs, for MLflow's run page (tag ``mlflow.note.content``).

MLflow shows a run's ``mlflow.note.content`` as its description, rendered as Markdown. A window
run's note says what a person opening it wants first: the health (and "partial" when a critical
check was not evaluated), the window, the rows, the judged summary line, the top findings with
value, allowed bound and interval, and links to the executed notebooks, reports, ``results.json``,
the card and the baseline run. Baseline runs and FAILED window runs get a short note too.

Pure and standard-library only (the bottom layer): the window note takes the ``results.json``
body as a mapping plus a few strings the caller knows (the summary line from
``verdicts.promotion.judged_summary``, the run's ids, the logged artifact paths). Links are the
MLflow UI's own hash routes (``#/experiments/<id>/runs/<id>/artifacts/<path>``): relative, so
they work on whatever host and path prefix serves the UI. Text from results (check ids,
messages) is escaped for Markdown and HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from mlflow_monitor.views._format import finite, number_text, truncate
from mlflow_monitor.views.inline_html import bound_text, interval_text

__all__ = [
    "MAX_NOTE_FINDINGS",
    "NoteLinks",
    "artifact_link",
    "baseline_note",
    "failed_window_note",
    "run_link",
    "window_note",
]

MAX_NOTE_FINDINGS = 5
_FINDING_ORDER = {"error": 0, "fail": 1, "warn": 2}  # as contract.findings: worst, then by id
_MESSAGE_CHARS = 200
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}|#~])")


@dataclass(frozen=True)
class NoteLinks:
    """Where a run lives in the MLflow UI, and the artifact paths it logged."""

    experiment_id: str
    run_id: str
    artifacts: tuple[str, ...] = ()  # as logged: "notebooks/monitor.ipynb", "results.json"
    baseline_run_id: str | None = None


def run_link(experiment_id: str, run_id: str) -> str:
    """The MLflow UI's route to a run, relative to the page (a hash route)."""
    return f"#/experiments/{quote(experiment_id)}/runs/{quote(run_id)}"


def artifact_link(experiment_id: str, run_id: str, path: str) -> str:
    """The MLflow UI's route to one artifact of a run (its artifact viewer opens on it)."""
    return f"{run_link(experiment_id, run_id)}/artifacts/{quote(path)}"


# -- window runs ---------------------------------------------------------------------------------


def window_note(
    results: Mapping[str, object],
    *,
    summary: str,
    links: NoteLinks,
    max_findings: int = MAX_NOTE_FINDINGS,
    findings: Sequence[Mapping[str, object]] | None = None,
) -> str:
    """A window run's description: health, window, rows, summary, top findings, links.

    ``findings`` are the window's findings in the order people should read them (the caller's
    ``contract.findings``); without them, worst status first, then by check id.
    """
    outcomes = _outcomes(results)
    found = list(findings) if findings is not None else _findings(outcomes)
    blocks = [
        _health_line(results, outcomes),
        _facts(results, summary),
        _findings_block(found, max_findings),
        _links_block(links),
    ]
    return "\n\n".join(b for b in blocks if b) + "\n"


def failed_window_note(
    *,
    error: str,
    window_start: str | None,
    window_end: str | None,
    links: NoteLinks,
) -> str:
    """A FAILED window run's description: that it failed, the error line, what it left."""
    lines = [
        "**Monitoring failed**: no health for this window; the version keeps its last verdict.",
        f"- **Error:** {_md(_first_line(error))}",
    ]
    if window_end or window_start:
        lines.append(f"- **Window:** {_window_text(window_start, window_end)}")
    return "\n\n".join(b for b in ("\n".join(lines), _links_block(links)) if b) + "\n"


def _health_line(results: Mapping[str, object], outcomes: list[Mapping[str, object]]) -> str:
    health = str(results.get("health") or "not checked")
    head = f"**Health: {_md(health)}**"
    model, version = results.get("model"), results.get("model_version")
    if model:
        head += f" · {_md(model)}" + (f" v{_md(version)}" if version else "")
    absent = sorted(
        str(o.get("check_id"))
        for o in outcomes
        if o.get("status") == "not_evaluated" and o.get("severity") == "critical"
    )
    if not absent:
        return head
    names = ", ".join(f"`{_code(name)}`" for name in absent[:3])
    more = f" and {len(absent) - 3} more" if len(absent) > 3 else ""
    return (
        f"{head} · **partial**: critical check{'s' if len(absent) > 1 else ''} not evaluated "
        f"({names}{more}); the health speaks for the other checks only"
    )


def _facts(results: Mapping[str, object], summary: str) -> str:
    start, end = results.get("window_start"), results.get("window_end")
    lines = [f"- **Window:** {_window_text(_text(start), _text(end))}"]
    rows = finite(results.get("rows"))
    if rows is not None:
        lines.append(f"- **Rows:** {int(rows):,}")
    if summary:
        lines.append(f"- **Checks:** {_md(summary)}")
    return "\n".join(lines)


def _findings_block(found: list[Mapping[str, object]], max_findings: int) -> str:
    if not found:
        return "**Findings:** none."
    shown = found[:max_findings]
    more = f" ({len(shown)} of {len(found)})" if len(found) > len(shown) else ""
    head = f"**Top findings**{more}"
    items = [f"{i}. {_finding_line(o)}" for i, o in enumerate(shown, start=1)]
    return "\n".join([head, "", *items])


def _finding_line(outcome: Mapping[str, object]) -> str:
    """``\\`performance/roc_auc\\` fail (critical): value 0.71, baseline 0.81, allowed ≥ 0.76,
    interval [0.68, 0.74] 95% n=400``; the message when none of those is known."""
    head = f"`{_code(str(outcome.get('check_id')))}` {_md(outcome.get('status'))}"
    if outcome.get("severity"):
        head += f" ({_md(outcome.get('severity'))})"
    parts = []
    for name in ("value", "baseline"):
        number = finite(outcome.get(name))
        if number is not None:
            parts.append(f"{name} {number_text(number)}")
    bound = bound_text(outcome.get("threshold"))
    if bound:
        parts.append(f"allowed {bound}")
    interval = interval_text(outcome.get("interval"))
    if interval:
        parts.append(f"interval {interval}")
    if not parts and outcome.get("message"):
        parts.append(truncate(str(outcome.get("message")), _MESSAGE_CHARS))
    return f"{head}: {_md(', '.join(parts))}" if parts else head


# -- baseline runs -------------------------------------------------------------------------------


def baseline_note(
    *,
    model: str,
    version: str,
    rows: int,
    columns: Sequence[str],
    links: NoteLinks,
    performance: Mapping[str, float] | None = None,
) -> str:
    """A baseline run's description: what it was built from and what it holds."""
    shown = ", ".join(f"`{_code(c)}`" for c in columns[:20])
    more = f" and {len(columns) - 20} more" if len(columns) > 20 else ""
    lines = [
        f"**Baseline** of {_md(model)} v{_md(version)}: the reference windows are judged against.",
        "",
        f"- **Reference rows:** {rows:,}",
        f"- **Columns profiled ({len(columns)}):** {shown}{more}",
    ]
    perf = [f"{_md(k)} {number_text(v)}" for k, v in (performance or {}).items()]
    if perf:
        lines.append(f"- **Reference performance:** {', '.join(perf)}")
    return "\n\n".join(b for b in ("\n".join(lines), _links_block(links)) if b) + "\n"


# -- links ---------------------------------------------------------------------------------------


def _links_block(links: NoteLinks) -> str:
    """Notebooks (rendered HTML and .ipynb), reports, results.json, the card, the baseline run."""
    paths = list(dict.fromkeys(links.artifacts))
    groups = [
        ("Notebooks", _notebook_links(links, paths)),
        ("Reports", _report_links(links, paths)),
        ("Files", _file_links(links, paths)),
    ]
    items = [f"- {name}: {', '.join(found)}" for name, found in groups if found]
    if links.baseline_run_id:
        items.append(f"- [Baseline run]({run_link(links.experiment_id, links.baseline_run_id)})")
    return "\n".join(["**Artifacts**", "", *items]) if items else ""


def _notebook_links(links: NoteLinks, paths: list[str]) -> list[str]:
    items = []
    notebooks = [p for p in paths if p.startswith("notebooks/") and p.endswith(".ipynb")]
    for path in sorted(notebooks, key=lambda p: (p != "notebooks/monitor.ipynb", p)):
        stem = path[len("notebooks/") : -len(".ipynb")]
        ipynb = f"[.ipynb]({_link(links, path)})"
        rendered = f"notebooks/{stem}.html"
        if rendered in paths:
            items.append(f"[{_md(stem)}]({_link(links, rendered)}) ({ipynb})")
        else:
            items.append(f"{_md(stem)} ({ipynb})")
    return items


def _report_links(links: NoteLinks, paths: list[str]) -> list[str]:
    reports = [p for p in paths if p.startswith("reports/") and p.endswith(".html")]
    return [f"[{_md(p[len('reports/') : -len('.html')])}]({_link(links, p)})" for p in reports]


_FILES = (
    ("results.json", "results.json"),
    ("error.json", "error.json"),
    ("model_card.html", "model card"),
    ("compliance.json", "compliance.json"),
    ("baseline/baseline.json", "baseline.json"),
)


def _file_links(links: NoteLinks, paths: list[str]) -> list[str]:
    present = set(paths)
    shown = [(p, label) for p, label in _FILES if p in present]
    if "model_card.html" not in present and "model_card.md" in present:
        shown.append(("model_card.md", "model card"))
    return [f"[{label}]({_link(links, path)})" for path, label in shown]


def _link(links: NoteLinks, path: str) -> str:
    return artifact_link(links.experiment_id, links.run_id, path)


# -- text ----------------------------------------------------------------------------------------


def _outcomes(results: Mapping[str, object]) -> list[Mapping[str, object]]:
    raw = results.get("outcomes")
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        return []
    return [o for o in raw if isinstance(o, Mapping)]


def _findings(outcomes: list[Mapping[str, object]]) -> list[Mapping[str, object]]:
    found = [o for o in outcomes if o.get("status") in _FINDING_ORDER]
    return sorted(found, key=lambda o: (_FINDING_ORDER[str(o["status"])], str(o.get("check_id"))))


def _window_text(start: str | None, end: str | None) -> str:
    if start and end:
        return f"{_md(start)} → {_md(end)}"
    return f"until {_md(end)}" if end else f"from {_md(start)}"


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or ["unknown error"])[0]


def _md(value: object) -> str:
    """Text shown as itself in Markdown: HTML escaped, Markdown's specials backslashed."""
    text = " ".join(str(value).split())  # one line: a newline would end a list item
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _code(text: str) -> str:
    """Text inside an inline code span: no backtick can close it early."""
    return " ".join(text.replace("`", "'").split())
