"""Workflow: build a baseline from reference data and attach it to a registered model version.

``build_baseline_run`` reads as its steps: check the spec, version and reference file; profile the
reference (whole, or chunk by chunk when it is larger than one chunk) and say which policy rules
the reference already breaks; start a ``monitor.kind=baseline`` run; execute ``baseline.ipynb``;
log the baseline directory, the notebook (and its HTML rendering), the spec and the reference
performance; describe the run (its Markdown note in MLflow's UI); point ``monitor.baseline_run_id``
at the run; refresh the model card.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from mlflow_monitor.adapters.baseline_files import save_baseline
from mlflow_monitor.adapters.mlflow.runs import MonitorRuns
from mlflow_monitor.adapters.notebooks.execute import run_notebook, shipped_notebook
from mlflow_monitor.adapters.sources import files as data
from mlflow_monitor.contract import (
    BASELINE_DIR,
    BASELINE_FILE,
    CARD_HTML_FILE,
    CARD_MARKDOWN_FILE,
    KIND_BASELINE,
    NOTEBOOKS_DIR,
    SPEC_FILE,
    TAG_BASELINE_RUN,
    TAG_RUN_NOTE,
    MetricValue,
    safe_metric_name,
)
from mlflow_monitor.errors import MonitorError, SpecError
from mlflow_monitor.spec import MonitorSpec, load_spec
from mlflow_monitor.verdicts.baseline_model import (
    Baseline,
    build_baseline_from_chunks,
    build_baseline_from_frame,
)
from mlflow_monitor.views.run_note import NoteLinks, baseline_note
from mlflow_monitor.workflows import preflight
from mlflow_monitor.workflows.run_steps import (
    Echo,
    end_failed,
    note_artifacts,
    now_ms,
    quiet,
    refresh_card_quietly,
    render_notebooks_html,
    spec_copy,
)

__all__ = [
    "CHUNK_ROWS",
    "BaselineRun",
    "build_baseline",
    "build_baseline_run",
    "check_metric_names",
    "report_reference_outcomes",
]

CHUNK_ROWS = 250_000


def check_metric_names(columns: list[str]) -> None:
    """Refuse columns whose MLflow metric names would collide (``a b`` and ``a_b`` ...).

    Every column's metrics are logged under ``contract.safe_metric_name``; two columns that map to
    one name would overwrite each other's history in every window, so the baseline refuses them.
    """
    seen: dict[str, str] = {}
    for column in columns:
        name = safe_metric_name(f"drift/{column}/psi")
        if name in seen:
            raise SpecError(
                f"columns {seen[name]!r} and {column!r} would be logged to MLflow under the same "
                f"metric name ({name}); rename one of them"
            )
        seen[name] = column


def build_baseline(
    spec: MonitorSpec, path: str | Path, *, chunk_rows: int = CHUNK_ROWS
) -> Baseline:
    """Build the baseline from a reference file (parquet file/directory or CSV).

    With the Spark engine (``--engine spark`` or the spec's ``engine``) a parquet reference is
    profiled per Spark partition (``adapters/sources/spark.py``): only profiles and a bounded
    sample reach this process. Otherwise pandas reads it whole, or chunk by chunk when large.
    """
    info = data.validate_data(spec, path, what="reference")
    wanted = data.monitored_columns(spec, info)
    check_metric_names(wanted)
    if _spark_engine(spec) and info.path.suffix.lower() != ".csv":
        return _baseline_in_spark(spec, info.path)
    if info.rows is not None and info.rows <= chunk_rows:
        return build_baseline_from_frame(spec, data.read_frame(info.path, wanted))
    return build_baseline_from_chunks(
        spec, lambda: data.iter_chunks(info.path, wanted, chunk_rows), wanted
    )


def _spark_engine(spec: MonitorSpec) -> bool:
    from mlflow_monitor.adapters.sources.spark import engine_of  # no pyspark import, no JVM

    return engine_of(spec) == "spark"


def _baseline_in_spark(spec: MonitorSpec, path: Path) -> Baseline:
    from mlflow_monitor.adapters.sources import spark

    frame = spark.read_spark_source(spark.spark_session(), str(path))
    baseline = spark.baseline_from_spark(spec, frame)
    partitions = frame.rdd.getNumPartitions()
    note = f"reference profiled by the Spark engine ({partitions} partitions)"
    return replace(baseline, notes=(*baseline.notes, note))


def report_reference_outcomes(baseline: Baseline, echo: Echo) -> None:
    """Say which policy rules the reference itself already breaks, one line each, and how many.

    A reference that breaks a rule will make every window break it too: better known before the
    first window than discovered in its alert. The outcomes are stored on the baseline.
    """
    firing = baseline.firing_reference_outcomes
    for outcome in firing:
        echo(f"[baseline] reference already breaks: {outcome.message}")
    if firing:
        judged = len(baseline.reference_outcomes)
        echo(f"[baseline] {len(firing)} of {judged} policy checks already fire on the reference")


@dataclass(frozen=True)
class BaselineRun:
    """A baseline attached to a version: its run, and the reference rows it summarizes."""

    model: str
    version: str
    run_id: str
    rows: int
    sample_rows: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def _repr_html_(self) -> str:
        from mlflow_monitor.views import panel_html, table_html

        return panel_html(
            table_html(
                [self.to_dict()],
                columns=["model", "version", "run_id", "rows", "sample_rows"],
                caption=f"Baseline attached to {self.model} version {self.version}",
            )
        )


def build_baseline_run(
    spec_path: str | Path,
    version: str,
    reference_path: str | Path,
    *,
    tracking_uri: str | None = None,
    echo: Echo = quiet,
    shown_as: str | None = None,
    query: str | None = None,
    run_tags: Mapping[str, str] | None = None,
    reference_name: str | None = None,
) -> BaselineRun:
    """Build the baseline from reference data and attach it to ``model``/``version``.

    Logs a ``monitor.kind=baseline`` run (``baseline/``, ``notebooks/baseline.ipynb``, the spec)
    and points the version tag ``monitor.baseline_run_id`` at it; an older baseline run is kept.
    ``shown_as`` names the reference in progress lines (the API: "the reference DataFrame").
    ``reference_path`` may be an object-store URL, or a database URL with its SQL ``query``:
    it is staged to a local file first (``adapters.sources.locations``). ``run_tags`` are set on
    the baseline run when it starts (``rebaseline``: where the reference came from);
    ``reference_name`` is logged as its ``reference_path`` parameter instead of the file's path
    (a staged copy's temporary path means nothing later).
    """
    from mlflow_monitor.adapters.sources.locations import describe_location, stage_source

    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-reference-") as staging:
        staged = stage_source(reference_path, work=Path(staging), query=query, what="--reference")
        if staged.staged:
            shown_as = shown_as or describe_location(str(reference_path))
            echo(f"[baseline] staged {staged.location} ({staged.seconds:.1f} s)")
        named = _Named(shown_as, dict(run_tags or {}), reference_name)
        return _build_baseline_run(spec_path, version, staged.path, tracking_uri, echo, named)


@dataclass(frozen=True)
class _Named:
    """How the reference is shown (progress, ``reference_path`` parameter) and the run's tags."""

    shown_as: str | None
    run_tags: Mapping[str, str]
    reference_name: str | None


def _build_baseline_run(
    spec_path: str | Path,
    version: str,
    reference_path: str | Path,
    tracking_uri: str | None,
    echo: Echo,
    named: _Named,
) -> BaselineRun:
    spec = load_spec(spec_path)
    spec.require_model(str(spec_path))
    runs = MonitorRuns(tracking_uri)
    runs.version(spec.model, version)
    data.validate_data(spec, reference_path, what="reference")
    preflight.check_baseline(spec, reference_path)  # packs, reference groups, score range
    echo(f"[baseline] profiling {named.shown_as or reference_path}")
    baseline = build_baseline(spec, reference_path)
    report_reference_outcomes(baseline, echo)
    with tempfile.TemporaryDirectory(prefix="mlflow-monitor-") as tmp:
        work = Path(tmp)
        folder = save_baseline(baseline, work / BASELINE_DIR)
        run_id = runs.start_run(
            spec.model,
            version,
            kind=KIND_BASELINE,
            run_name=f"baseline v{version}",
            tags=named.run_tags,
        )
        echo(f"[baseline] run {run_id}: executing baseline.ipynb")
        try:
            params = {  # baseline.ipynb: the baseline directory, not a window
                "spec_path": str(Path(spec_path).resolve()),
                "model_version": str(version),
                "baseline_dir": str(folder),
                "output_dir": str(work / "out"),
            }
            run_notebook(
                shipped_notebook("baseline.ipynb"),
                work / NOTEBOOKS_DIR / "baseline.ipynb",
                params,
                timeout_seconds=spec.notebooks.timeout_seconds,
                cwd=work,
            )
            runs.log_params(
                run_id,
                {
                    "reference_path": named.reference_name or str(reference_path),
                    "reference_rows": str(baseline.rows),
                },
            )
            perf = baseline.performance.metrics if baseline.performance else {}
            runs.log_metrics(
                run_id, [MetricValue(f"perf/{k}", v) for k, v in perf.items()], now_ms()
            )
            render_notebooks_html(work / NOTEBOOKS_DIR, echo)
            runs.log_artifacts(run_id, folder, BASELINE_DIR)
            runs.log_artifacts(run_id, work / NOTEBOOKS_DIR, NOTEBOOKS_DIR)
            runs.log_file(run_id, spec_copy(spec_path, work))
            experiment = runs.experiment_id(spec.model)
            notebooks = note_artifacts(work, (NOTEBOOKS_DIR,))  # while the files exist
            note = _Note(experiment, run_id, spec.model, str(version), baseline, notebooks)
            runs.set_run_tags(run_id, {TAG_RUN_NOTE: note.text()})
            runs.end_run(run_id, "FINISHED")
        except MonitorError as exc:
            end_failed(runs, run_id, str(exc))
            raise
        runs.set_version_tags(spec.model, version, {TAG_BASELINE_RUN: run_id})
    echo(f"[baseline] attached run {run_id} to {spec.model} version {version}")
    if refresh_card_quietly(
        spec, version, run_id, runs.tracking_uri, echo, card_dir=Path(spec_path).resolve().parent
    ):
        with contextlib.suppress(MonitorError):  # the description only misses the card's link
            runs.set_run_tags(run_id, {TAG_RUN_NOTE: note.text(card=True)})
    return BaselineRun(spec.model, str(version), run_id, baseline.rows, len(baseline.sample))


@dataclass(frozen=True)
class _Note:
    """The baseline run's description (``views.run_note.baseline_note``) and its links.

    ``notebooks`` are the notebook files logged (listed while the work folder exists: the
    description is written again, with the card's links, after it is gone).
    """

    experiment_id: str
    run_id: str
    model: str
    version: str
    baseline: Baseline
    notebooks: tuple[str, ...]

    def text(self, *, card: bool = False) -> str:
        logged = self.notebooks
        files = (f"{BASELINE_DIR}/{BASELINE_FILE}", SPEC_FILE)
        extra = (CARD_HTML_FILE, CARD_MARKDOWN_FILE) if card else ()
        links = NoteLinks(self.experiment_id, self.run_id, (*logged, *files, *extra))
        perf = self.baseline.performance.metrics if self.baseline.performance else {}
        return baseline_note(
            model=self.model,
            version=self.version,
            rows=self.baseline.rows,
            columns=list(self.baseline.profile.columns),
            links=links,
            performance=perf,
        )
