"""Inside the monitoring notebook: the version scores its own window; a shadow comparison.

``score_own_outputs`` fills the model outputs a window came without, with the judged version's
own registered model (``NotebookParameters.model_dir``, downloaded by ``run`` before the run
started), and says which rows it scored and how long it took (``results.json`` ``scoring``).
``shadow_compare`` scores the same rows with another version (``run --compare @champion``),
judges that side with the same spec and baseline, and adds the ``comparison`` section: both
sides' performance and group rates with intervals, and the paired tests a ``must_beat`` gate
reads. Both print a line per step, so the executed notebook is the record of what was scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal

from mlflow_monitor.adapters.notebook_parameters import NotebookParameters
from mlflow_monitor.adapters.notebooks.window_inputs import WindowInputs
from mlflow_monitor.contract import MetricValue, ScoringRecord
from mlflow_monitor.verdicts.comparison import compare_versions
from mlflow_monitor.verdicts.evaluation import WindowResult, evaluate_window

__all__ = ["add_scoring", "score_own_outputs", "shadow_compare"]

Echo = Callable[[str], None]


def score_own_outputs(
    inputs: WindowInputs, params: NotebookParameters, *, echo: Echo = print
) -> tuple[WindowInputs, ScoringRecord | None]:
    """The window with the version's missing outputs filled by its own model (or as it was)."""
    if not params.model_dir:
        return inputs, None
    from mlflow_monitor.adapters.mlflow.scoring import load_scorer, score_window

    spec = inputs.spec
    scorer = load_scorer(Path(params.model_dir), model_uri=params.model_uri)
    when: Literal["missing", "always"] = "always" if spec.scoring.when == "always" else "missing"
    frame, record = score_window(
        inputs.frame,
        spec=spec,
        scorer=scorer,
        when=when,
        batch_rows=spec.scoring.batch_rows,
        progress=echo,
    )
    echo(record.text() if record else "every row came with the model's output: nothing scored")
    return replace(inputs, frame=frame), record


def add_scoring(result: WindowResult, record: ScoringRecord | None) -> WindowResult:
    """``results.json`` says which rows the monitor scored (``scoring``, ``scoring/*`` metrics)."""
    if record is None:
        return result
    metrics = (
        MetricValue("scoring/rows_scored", float(record.rows_scored)),
        MetricValue("scoring/seconds", float(record.seconds)),
    )
    scored = result.with_section("scoring", record.to_dict(), metrics)
    return replace(scored, notes=(*scored.notes, record.text()))


def shadow_compare(
    inputs: WindowInputs,
    params: NotebookParameters,
    result: WindowResult,
    *,
    echo: Echo = print,
) -> WindowResult:
    """``result`` with the ``comparison`` against ``params.compare_*`` (unchanged without one)."""
    if not params.compare_dir:
        return result
    from mlflow_monitor.adapters.mlflow.scoring import load_scorer, score_window

    spec = inputs.spec
    scorer = load_scorer(Path(params.compare_dir), model_uri=params.compare_uri)
    theirs, record = score_window(
        inputs.frame,
        spec=spec,
        scorer=scorer,
        when="always",
        batch_rows=spec.scoring.batch_rows,
        reason="comparison",
        progress=echo,
    )
    if record is not None:
        echo(record.text())
    their_result = evaluate_window(
        spec,
        inputs.baseline,
        theirs,
        model_version=params.compare_version,
        window_start=inputs.window_start,
        window_end=inputs.window_end,
    )
    comparison = compare_versions(
        spec,
        challenger_frame=inputs.frame,
        champion_frame=theirs,
        challenger=result,
        champion=their_result,
        against=params.compare_against,
        against_version=params.compare_version,
        against_uri=params.compare_uri,
        scoring=record,
    )
    for test in comparison.paired:
        echo(
            f"{test.metric}: {test.challenger:.4f} vs {test.champion:.4f} "
            f"({params.compare_against}), improvement {test.improvement:+.4f} "
            f"+- {test.standard_error:.4f} ({test.method}, n={test.n:,})"
        )
    return result.with_section("comparison", comparison.to_dict(), comparison.metrics())
