"""A version's state from its window attempts: which result counts, which are superseded.

Pure: the attempts (every window run of a version, any status) come in, a ``VersionVerdict`` comes
out. The rules, so that state follows the order of windows, never the order of runs:

- **Attempts are ordered by when they started** (run start time, then run id): a slow older
  attempt that finishes last never supersedes a newer one.
- **One result per window**: of the FINISHED attempts of one window (same start and end), the
  newest counts; the others are superseded by it (history, trends and alerts skip them).
- **The verdict is the latest window**: among the counting results, the one with the greatest
  window end; windows that end together (overlapping windows) are ordered by their start (the
  later start, i.e. the shorter, more recent window, wins), then by attempt. A backfill of an
  older window therefore never changes the verdict, and a rerun of the latest window replaces it.
- FAILED and RUNNING attempts never count: a failure is recorded beside the verdict, and a
  version whose attempts all failed has no verdict (``health`` None: "failed, no verdict").

``model_health`` lifts the versions' verdicts to the registered model: the worst health among
the versions that hold an alias (what serves), or the latest version's when no alias is set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mlflow_monitor.verdicts.trends import worst_health

__all__ = ["Attempt", "HeldVersion", "ModelHealth", "VersionVerdict", "model_health", "settle"]


@dataclass(frozen=True)
class Attempt:
    """One window run of a version, as far as ordering needs it."""

    run_id: str
    status: str  # FINISHED | FAILED | RUNNING | KILLED
    started_ms: int
    window_start: str | None
    window_end: str | None
    health: str | None
    superseded_by: str | None = None
    top_finding: str | None = None  # the run's first finding, "check_id: message"
    partial: bool = False  # a critical check was not evaluated (no labels yet)

    @property
    def window(self) -> tuple[str, str]:
        """The window's identity: its start ("" when open) and end."""
        return (self.window_start or "", self.window_end or "")

    @property
    def order(self) -> tuple[int, str]:
        """The attempt's place in the order of attempts (start time, then run id)."""
        return (self.started_ms, self.run_id)


@dataclass(frozen=True)
class VersionVerdict:
    """The counting result of the latest window, and which attempts are superseded by which."""

    verdict: Attempt | None
    superseded: Mapping[str, str]  # run id -> the run id of the newer attempt of its window

    def counts(self, run_id: str) -> bool:
        """Whether ``run_id`` is its window's result (not superseded)."""
        return run_id not in self.superseded


def settle(attempts: Iterable[Attempt]) -> VersionVerdict:
    """The verdict and the superseded attempts (see the module docstring for the rules)."""
    finished = [a for a in attempts if a.status == "FINISHED" and a.window_end]
    newest = _newest_per_window(finished)
    superseded = {
        a.run_id: newest[a.window].run_id for a in finished if newest[a.window].run_id != a.run_id
    }
    results = list(newest.values())
    verdict = max(results, key=_latest_first, default=None)
    return VersionVerdict(verdict, superseded)


def _newest_per_window(finished: list[Attempt]) -> dict[tuple[str, str], Attempt]:
    newest: dict[tuple[str, str], Attempt] = {}
    for attempt in finished:
        held = newest.get(attempt.window)
        if held is None or attempt.order > held.order:
            newest[attempt.window] = attempt
    return newest


def _latest_first(attempt: Attempt) -> tuple[str, str, tuple[int, str]]:
    # UTC text of one format (contract.utc_text) sorts as time does
    return (attempt.window_end or "", attempt.window_start or "", attempt.order)


# -- the registered model's health ---------------------------------------------------------------
@dataclass(frozen=True)
class HeldVersion:
    """A version of a registered model: its number, the aliases it holds and its health."""

    version: str
    aliases: tuple[str, ...]
    health: str | None  # None: no verdict yet (unchecked, or every attempt failed)


@dataclass(frozen=True)
class ModelHealth:
    """The registered model's health and where it comes from.

    ``sources`` reads ``champion=v3 critical; challenger=v4 healthy`` (worst first, then by
    alias), or ``latest=v4 healthy`` when no version holds an alias; ``health`` is None when
    none of those versions has a verdict.
    """

    health: str | None
    sources: str


def model_health(versions: Iterable[HeldVersion]) -> ModelHealth | None:
    """The worst health among alias holders, else the latest version's; None without versions."""
    known = list(versions)
    held = [(alias, v) for v in known for alias in v.aliases]
    if not held:
        latest = max(known, key=lambda v: _version_number(v.version), default=None)
        if latest is None:
            return None
        held = [("latest", latest)]
    health = worst_health(v.health for _, v in held)
    ranked = sorted(held, key=lambda item: (-_HEALTH_RANK.get(item[1].health or "", -1), item[0]))
    sources = "; ".join(f"{alias}=v{v.version} {v.health or 'no verdict'}" for alias, v in ranked)
    return ModelHealth(health, sources)


_HEALTH_RANK = {"healthy": 0, "warning": 1, "critical": 2}


def _version_number(version: str) -> int:
    return int(version) if version.isdigit() else -1
