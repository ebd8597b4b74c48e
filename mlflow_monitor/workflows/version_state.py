"""Workflow step: settle a version's state from its window attempts, and record it in MLflow.

``settle_version`` lists every window run of the version, asks ``verdicts.window_state.settle``
which result counts for each window and which window is the latest, tags superseded attempts
(``monitor.superseded_by`` on the older, ``monitor.supersedes`` on the newer) and points the
version's health, last run and window at the verdict. It is a function of the set of runs, so
the order in which attempts finish does not matter; two runs settling at once each re-read the
runs after writing and settle again until what they read is what they wrote from (a writer whose
view went stale during its write corrects it).
"""

from __future__ import annotations

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.contract import TAG_SUPERSEDED_BY, TAG_SUPERSEDES
from mlflow_monitor.verdicts.window_state import Attempt, VersionVerdict, settle

__all__ = ["settle_version"]

_MAX_ROUNDS = 5


def settle_version(runs: MonitorRuns, model: str, version: str) -> VersionVerdict:
    """Settle and record the version's verdict; returns it (see the module docstring)."""
    attempts = runs.window_attempts(model, version)
    for _ in range(_MAX_ROUNDS):
        settled = settle(attempts)
        _tag_superseded(runs, attempts, settled)
        runs.record_verdict(model, version, settled.verdict)
        again = runs.window_attempts(model, version)
        if _finished(again) == _finished(attempts):
            return settled
        attempts = again
    return settled


def _tag_superseded(runs: MonitorRuns, attempts: list[Attempt], settled: VersionVerdict) -> None:
    tagged = {a.run_id: a for a in attempts}
    for old, new in settled.superseded.items():
        if tagged[old].superseded_by != new:
            runs.set_run_tags(old, {TAG_SUPERSEDED_BY: new})
            runs.set_run_tags(new, {TAG_SUPERSEDES: old})


def _finished(attempts: list[Attempt]) -> set[tuple[str, str | None]]:
    return {(a.run_id, a.health) for a in attempts if a.status == "FINISHED"}
