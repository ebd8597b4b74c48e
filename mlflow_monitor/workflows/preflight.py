"""Preflight: what can be checked before a run exists, checked before one is created.

The spec validates itself at load (``spec``); these checks need more than the spec: the policy
pack files, the baseline run's stored fairness, the data file's score column. Each failure is
one ``SpecError``/``DataError`` line naming the key (and the file), so bad input creates no run
and changes no tag. ``check_window`` runs in ``monitor_window._validate`` after the window file's
columns were checked against the spec (``adapters.sources.files.validate_data``: protected and
segment columns included, from the schema only); ``check_baseline`` at the start of
``build_baseline_run``.

- Policy packs load (``verdicts.policies.load_packs``: names, files, overrides), and a pack given
  by path is absolute: the notebooks run in a scratch folder, where a relative path is not found.
- Named reference groups (``fairness.reference_groups``, other than ``majority`` and
  ``min_disparity``) exist: in the baseline run's fairness report for a window (a misspelled
  group would turn every rule into ``insufficient_data``), in the reference data for a baseline.
- The score column (read alone, chunk by chunk) lies in [0, 1]; where ``decision_threshold``
  makes decisions (no prediction column, or fairness), it does not decide every row alike.
- ``${VAR}`` in an alert URL that is not set is a warning line, not an error (``unset_secrets``):
  the window is still judged; only the alerts through that URL would fail. Values never shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.adapters.sources import files as data
from mlflow_monitor.contract import BASELINE_DIR, BASELINE_FILE
from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.spec import MonitorSpec, find_secrets
from mlflow_monitor.stats.fairness import (
    REFERENCE_MAJORITY,
    REFERENCE_MIN_DISPARITY,
    FairnessReport,
    compute_fairness,
)
from mlflow_monitor.verdicts.policies import load_packs, shipped_packs
from mlflow_monitor.verdicts.profiled_columns import check_profiled

__all__ = [
    "ScoreRange",
    "check_baseline",
    "check_policies",
    "check_score",
    "check_window",
    "score_range",
    "unset_secrets",
]

_CHUNK_ROWS = 250_000


# -- entry points ---------------------------------------------------------------------------------


def check_window(
    runs: MonitorRuns, spec: MonitorSpec, baseline_run_id: str, info: data.DataInfo
) -> None:
    """Policy packs, the spec's columns and reference groups against the baseline run, the
    window's score range."""
    check_policies(spec)
    body = runs.read_json(baseline_run_id, f"{BASELINE_DIR}/{BASELINE_FILE}")
    stored = body if isinstance(body, dict) else {}
    kinds = _profiled_kinds(stored)
    if kinds:
        check_profiled(spec, kinds)
    named = _named_reference_groups(spec)
    if named:
        where = ("the baseline's fairness report", f"run {baseline_run_id}; ")
        _check_groups(named, _baseline_groups(stored), *where)
    check_score(spec, info, one_sided=False)


def check_baseline(spec: MonitorSpec, reference_path: str | Path) -> None:
    """Policy packs, reference groups against the reference data, the reference's score range."""
    info = data.validate_data(spec, reference_path, what="reference")
    check_policies(spec)
    named = _named_reference_groups(spec)
    if named:
        _check_groups(named, _data_groups(info, list(named)), "the reference data")
    check_score(spec, info, one_sided=True)


def unset_secrets(spec: MonitorSpec, environ: Mapping[str, str] | None = None) -> str:
    """One warning line naming each ``${VAR}`` of an alert URL that is not set ("" when none).

    Names only: the values of the variables that are set are never read into the text.
    """
    env = os.environ if environ is None else environ
    urls = [(f"alerts.channels.{i}.url", c.url) for i, c in enumerate(spec.alerts.channels)]
    if spec.alerts.mlflow_url:
        urls.append(("alerts.mlflow_url", spec.alerts.mlflow_url))
    used = dict.fromkeys((name, key) for key, url in urls for name in find_secrets(url))
    missing = [f"${{{name}}} ({key})" for name, key in used if name not in env]
    if not missing:
        return ""
    return f"warning: not set in the environment: {', '.join(missing)} (alerts using it will fail)"


# -- policy packs ---------------------------------------------------------------------------------


def check_policies(spec: MonitorSpec) -> None:
    """The spec's packs load with their overrides; a pack file is named by an absolute path."""
    shipped = set(shipped_packs())
    for name in spec.fairness.policies:
        if name not in shipped and _is_path(name) and not Path(name).is_absolute():
            raise SpecError(
                f"fairness.policies: {name!r} is a relative path; the monitoring notebooks run "
                "in another folder, so write the pack's absolute path"
            )
    load_packs(spec.fairness.policies, spec.fairness.overrides)


def _is_path(name: str) -> bool:
    return Path(name).suffix in (".yaml", ".yml") or "/" in name or os.sep in name


# -- reference groups -----------------------------------------------------------------------------


def _named_reference_groups(spec: MonitorSpec) -> dict[str, str]:
    """Attribute -> the group the spec names as its reference (rules such as majority left out)."""
    rules = (REFERENCE_MAJORITY, REFERENCE_MIN_DISPARITY)
    return {a: g for a, g in spec.fairness.reference_groups.items() if g not in rules}


def _check_groups(
    named: dict[str, str], groups: Mapping[str, Iterable[str]], where: str, note: str = ""
) -> None:
    """Each named group is among its attribute's groups (an attribute not found is not judged)."""
    for attribute, group in named.items():
        if attribute not in groups:
            continue
        known = sorted(groups[attribute])
        if group not in known:
            raise SpecError(
                f"fairness.reference_groups.{attribute}: group {group!r} is not in {where} "
                f"({note}groups: {', '.join(known)})"
            )


def _profiled_kinds(body: Mapping[str, object]) -> dict[str, str]:
    """Column -> kind of the profile in a stored ``baseline.json`` (empty when unreadable)."""
    profile = body.get("profile")
    columns = profile.get("columns") if isinstance(profile, dict) else None
    if not isinstance(columns, dict):
        return {}  # unreadable here: the window's own load of the baseline reports it
    return {
        str(name): str(column.get("kind"))
        for name, column in columns.items()
        if isinstance(column, dict)
    }


def _baseline_groups(body: Mapping[str, object]) -> dict[str, list[str]]:
    """Groups per attribute of the fairness report stored with the baseline run."""
    stored = body.get("fairness")
    if not isinstance(stored, dict):
        return {}
    try:
        report = FairnessReport.from_dict(stored)
    except (DataError, KeyError, TypeError, ValueError):
        return {}  # unreadable here: the window's own load of the baseline reports it
    return {a.attribute: [g.group for g in a.groups] for a in report.attributes}


def _data_groups(info: data.DataInfo, attributes: list[str]) -> dict[str, set[str]]:
    """Groups per attribute in a data file, named as fairness names them (read chunk by chunk)."""
    groups: dict[str, set[str]] = {a: set() for a in attributes}
    for chunk in data.iter_chunks(info.path, attributes, _CHUNK_ROWS):
        report = compute_fairness(chunk, np.zeros(len(chunk), dtype=bool), min_group_size=1)
        for attr in report.attributes:
            groups[attr.attribute].update(g.group for g in attr.groups)
    return groups


# -- score range ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreRange:
    """Lowest and highest value of a score column (missing values left out)."""

    low: float
    high: float


def score_range(info: data.DataInfo, column: str) -> ScoreRange | None:
    """The score column's range, read alone chunk by chunk; None when it holds no number."""
    low, high = np.inf, -np.inf
    for chunk in data.iter_chunks(info.path, [column], _CHUNK_ROWS):
        numbers = pd.to_numeric(chunk[column], errors="coerce")
        values = numbers.to_numpy(dtype=float, na_value=np.nan)
        values = values[np.isfinite(values)]
        if values.size:
            low, high = min(low, float(values.min())), max(high, float(values.max()))
    return ScoreRange(low, high) if low <= high else None


def check_score(spec: MonitorSpec, info: data.DataInfo, *, one_sided: bool) -> None:
    """The score lies in [0, 1]; with ``one_sided`` (the reference), also on both sides of the
    threshold where it decides. A window may legitimately lie on one side (a quiet week of a
    low-prevalence model), so only the reference is held to that."""
    column = spec.columns.score
    if not column or column not in info.columns:  # absent: the monitor scores the window
        return
    found = score_range(info, column)
    if found is None:
        return
    threshold = spec.fairness.decision_threshold
    shown = (
        f"columns.score {column!r} ranges {found.low:.4g} to {found.high:.4g} in {info.path.name}"
    )
    decides = not spec.columns.prediction or bool(spec.columns.protected)
    if found.low < 0 or found.high > 1:
        why = f"fairness.decision_threshold {threshold:g} compares" if decides else "a score is"
        raise DataError(f"{shown}, outside [0, 1] ({why} a probability)")
    if one_sided and decides and (found.high < threshold or found.low >= threshold):
        side = "below" if found.high < threshold else "at or above"
        raise DataError(
            f"fairness.decision_threshold {threshold:g} decides every row alike: {shown}, all "
            f"{side} it (set the threshold inside the scores' range)"
        )
