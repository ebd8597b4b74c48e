"""Workflow step: settle a version's state from its window attempts, and record it in MLflow.

``settle_version`` lists every window run of the version, asks ``verdicts.window_state.settle``
which result counts for each window and which window is the latest, tags superseded attempts
(``monitor.superseded_by`` on the older, ``monitor.supersedes`` on the newer; the older run's
description then opens with a "Superseded" line) and points the
version's health, last run, window and top finding at the verdict. It is a function of the set of
runs, so the order in which attempts finish does not matter; two runs settling at once each
re-read the runs after writing and settle again until what they read is what they wrote from (a
writer whose view went stale during its write corrects it).

``record_model_health`` then lifts the versions' verdicts to the registered model
(``monitor.health``, ``monitor.health_versions``: ``verdicts.window_state.model_health``), the
same way: write, re-read, until what is stored is what the versions say. Every window settles
here, and ``promote`` / auto-rollback call it after an alias moves.
"""

from __future__ import annotations

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import (
    TAG_HEALTH,
    TAG_HEALTH_VERSIONS,
    TAG_RUN_NOTE,
    TAG_SUPERSEDED_BY,
    TAG_SUPERSEDES,
)
from mlflow_monitor.verdicts.window_state import (
    Attempt,
    HeldVersion,
    VersionVerdict,
    model_health,
    settle,
)

__all__ = ["record_model_health", "settle_version", "superseded_note"]

_MAX_ROUNDS = 5
_SUPERSEDED = "**Superseded** by run "


def settle_version(runs: MonitorRuns, model: str, version: str) -> VersionVerdict:
    """Settle and record the version's verdict and the model's health (module docstring)."""
    attempts = runs.window_attempts(model, version)
    for _ in range(_MAX_ROUNDS):
        settled = settle(attempts)
        _tag_superseded(runs, attempts, settled)
        runs.record_verdict(model, version, settled.verdict)
        again = runs.window_attempts(model, version)
        if _finished(again) == _finished(attempts):
            break
        attempts = again
    record_model_health(runs, model)
    return settled


def record_model_health(runs: MonitorRuns, model: str) -> dict[str, str]:
    """Tag the registered model with its health from its versions; returns the tags it holds.

    Without a verdict among the versions that count, ``monitor.health`` is removed (as on a
    version: no tag, no verdict) and ``monitor.health_versions`` still says which they are.
    """
    stored = runs.model_tags(model)
    for _ in range(_MAX_ROUNDS):
        wanted = _model_tags(runs, model)
        if _holds(stored, wanted):
            break
        _write(runs, model, stored, wanted)
        stored = runs.model_tags(model)
    return {k: stored[k] for k in (TAG_HEALTH, TAG_HEALTH_VERSIONS) if k in stored}


def _model_tags(runs: MonitorRuns, model: str) -> dict[str, str | None]:
    held = [HeldVersion(v.version, v.aliases, v.health) for v in runs.versions(model)]
    found = model_health(held)
    if found is None:
        return {TAG_HEALTH: None, TAG_HEALTH_VERSIONS: None}
    return {TAG_HEALTH: found.health, TAG_HEALTH_VERSIONS: found.sources}


def _holds(stored: dict[str, str], wanted: dict[str, str | None]) -> bool:
    return all(stored.get(key) == value for key, value in wanted.items())


def _write(
    runs: MonitorRuns, model: str, stored: dict[str, str], wanted: dict[str, str | None]
) -> None:
    runs.set_model_tags(model, {k: v for k, v in wanted.items() if v is not None})
    for key in (k for k, v in wanted.items() if v is None and k in stored):
        runs.delete_model_tag(model, key)


def _tag_superseded(runs: MonitorRuns, attempts: list[Attempt], settled: VersionVerdict) -> None:
    tagged = {a.run_id: a for a in attempts}
    for old, new in settled.superseded.items():
        if tagged[old].superseded_by != new:
            runs.set_run_tags(old, {TAG_SUPERSEDED_BY: new})
            runs.set_run_tags(new, {TAG_SUPERSEDES: old})
            _mark_note(runs, old, new)


def _mark_note(runs: MonitorRuns, run_id: str, by: str) -> None:
    """Open the superseded run's description with the line saying so (its note tag rewritten)."""
    note = runs.run_tag(run_id, TAG_RUN_NOTE)
    marked = superseded_note(note or "", by=by)
    if marked != note:
        runs.set_run_tags(run_id, {TAG_RUN_NOTE: marked})


def superseded_note(note: str, *, by: str) -> str:
    """``note`` opening with "**Superseded** by run `<by>` ...": idempotent (never twice); a
    line naming an older superseding run is replaced by the one naming ``by``."""
    line = f"{_SUPERSEDED}`{by}` (a newer attempt of this window); this run no longer counts."
    if note.startswith(_SUPERSEDED):
        note = note.partition("\n")[2].lstrip("\n")
    return f"{line}\n\n{note}" if note else line


def _finished(attempts: list[Attempt]) -> set[tuple[str, str | None]]:
    return {(a.run_id, a.health) for a in attempts if a.status == "FINISHED"}
