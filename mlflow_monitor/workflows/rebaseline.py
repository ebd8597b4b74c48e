"""Re-baselining: "this drift is the new normal", from a window someone accepted.

``rebaseline`` reads as its steps: require a reason; find the accepted window (a FINISHED window
run of the version that still counts for its window, named by run id or by its window); read
how many rows that run judged (its ``results.json``); load the window's rows again (the file it
was run on, or the prediction log for the run's ``[start, end)`` through
``log_windows.window_from_log``); refuse a window whose row count differs from the recorded one
or that has no labels when the spec needs them for the reference performance; build the new
baseline exactly as ``baseline`` does (``build_baseline.build_baseline_run``, tagged
``monitor.rebaseline.*``), which moves the version's ``monitor.baseline_run_id`` (the old
baseline run is kept, never deleted); store an audit record next to the alias decisions (who,
when, why, old and new baseline, the window), which ``mlflow-monitor history``, the dashboard's
gates page and the model card show. Every refusal is one line before anything is written.

The audit record is an ``audit.json`` readable by ``verdicts.promotion.AuditRecord.from_dict``
(decision ``rebaseline``, no alias, the reason and the baseline move as its reason lines) plus a
``rebaseline`` section with the same facts as fields, so every reader of the alias history
(``history``, the gates page) lists it without a second format. Should the record fail to be
stored, the version's baseline tag is moved back (no unaudited baseline move).
"""

from __future__ import annotations

import contextlib
import html
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.adapters.sources import files
from mlflow_monitor.contract import (
    DECISION_REBASELINE,
    RESULTS_FILE,
    TAG_AUDIT_ALIAS,
    TAG_AUDIT_AT,
    TAG_AUDIT_DECISION,
    TAG_AUDIT_PREVIOUS,
    TAG_AUDIT_USER,
    TAG_AUDIT_VERSION,
    TAG_BASELINE_RUN,
    TAG_REBASELINE_BY,
    TAG_REBASELINE_FROM,
    TAG_REBASELINE_PREVIOUS,
    TAG_REBASELINE_REASON,
    TAG_REBASELINE_WINDOW,
    parse_utc,
    utc_text,
)
from mlflow_monitor.errors import DataError, MonitorError, RegistryError
from mlflow_monitor.spec import MonitorSpec, load_spec
from mlflow_monitor.verdicts.window_state import Attempt, settle
from mlflow_monitor.workflows.build_baseline import BaselineRun, build_baseline_run
from mlflow_monitor.workflows.promote import current_user
from mlflow_monitor.workflows.run_steps import Echo, quiet

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RebaselineInputError", "RebaselineRecord", "Rebaselined", "WindowChoice", "rebaseline"]

_SHOWN_WINDOWS = 5  # counting windows listed when a named window is not found


class RebaselineInputError(MonitorError):
    """A re-baseline request is malformed (no reason, no window, two sources). Exit code 2."""


@dataclass(frozen=True)
class WindowChoice:
    """The accepted window: its run id, or its start and end (UTC ISO text)."""

    run_id: str | None = None
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class RebaselineRecord:
    """One re-baseline: who, when, why, the baseline it replaced and the one built, the window."""

    model: str
    version: str
    at: str
    user: str
    reason: str
    previous_baseline_run_id: str | None
    baseline_run_id: str
    window_run_id: str
    window_start: str | None
    window_end: str | None
    rows: int
    source: str  # "file <name>" or "log <uri>": where the rows were read again

    @property
    def window_text(self) -> str:
        return f"{self.window_start or '-inf'} -> {self.window_end or '?'}"

    def reasons(self) -> tuple[str, ...]:
        """The lines ``history`` and the gates page print under the record."""
        return (
            f"reason: {self.reason}",
            f"baseline run {self.previous_baseline_run_id or '(none)'} -> {self.baseline_run_id}",
            f"from window run {self.window_run_id} [{self.window_text}), {self.rows:,} rows "
            f"({self.source})",
        )

    def to_dict(self) -> dict[str, object]:
        """``audit.json``: an ``AuditRecord`` body (decision ``rebaseline``) plus the fields."""
        return {
            "schema_version": 1,
            "model": self.model,
            "alias": "",
            "version": self.version,
            "decision": DECISION_REBASELINE,
            "at": self.at,
            "user": self.user,
            "previous_version": None,
            "reasons": list(self.reasons()),
            "override_reason": None,
            "evidence": None,
            DECISION_REBASELINE: asdict(self),
        }

    def audit_tags(self) -> dict[str, str]:
        """The run tags indexing the record, as every audit record has them."""
        return {
            TAG_AUDIT_ALIAS: "",
            TAG_AUDIT_DECISION: DECISION_REBASELINE,
            TAG_AUDIT_VERSION: self.version,
            TAG_AUDIT_PREVIOUS: "",
            TAG_AUDIT_USER: self.user,
            TAG_AUDIT_AT: self.at,
        }


@dataclass(frozen=True)
class Rebaselined:
    """A finished re-baseline: the record as stored, its audit run and the new baseline."""

    record: RebaselineRecord
    audit_run_id: str
    baseline: BaselineRun

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self.record), "audit_run_id": self.audit_run_id}

    def _repr_html_(self) -> str:
        from mlflow_monitor.views import panel_html, table_html

        r = self.record
        line = (
            f"<p><b>rebaselined</b> {html.escape(r.model)} version {html.escape(r.version)}: "
            f"baseline run {html.escape(r.previous_baseline_run_id or '(none)')} → "
            f"{html.escape(r.baseline_run_id)}; audit record run "
            f"{html.escape(self.audit_run_id)}</p>"
        )
        rows = [{"": name, "value": str(value)} for name, value in asdict(r).items()]
        return panel_html(line, table_html(rows, columns=["", "value"]))


def rebaseline(
    spec_path: str | Path,
    version: str,
    *,
    window: WindowChoice,
    reason: str | None,
    current: str | Path | None = None,
    log_uri: str | None = None,
    tracking_uri: str | None = None,
    echo: Echo = quiet,
    now: datetime | None = None,
) -> Rebaselined:
    """Build a new baseline for ``version`` from an accepted window (see the module docstring).

    ``window``: the window's run id, or its start and end. ``current``: the file the window was
    run on; ``log_uri``: the prediction log it was read from (one of the two). ``reason`` is
    required. Bad input raises before anything is written.
    """
    why = _required_reason(reason)
    _one_source(current, log_uri)
    spec = load_spec(spec_path)
    model = spec.require_model(str(spec_path))
    runs = MonitorRuns(tracking_uri)
    state = runs.version(model, str(version))
    accepted = _accepted_window(runs, model, str(version), window)
    recorded = _recorded_rows(runs, accepted)
    source = f"file {Path(current).name}" if current is not None else f"log {log_uri}"
    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-rebaseline-") as tmp:
        if current is not None:
            frame = _rows_from_file(spec, current, accepted, recorded)
        else:
            frame = _rows_from_log(spec, str(version), str(log_uri), accepted, recorded)
        _check_labels(spec, frame, accepted)
        echo(f"[rebaseline] window run {accepted.run_id}: {len(frame):,} rows ({source})")
        path = files.write_frame(frame, Path(tmp) / f"window-{accepted.run_id}.parquet")
        record = RebaselineRecord(
            model=model,
            version=str(version),
            at=utc_text(now or datetime.now(timezone.utc), precise=True),
            user=current_user(),
            reason=why,
            previous_baseline_run_id=state.baseline_run_id,
            baseline_run_id="",
            window_run_id=accepted.run_id,
            window_start=accepted.window_start,
            window_end=accepted.window_end,
            rows=len(frame),
            source=source,
        )
        built = build_baseline_run(
            spec_path,
            str(version),
            path,
            tracking_uri=tracking_uri,
            echo=echo,
            shown_as=f"the rows of window run {accepted.run_id}",
            run_tags=_baseline_tags(record),
            reference_name=f"window run {accepted.run_id} ({source})",
        )
    record = RebaselineRecord(**{**asdict(record), "baseline_run_id": built.run_id})
    audit_run_id = _store(runs, record)
    echo(f"[rebaseline] audit record: run {audit_run_id}")
    return Rebaselined(record, audit_run_id, built)


# -- steps ----------------------------------------------------------------------------------------
def _required_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise RebaselineInputError(
            "--reason TEXT is required: say why this window is the new normal (it is audited)"
        )
    return " ".join(text.split())


def _one_source(current: str | Path | None, log_uri: str | None) -> None:
    if (current is None) == (log_uri is None):
        raise RebaselineInputError(
            "give the window's rows with exactly one of --current FILE or --log URI"
        )


def _accepted_window(runs: MonitorRuns, model: str, version: str, choice: WindowChoice) -> Attempt:
    """The FINISHED, counting window run the choice names; one line naming what is wrong."""
    by_run = bool(choice.run_id)
    by_window = bool(choice.start or choice.end)
    if by_run == by_window:
        raise RebaselineInputError(
            "name the accepted window with --window-run RUN_ID or with --window-start and "
            "--window-end (one of the two)"
        )
    attempts = runs.window_attempts(model, version)
    settled = settle(attempts)
    if choice.run_id:
        return _by_run(attempts, settled.superseded, model, version, choice.run_id)
    return _by_window(attempts, settled.superseded, model, version, choice)


def _by_run(
    attempts: list[Attempt], superseded: Mapping[str, str], model: str, version: str, run: str
) -> Attempt:
    found = next((a for a in attempts if a.run_id == run), None)
    if found is None:
        raise RebaselineInputError(
            f"--window-run {run}: not a window run of {model} version {version}"
        )
    if found.status != "FINISHED":
        raise RebaselineInputError(
            f"--window-run {run}: the run is {found.status}; only a FINISHED window can become "
            "the baseline"
        )
    newer = superseded.get(run)
    if newer:
        raise RebaselineInputError(
            f"--window-run {run}: superseded by run {newer} (a newer attempt of the same "
            "window); rebaseline from that run"
        )
    return found


def _by_window(
    attempts: list[Attempt],
    superseded: Mapping[str, str],
    model: str,
    version: str,
    choice: WindowChoice,
) -> Attempt:
    start = _utc_option(choice.start, "--window-start")
    end = _utc_option(choice.end, "--window-end")
    counting = [
        a
        for a in attempts
        if a.status == "FINISHED" and a.window_end and a.run_id not in superseded
    ]
    for attempt in counting:
        if (attempt.window_start or None) == start and attempt.window_end == end:
            return attempt
    shown = ", ".join(
        f"[{a.window_start or '-inf'}, {a.window_end})"
        for a in sorted(counting, key=lambda a: a.window_end or "")[-_SHOWN_WINDOWS:]
    )
    raise RebaselineInputError(
        f"no finished window [{start or '-inf'}, {end}) of {model} version {version} "
        f"(latest windows: {shown or 'none'})"
    )


def _utc_option(text: str | None, option: str) -> str | None:
    if not text:
        return None
    try:
        return utc_text(parse_utc(text))
    except ValueError:
        raise RebaselineInputError(f"{option}: not an ISO 8601 time: {text!r}") from None


def _recorded_rows(runs: MonitorRuns, accepted: Attempt) -> int:
    """How many rows the window run judged (its ``results.json``)."""
    body = runs.read_json(accepted.run_id, RESULTS_FILE)
    rows = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(rows, int) or isinstance(rows, bool):
        raise RegistryError(
            f"window run {accepted.run_id} has no readable {RESULTS_FILE} with its row count"
        )
    return rows


def _rows_from_file(
    spec: MonitorSpec, current: str | Path, accepted: Attempt, recorded: int
) -> pd.DataFrame:
    """The file's rows: all of them, or those in the run's ``[start, end)`` (a file holding
    more than the window), whichever has the run's recorded row count."""
    info = files.validate_data(spec, current, what="window", outputs_optional=True)
    frame = files.read_frame(info.path)
    if len(frame) == recorded:
        return frame
    start, end = _bounds(accepted)
    in_window = len(frame)
    if spec.columns.timestamp and (start or end):
        cut = files.window_rows(spec, frame, start, end, source=info.path.name)
        if len(cut) == recorded:
            return cut
        in_window = len(cut)
    raise DataError(
        f"{info.path.name}: {len(frame):,} rows ({in_window:,} in the run's window "
        f"[{accepted.window_start or '-inf'}, {accepted.window_end})), but window run "
        f"{accepted.run_id} recorded {recorded:,} rows in its {RESULTS_FILE}: not the same window"
    )


def _rows_from_log(
    spec: MonitorSpec, version: str, log_uri: str, accepted: Attempt, recorded: int
) -> pd.DataFrame:
    from mlflow_monitor.workflows.log_windows import window_from_log

    start, end = _bounds(accepted)
    if start is None or end is None:
        raise RebaselineInputError(
            f"window run {accepted.run_id} has no window start: its rows cannot be read from "
            "the log; pass the file it was run on with --current"
        )
    frame = window_from_log(spec, version, log_uri=log_uri, start=start, end=end).frame
    if len(frame) != recorded:
        raise DataError(
            f"{log_uri}: {len(frame):,} predictions of version {version} in "
            f"[{accepted.window_start}, {accepted.window_end}), but window run "
            f"{accepted.run_id} recorded {recorded:,} rows in its {RESULTS_FILE}"
        )
    return frame


def _bounds(accepted: Attempt) -> tuple[datetime | None, datetime | None]:
    start = parse_utc(accepted.window_start) if accepted.window_start else None
    end = parse_utc(accepted.window_end) if accepted.window_end else None
    return start, end


def _check_labels(spec: MonitorSpec, frame: pd.DataFrame, accepted: Attempt) -> None:
    """The reference performance needs labels when the spec names a target column."""
    target = spec.columns.target
    if not target:
        return
    labelled = int(frame[target].notna().sum()) if target in frame.columns else 0
    if labelled == 0:
        raise DataError(
            f"window run {accepted.run_id}: the window has no labels in column {target!r} "
            "(columns.target), which the baseline's reference performance needs; add the "
            "labels (`mlflow-monitor labels add`) or pass a labelled --current file"
        )


def _baseline_tags(record: RebaselineRecord) -> dict[str, str]:
    return {
        TAG_REBASELINE_FROM: record.window_run_id,
        TAG_REBASELINE_REASON: record.reason,
        TAG_REBASELINE_BY: record.user,
        TAG_REBASELINE_PREVIOUS: record.previous_baseline_run_id or "",
        TAG_REBASELINE_WINDOW: record.window_text,
    }


def _store(runs: MonitorRuns, record: RebaselineRecord) -> str:
    """Append the audit record; if it cannot be stored, the baseline tag moves back."""
    from mlflow_monitor.adapters.mlflow.audit_log import AliasRegistry

    registry = AliasRegistry(runs.tracking_uri)
    try:
        return registry.append_audit(
            record.model,
            record.version,
            record.to_dict(),
            record.audit_tags(),
            run_name=f"audit rebaseline v{record.version}",
        )
    except RegistryError:
        if record.previous_baseline_run_id:
            previous = {TAG_BASELINE_RUN: record.previous_baseline_run_id}
            with contextlib.suppress(RegistryError):  # the audit failure is the error to see
                runs.set_version_tags(record.model, record.version, previous)
        raise
