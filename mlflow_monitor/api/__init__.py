"""The Python API: what the CLI does, from a notebook, with DataFrames in and typed results out.

``import mlflow_monitor as mm`` exposes these functions (``mlflow_monitor/__init__.py``). Every
argument is keyword-only. Two kinds of call:

- **In memory** (no MLflow): ``make_spec`` / ``load_spec``, ``build_baseline`` and ``evaluate``
  judge a DataFrame window against a DataFrame reference with the same code the notebooks run.
- **Logged** (MLflow): ``attach_baseline`` and ``monitor`` take a spec (object or file) and a
  DataFrame (or a file). A DataFrame is staged as a parquet file and a spec object as
  ``monitor.yaml`` (with the card and extra notebooks it names), then the one workflow the CLI
  runs (``build_baseline_run`` / ``run_window``) executes the same notebooks and logs the same
  artifacts: the audit record does not depend on the entry point. ``status``, ``history``,
  ``card``, ``promote`` and ``rebaseline`` read and act on the registry.

Results render inline in Jupyter (``_repr_html_``) and export ``to_dict()`` / ``to_frame()``.
Progress lines go to the ``mlflow_monitor`` logger unless ``echo`` is given (``echo=print``):
a notebook cell stays quiet and shows the result.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from mlflow_monitor.contract import CAPTURE_DROPPED_COLUMN
from mlflow_monitor.errors import DataError, SpecError
from mlflow_monitor.spec import MonitorSpec, Task, load_spec, parse_spec, resolve_spec_path
from mlflow_monitor.views import card_frame_html


def _quiet(message: str) -> None:
    """The default ``echo``: progress to the ``mlflow_monitor`` logger (INFO)."""
    logging.getLogger("mlflow_monitor").info(message)


if TYPE_CHECKING:
    import pandas as pd

    from mlflow_monitor.verdicts.baseline_model import Baseline
    from mlflow_monitor.verdicts.evaluation import WindowResult
    from mlflow_monitor.workflows.build_baseline import BaselineRun
    from mlflow_monitor.workflows.monitor_window import WindowRun
    from mlflow_monitor.workflows.promote import PromotionResult
    from mlflow_monitor.workflows.rebaseline import Rebaselined
    from mlflow_monitor.workflows.status import StatusReport
    from mlflow_monitor.workflows.window_history import WindowHistory

__all__ = [
    "ModelCard",
    "attach_baseline",
    "build_baseline",
    "card",
    "evaluate",
    "history",
    "make_spec",
    "monitor",
    "promote",
    "rebaseline",
    "status",
]

SpecLike = MonitorSpec | str | os.PathLike[str]
Section = Mapping[str, object] | BaseModel
Echo = Callable[[str], None]


# -- in memory ----------------------------------------------------------------------------------


def make_spec(
    *,
    task: Task,
    columns: Section,
    model: str = "",
    positive_label: str | int | bool | None = None,
    confidence_level: float | None = None,
    drift: Section | None = None,
    performance: Section | None = None,
    quality: Section | None = None,
    segments: Section | None = None,
    fairness: Section | None = None,
    alerts: Section | None = None,
    gates: Mapping[str, Section] | None = None,
    card: str | None = None,
    notebooks: Section | None = None,
    scoring: Section | None = None,
    estimation: Section | None = None,
    sampling: Section | None = None,
    engine: str | None = None,
    slos: Sequence[Section] | None = None,
) -> MonitorSpec:
    """A spec from the keys of ``monitor.yaml`` (``mlflow-monitor init`` shows every one).

    Sections are mappings as in the YAML (``columns={"target": "y", ...}``) or the spec's own
    section objects. ``model`` may be left out for pure evaluation. A bad key or value is one
    ``SpecError`` line naming it (``make_spec: drift.methods.x: ...``).
    """
    given = {
        "model": model or None,
        "task": task,
        "positive_label": positive_label,
        "confidence_level": confidence_level,
        "columns": columns,
        "drift": drift,
        "performance": performance,
        "quality": quality,
        "segments": segments,
        "fairness": fairness,
        "alerts": alerts,
        "gates": gates,
        "card": card,
        "notebooks": notebooks,
        "scoring": scoring,
        "estimation": estimation,
        "sampling": sampling,
        "engine": engine,
        "slos": None if slos is None else [_plain(slo) for slo in slos],
    }
    body = {key: _plain(value) for key, value in given.items() if value is not None}
    return parse_spec(body, source="make_spec")


def _plain(value: object) -> object:
    """A spec section object as the mapping it was validated from (mappings pass through)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def build_baseline(*, spec: SpecLike, reference: pd.DataFrame) -> Baseline:
    """The baseline of a reference DataFrame (with predictions, and labels for performance).

    A Spark DataFrame is profiled per partition by the Spark engine (only profiles and a
    bounded sample reach the driver; ``adapters/sources/spark.py`` says what it supports).
    """
    from mlflow_monitor.verdicts.baseline_model import build_baseline_from_frame
    from mlflow_monitor.workflows.build_baseline import check_metric_names

    spec = _spec(spec)
    if _is_spark(reference):
        from mlflow_monitor.adapters.sources.spark import baseline_from_spark

        check_metric_names(list(reference.columns))
        return baseline_from_spark(spec, reference)  # type: ignore[arg-type]
    frame = _monitored(spec, reference, what="reference")
    check_metric_names(list(frame.columns))
    return build_baseline_from_frame(spec, frame)


def evaluate(
    *,
    spec: SpecLike,
    baseline: Baseline,
    current: pd.DataFrame,
    window_start: datetime | str | None = None,
    window_end: datetime | str | None = None,
    model: str | None = None,
    version: str | int = "",
) -> WindowResult:
    """Judge a window DataFrame against ``baseline`` (rows in ``[start, end)`` when given).

    ``model`` and ``version`` only label the result (``model`` overrides the spec's).
    A Spark DataFrame is judged by the Spark engine (the same checks, from partition profiles).
    """
    from mlflow_monitor.adapters.sources.files import window_rows
    from mlflow_monitor.verdicts.baseline_model import Baseline
    from mlflow_monitor.verdicts.evaluation import evaluate_window

    spec = _spec(spec)
    if model is not None:
        spec = spec.model_copy(update={"model": model})
    if not isinstance(baseline, Baseline):
        raise DataError(
            f"baseline: expected a Baseline (from mm.build_baseline), got {type(baseline).__name__}"
        )
    start, end = _window(window_start, window_end)
    if _is_spark(current):
        from mlflow_monitor.adapters.sources.spark import evaluate_spark_window

        return evaluate_spark_window(
            spec, baseline, current,  # type: ignore[arg-type]
            model_version=str(version), window_start=start, window_end=end,
        )  # fmt: skip
    frame = window_rows(
        spec, _monitored(spec, current, what="window"), start, end, source="the window DataFrame"
    )
    return evaluate_window(
        spec, baseline, frame, model_version=str(version), window_start=start, window_end=end
    )


# -- logged to MLflow ---------------------------------------------------------------------------


def attach_baseline(
    *,
    spec: SpecLike,
    version: str | int,
    reference: pd.DataFrame | str | os.PathLike[str],
    model: str | None = None,
    query: str | None = None,
    tracking_uri: str | None = None,
    echo: Echo | None = None,
) -> BaselineRun:
    """Build the baseline from ``reference`` and attach it to the model version (``baseline``).

    ``reference``: a DataFrame (pandas, or Spark: profiled per partition by the Spark engine),
    a file, an object-store URL or a database URL with ``query``. ``model`` overrides the
    spec's; ``version`` may be ``"@alias"``.
    """
    from mlflow_monitor.workflows.build_baseline import build_baseline_run

    with _staged(spec, model, reference, "reference") as (spec_path, data_path, name):
        number = _version(name, version, tracking_uri)
        return build_baseline_run(
            spec_path,
            number,
            data_path,
            tracking_uri=tracking_uri,
            echo=echo or _quiet,
            shown_as=None
            if isinstance(reference, (str, os.PathLike))
            else "the reference DataFrame",
            query=query,
        )


def monitor(
    *,
    spec: SpecLike,
    version: str | int,
    current: pd.DataFrame | str | os.PathLike[str],
    model: str | None = None,
    window_start: datetime | str | None = None,
    window_end: datetime | str | None = None,
    query: str | None = None,
    compare: str | None = None,
    tracking_uri: str | None = None,
    echo: Echo | None = None,
) -> WindowRun:
    """Monitor one window and log it to MLflow for the version, exactly as ``run`` does.

    Executes ``monitor.ipynb`` (the spec's extra notebooks, the fairness audit), logs
    ``results.json``, metrics, notebooks and reports, settles the version's health and sends
    the alerts. Bad input raises before anything is created; a failure ends the run FAILED.
    ``current``: a DataFrame (pandas, or Spark: judged by the Spark engine), a file, an
    object-store URL, or a database URL with ``query``; rows without the model's output are
    scored by the version's own model (pandas engine). ``compare``:
    another version (``"@champion"``) scored on the same rows, both sides logged with paired
    tests (``run --compare``).
    """
    from mlflow_monitor.workflows.monitor_window import WindowSource, run_window

    start, end = _window(window_start, window_end)
    staged = _staged(spec, model, current, "window", window=(start, end))
    with staged as (spec_path, data_path, name):
        number = _version(name, version, tracking_uri)
        return run_window(
            spec_path,
            number,
            WindowSource(data_path, query),
            tracking_uri=tracking_uri,
            window_start=start,
            window_end=end,
            compare=compare,
            echo=echo or _quiet,
        )


def status(*, model: str | None = None, tracking_uri: str | None = None) -> StatusReport:
    """Every registered version's health, window, last error and failing checks (``status``)."""
    from mlflow_monitor.workflows.status import status as read_status

    return read_status(model, tracking_uri=tracking_uri)


def history(
    *,
    model: str,
    version: str | int | None = None,
    metrics: Sequence[str] = (),
    tracking_uri: str | None = None,
) -> WindowHistory:
    """The model's windows in window order: health and logged metrics (``metrics`` charted)."""
    from mlflow_monitor.workflows.window_history import window_history

    number = _version(model, version, tracking_uri) if version is not None else None
    return window_history(model, version=number, metrics=metrics, tracking_uri=tracking_uri)


@dataclass(frozen=True)
class ModelCard:
    """A version's model card: Markdown and HTML, whether it was published, files written."""

    model: str
    version: str
    markdown: str
    html: str
    published: bool
    files: tuple[Path, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "version": self.version,
            "published": self.published,
            "files": [str(f) for f in self.files],
            "markdown": self.markdown,
        }

    def _repr_html_(self) -> str:
        return card_frame_html(self.html)


def card(
    *,
    model: str,
    version: str | int,
    spec: SpecLike | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    publish: bool = True,
    tracking_uri: str | None = None,
) -> ModelCard:
    """Render the version's model card (``card``); written to ``out_dir`` when given.

    Without ``spec`` the spec kept on the version's baseline run is used.
    """
    from mlflow_monitor.workflows.model_cards import write_card

    loaded = _spec(spec) if spec is not None else None
    number = _version(model, version, tracking_uri)
    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-card-") as tmp:
        folder = Path(out_dir) if out_dir is not None else Path(tmp)
        written = write_card(
            loaded,
            model,
            number,
            folder,
            tracking_uri=tracking_uri,
            card_dir=loaded.folder if loaded else None,
            publish=publish,
        )
        files = (written.markdown, written.html) if out_dir is not None else ()
        return ModelCard(
            model,
            number,
            written.markdown.read_text(encoding="utf-8"),
            written.html.read_text(encoding="utf-8"),
            written.published,
            files,
        )


def promote(
    *,
    model: str,
    version: str | int,
    alias: str,
    spec: SpecLike | None = None,
    force: bool = False,
    reason: str | None = None,
    tracking_uri: str | None = None,
) -> PromotionResult:
    """Point ``model@alias`` at ``version`` if the spec's gate allows it (``promote``).

    A refusal raises ``GateRefused`` with every reason; ``force=True`` needs a ``reason``.
    """
    from mlflow_monitor.workflows.promote import promote as gate

    loaded = _spec(spec) if spec is not None else None
    number = _version(model, version, tracking_uri)
    return gate(loaded, model, number, alias, tracking_uri=tracking_uri, force=force, reason=reason)


def rebaseline(
    *,
    spec: SpecLike,
    version: str | int,
    reason: str,
    window_run: str | None = None,
    window_start: datetime | str | None = None,
    window_end: datetime | str | None = None,
    current: pd.DataFrame | str | os.PathLike[str] | None = None,
    log: str | None = None,
    model: str | None = None,
    tracking_uri: str | None = None,
    echo: Echo | None = None,
) -> Rebaselined:
    """Make an accepted window the version's new baseline (``rebaseline``), audited.

    The window: its run id (``window_run``) or its ``window_start`` and ``window_end``. Its rows
    again: ``current`` (a DataFrame or the file it was run on) or ``log`` (the prediction log);
    they must be the rows the run judged. The version's baseline moves to the new baseline run
    (the old one is kept) and ``history`` lists the move with ``reason``.
    """
    from mlflow_monitor.workflows.rebaseline import WindowChoice
    from mlflow_monitor.workflows.rebaseline import rebaseline as move

    start, end = _window(window_start, window_end)
    choice = WindowChoice(
        window_run,
        _utc_or_none(start),
        _utc_or_none(end),
    )
    rows = current if current is not None else ""
    with _staged(spec, model, rows, "window") as (spec_path, data_path, name):
        number = _version(name, version, tracking_uri)
        return move(
            spec_path,
            number,
            window=choice,
            reason=reason,
            current=data_path if current is not None else None,
            log_uri=log,
            tracking_uri=tracking_uri,
            echo=echo or _quiet,
        )


def _utc_or_none(moment: datetime | None) -> str | None:
    from mlflow_monitor.contract import utc_text

    return utc_text(moment) if moment is not None else None


# -- steps --------------------------------------------------------------------------------------


def _is_spark(frame: object) -> bool:
    """A pyspark DataFrame, told without importing pyspark (no JVM for a pandas call)."""
    kind = type(frame)
    return kind.__name__ == "DataFrame" and kind.__module__.startswith("pyspark.")


def _spec(spec: SpecLike) -> MonitorSpec:
    if isinstance(spec, MonitorSpec):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        return load_spec(spec)
    raise SpecError(f"spec: expected a MonitorSpec or a path, got {type(spec).__name__}")


def _monitored(spec: MonitorSpec, frame: object, *, what: str) -> pd.DataFrame:
    """The columns a monitor reads (the spec's, the target when present), after checking them."""
    from mlflow_monitor.adapters.sources.files import validate_frame

    checked = validate_frame(spec, frame, what=what)
    names = spec.columns.required()
    if spec.columns.target and spec.columns.target in checked.columns:
        names.append(spec.columns.target)
    if CAPTURE_DROPPED_COLUMN in checked.columns:
        names.append(CAPTURE_DROPPED_COLUMN)
    return checked.loc[:, list(dict.fromkeys(names))]


def _window(
    start: datetime | str | None, end: datetime | str | None
) -> tuple[datetime | None, datetime | None]:
    """The window's bounds as UTC times; start must come before end."""
    first, last = _time(start, "window_start"), _time(end, "window_end")
    if first and last and first >= last:
        raise DataError(f"window_start {first.isoformat()} is not before window_end")
    return first, last


def _time(value: datetime | str | None, name: str) -> datetime | None:
    from mlflow_monitor.contract import parse_utc

    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        return parse_utc(str(value))
    except ValueError:
        raise DataError(f"{name}: not an ISO 8601 time: {value!r}") from None


def _version(model: str, version: str | int, tracking_uri: str | None) -> str:
    text = str(version).strip()
    if not text.startswith("@"):
        return text
    from mlflow_monitor.adapters.mlflow.models import resolve_version

    return resolve_version(model, text, tracking_uri=tracking_uri)


@contextmanager
def _staged(
    spec: SpecLike,
    model: str | None,
    data: object,
    what: str,
    *,
    window: tuple[datetime | None, datetime | None] = (None, None),
) -> Iterator[tuple[Path, str | Path, str]]:
    """The spec and the data as the files the workflow reads: (spec file, data, model).

    A spec file passes through as it is (unless ``model`` overrides its model); a spec object is
    written as ``monitor.yaml`` beside copies of the files it names. A DataFrame is checked
    against the spec (the error names the DataFrame), cut to ``window`` when it has a
    timestamp column (an empty window is refused here, before any run exists) and written as
    parquet. A path or URL passes through as given (the workflow stages a remote one). A Spark
    DataFrame is written as parquet by Spark's executors and the spec's ``engine`` set to
    ``spark``: the Spark engine profiles it (and keeps the window's rows, ``[start, end)``).
    """
    from mlflow_monitor.adapters.sources.files import validate_frame, window_rows, write_frame

    loaded = _spec(spec)
    in_spark = _is_spark(data)
    if model is not None:
        loaded = loaded.model_copy(update={"model": model})
    if in_spark:  # the staged parquet is read by the Spark engine (the run's notebook too)
        loaded = loaded.model_copy(update={"engine": "spark"})
    name = loaded.require_model("spec")
    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-api-") as tmp:
        staging = Path(tmp)
        as_written = isinstance(spec, (str, os.PathLike)) and model is None and not in_spark
        spec_path = (
            Path(spec)
            if as_written and not isinstance(spec, MonitorSpec)
            else _write_spec(loaded, staging / "spec")
        )
        data_path: str | Path
        if isinstance(data, (str, os.PathLike)):
            data_path = os.fspath(data)  # a path, or a URL (s3://..., postgresql://...) as given
        elif in_spark:  # written by the executors: no row passes through this process
            data_path = staging / f"{what}.parquet"
            data.write.parquet(str(data_path))  # type: ignore[attr-defined]
        else:
            optional = what == "window" and loaded.scoring.when != "never"
            frame = validate_frame(loaded, data, what=what, outputs_optional=optional)
            frame = window_rows(loaded, frame, *window, source=f"the {what} DataFrame")
            data_path = write_frame(frame, staging / f"{what}.parquet", what=what)
        yield spec_path, data_path, name


def _write_spec(spec: MonitorSpec, folder: Path) -> Path:
    """``monitor.yaml`` for a spec object, with copies of its card and extra notebooks.

    Their paths are read from the spec's folder (``spec.folder``) with the rule every spec path
    follows (inside that folder) and written relative, so the copy means the same files.
    """
    folder.mkdir(parents=True)
    card = _copy_named(spec.card, spec.folder, folder, "card") if spec.card else None
    extra = [_copy_named(p, spec.folder, folder, "notebooks.extra") for p in spec.notebooks.extra]
    notebooks = spec.notebooks.model_copy(update={"extra": extra})
    staged = spec.model_copy(update={"card": card, "notebooks": notebooks})
    path = folder / "monitor.yaml"
    path.write_text(staged.to_yaml(), encoding="utf-8")
    return path


def _copy_named(value: str, source: Path, folder: Path, key: str) -> str:
    import shutil

    path = resolve_spec_path(value, folder=source, key=key)
    if not path.is_file():
        raise SpecError(f"{key}: {value!r} not found in {source}")
    relative = path.relative_to(source.resolve())
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return relative.as_posix()
