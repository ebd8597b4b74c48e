"""The version scores its own window: a registered model fills the window's missing outputs.

What: ``download_model`` brings ``models:/<name>/<version>`` (or ``@alias``) into a folder,
``check_scorable`` refuses a window without the columns the model needs (one ``DataError`` line,
before anything is loaded), ``load_scorer`` loads it, ``score_window`` predicts batch by batch and
fills the spec's output columns (prediction, score, probabilities) in the rows that lack them,
returning the new frame and a ``contract.ScoringRecord`` for ``results.json``.

Why: a window of raw features (a feature store extract, a request log without the responses)
can then be monitored like any other; the workflow also scores the other model of a shadow
comparison this way (``reason="comparison"``). The sklearn flavor is preferred when the model
has ``predict_proba``: pyfunc's sklearn ``predict`` returns labels only, and the score is what
ROC AUC, the score drift and the fairness decision threshold need.

Output mapping. sklearn (``method="sklearn.predict_proba"``): the prediction is ``predict``;
a binary score is the ``predict_proba`` column of the class equal to ``positive_label``
(compared as the performance statistics compare it: equal, equal as text, or equal as a number;
without a positive label, sklearn's positive class ``classes_[1]``); multiclass probability
columns get the class whose label ends their name (``p_cat`` -> ``cat``), else the classes in
sorted order (sklearn's ``classes_`` order, and the order ``stats`` assumes). pyfunc
(``method="pyfunc.predict"``): a DataFrame maps by column name to the spec's output columns, else
by position (one column: as a 1-D array; as many columns as outputs: in the order prediction,
score, probabilities; otherwise as a 2-D array); a 1-D array is the prediction (the score when
the spec has a score and no prediction); a 2-D array is the probabilities (multiclass) or
``[P(neg), P(pos)]`` for a binary score. An output column that needs values the model does not
give is a ``DataError`` naming it (a label-only model cannot fill a missing score).

Filled predictions keep the kind of the values already in the column (ints stay numbers, text
stays text, booleans stay booleans), so ``prediction == positive_label`` means the same for a
filled row as for a delivered one; the column keeps its dtype where the filled values fit it.

Speed (``benchmarks/bench_scoring.py``: the demo churn pipeline, one-hot + 120-tree histogram
gradient boosting, 1,000,000 rows that came without outputs, ``batch_rows=100_000``, quiet
2-CPU machine): ``score_window`` 4.2 s, about 235,000 rows per second, as much as one
``predict_proba`` call on the whole window outside (4.5 s). The pipeline runs once: the
prediction is the argmax of ``predict_proba`` where ``predict`` agrees on the first rows (twice
as slow before); the adapter itself (frame copy, input selection, batch slices, column assembly)
takes about 0.4 s per 1,000,000 rows, timed with a model that answers at once. ``predict_proba``
is called only when the score or probabilities need filling.

Light: pandas, numpy and yaml at import; ``mlflow`` is imported inside the functions (the notebook
imports this module only when a window needs scoring).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from mlflow_monitor.contract import ScoringRecord
from mlflow_monitor.errors import DataError, RegistryError
from mlflow_monitor.spec import MonitorSpec

__all__ = [
    "Scorer",
    "check_scorable",
    "download_model",
    "load_scorer",
    "missing_outputs",
    "model_inputs",
    "output_columns",
    "score_window",
]

SKLEARN_METHOD = "sklearn.predict_proba"
PYFUNC_METHOD = "pyfunc.predict"
_MLMODEL = "MLmodel"
_SHOWN = 12  # names shown in a one-line list before "+N more"
# what MLflow answers for a model, version or alias it does not know, depending on the store
_UNKNOWN = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")
_SEPARATORS = re.compile(r"[_\-.:= /]")
# a predicted label as a boolean, where the delivered predictions are booleans
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}


# -- the model's files ------------------------------------------------------------------------


_ARGMAX_CHECK_ROWS = 5_000  # rows on which predict must equal the argmax of predict_proba


def download_model(model_uri: str, *, tracking_uri: str | None, dst: Path) -> Path:
    """The model's files (``MLmodel`` and what it names) in ``dst``; returns their folder.

    ``model_uri`` is ``models:/<name>/<version>``, ``models:/<name>@<alias>`` or any URI MLflow
    downloads. A model, version or alias that does not exist, a store that cannot be read, or
    files that are not an MLflow model: ``RegistryError``, one line naming ``model_uri``.
    MLflow resolves ``models:/`` through its process-wide registry URI, so it points at
    ``tracking_uri`` for the download only and is put back after (``models._scoped_uris``).
    """
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from mlflow_monitor.adapters.mlflow.client import quiet_downloads
    from mlflow_monitor.adapters.mlflow.models import _scoped_uris

    scope = _scoped_uris(tracking_uri) if tracking_uri else contextlib.nullcontext()
    where = tracking_uri or "the default MLflow store"
    try:
        with scope, quiet_downloads():
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=model_uri,
                dst_path=str(dst),
                tracking_uri=tracking_uri,
                registry_uri=tracking_uri,
            )
    except MlflowException as exc:
        text = _first_line(exc.message)
        if exc.error_code in _UNKNOWN:
            raise RegistryError(
                f"{model_uri}: not found in the registry at {where} ({text})"
            ) from None
        raise RegistryError(f"{model_uri}: cannot download from {where}: {text}") from None
    except Exception as exc:  # a bad URI scheme, an unreachable store, a full disk
        raise RegistryError(
            f"{model_uri}: cannot download from {where}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    folder = Path(local)
    if not (folder / _MLMODEL).is_file():
        raise RegistryError(f"{model_uri}: no {_MLMODEL} file in what was downloaded (not a model)")
    return folder


def model_inputs(model_dir: Path) -> list[str] | None:
    """The input column names of the model's signature, in its order; None without one.

    Read from the ``MLmodel`` file (no model load). A signature of unnamed tensors is None too.
    """
    signature = _signature(model_dir)
    return None if signature is None else [name for name, _ in signature]


def _signature(model_dir: Path) -> list[tuple[str, bool]] | None:
    """(name, required) of each signature input; None without a column signature."""
    raw = _mlmodel(model_dir).get("signature")
    inputs = raw.get("inputs") if isinstance(raw, Mapping) else None
    if not inputs:
        return None
    try:
        specs = json.loads(inputs) if isinstance(inputs, str) else inputs
    except ValueError:
        raise RegistryError(f"{model_dir / _MLMODEL}: unreadable signature inputs") from None
    if not isinstance(specs, list) or not specs:
        return None
    found: list[tuple[str, bool]] = []
    for item in specs:
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not name:
            return None  # unnamed tensors: the signature names no column
        found.append((name, item.get("required", True) is not False))
    return found


def _mlmodel(model_dir: Path) -> Mapping[str, Any]:
    path = Path(model_dir) / _MLMODEL
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise RegistryError(f"{model_dir}: no {_MLMODEL} file (not an MLflow model)") from None
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f"{path}: unreadable ({_first_line(exc)})") from None
    if not isinstance(raw, Mapping):
        raise RegistryError(f"{path}: expected a mapping")
    return raw


# -- what the spec expects ----------------------------------------------------------------------


def output_columns(spec: MonitorSpec) -> list[str]:
    """The spec's output columns: prediction, score, probabilities (those it names), in order."""
    cols = spec.columns
    named = [c for c in (cols.prediction, cols.score) if c]
    return list(dict.fromkeys([*named, *cols.probabilities]))


def missing_outputs(spec: MonitorSpec, frame: pd.DataFrame) -> dict[str, int]:
    """Rows without a value, per output column (an absent column counts every row)."""
    return {
        c: int(frame[c].isna().sum()) if c in frame.columns else len(frame)
        for c in output_columns(spec)
    }


def check_scorable(
    spec: MonitorSpec, *, columns: Sequence[str], model_dir: Path, source: str
) -> None:
    """The window (``columns``) holds every column the model needs, else one ``DataError`` line.

    Needed: the signature's required inputs; without a signature, the spec's feature columns.
    """
    signature = _signature(model_dir)
    if signature is None:
        needed = spec.columns.features
        if not needed:
            raise DataError(
                f"{source}: the model has no signature and the spec names no feature columns: "
                "cannot tell which columns the model needs to score the window"
            )
    else:
        needed = [name for name, required in signature if required]
    _require(needed, columns, source)


def _require(needed: Sequence[str], columns: Sequence[str], source: str) -> None:
    present = set(columns)
    absent = [c for c in needed if c not in present]
    if absent:
        raise DataError(
            f"{source}: the model needs column(s) {_listed(absent)} to score the window; "
            f"not found (found: {_listed(list(columns)) or 'no columns'})"
        )


# -- the loaded model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scorer:
    """A loaded model and how it is called.

    ``method``: ``sklearn.predict_proba`` (the sklearn flavor, an estimator with
    ``predict_proba``) or ``pyfunc.predict``. ``inputs``: the columns passed, in this order (the
    signature's; for an sklearn estimator fitted on a DataFrame, its ``feature_names_in_``, the
    order sklearn insists on, equal to the signature's when the model was logged with an example
    of its training frame); None: the spec's feature columns. ``optional``: signature inputs
    that may be absent. ``classes``: the sklearn estimator's ``classes_`` (the ``predict_proba``
    column order), None for pyfunc.
    """

    model_uri: str
    method: str
    inputs: tuple[str, ...] | None = None
    optional: frozenset[str] = frozenset()
    classes: tuple[object, ...] | None = None
    model: Any = field(default=None, repr=False, compare=False)
    # whether ``predict`` is the argmax of ``predict_proba`` (checked on the first batch)
    argmax: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)


def load_scorer(model_dir: Path, *, model_uri: str) -> Scorer:
    """The model in ``model_dir``: the sklearn flavor when it has ``predict_proba``, else pyfunc.

    A model that cannot be loaded (missing package, unreadable file): ``RegistryError`` naming
    ``model_uri``.
    """
    flavors = _mlmodel(model_dir).get("flavors")
    signature = _signature(model_dir)
    inputs = None if signature is None else tuple(name for name, _ in signature)
    optional = frozenset(n for n, required in signature or () if not required)
    if isinstance(flavors, Mapping) and "sklearn" in flavors:
        import mlflow.sklearn

        estimator = _load(model_uri, lambda: mlflow.sklearn.load_model(str(model_dir)))
        if callable(getattr(estimator, "predict_proba", None)):
            classes = getattr(estimator, "classes_", None)
            fitted = getattr(estimator, "feature_names_in_", None)
            if fitted is not None:  # the names and order sklearn checks at predict time
                inputs = tuple(str(n) for n in fitted)
            return Scorer(
                model_uri=model_uri,
                method=SKLEARN_METHOD,
                inputs=inputs,
                optional=optional,
                classes=None if classes is None else tuple(np.asarray(classes).tolist()),
                model=estimator,
            )
    import mlflow.pyfunc

    model = _load(model_uri, lambda: mlflow.pyfunc.load_model(str(model_dir)))
    return Scorer(model_uri, PYFUNC_METHOD, inputs, optional, None, model)


def _load(model_uri: str, load: Callable[[], Any]) -> Any:
    try:
        return load()
    except Exception as exc:  # MLflow, pickle, skops and import errors alike
        raise RegistryError(
            f"{model_uri}: cannot load the model: {type(exc).__name__}: {_first_line(exc)}"
        ) from None


# -- scoring ------------------------------------------------------------------------------------


def score_window(
    frame: pd.DataFrame,
    *,
    spec: MonitorSpec,
    scorer: Scorer,
    when: Literal["missing", "always"] = "missing",
    batch_rows: int = 100_000,
    reason: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, ScoringRecord | None]:
    """A new frame with the spec's output columns filled by ``scorer``, and what was done.

    ``when="missing"``: only the rows with an output cell missing are scored, and only missing
    cells are filled (an absent column is created and filled in every row). ``when="always"``:
    every row is scored and every output column overwritten. Batches of ``batch_rows`` rows, on
    the model's input columns only, in their order; the frame's index and row order are kept.
    The record is None when nothing needed scoring (the frame is returned as a copy).
    ``reason`` overrides the record's reason (``absent``, ``missing`` or ``always``).
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    if when not in ("missing", "always"):
        raise ValueError(f"when must be 'missing' or 'always', got {when!r}")
    started = time.perf_counter()
    outputs = output_columns(spec)
    rows = len(frame)
    needs = {c: _needs(frame, c, when) for c in outputs}
    needed = [c for c in outputs if needs[c].any()]
    if not needed:
        return frame.copy(), None
    inputs = _input_columns(frame, spec, scorer)
    scored = np.flatnonzero(np.logical_or.reduce([needs[c] for c in needed]))
    features = frame[inputs] if len(scored) == rows else frame[inputs].iloc[scored]
    parts: dict[str, list[np.ndarray]] = {c: [] for c in needed}
    batches = math.ceil(len(scored) / batch_rows)
    for number in range(batches):
        batch = features.iloc[number * batch_rows : (number + 1) * batch_rows]
        for column, values in _predict(scorer, spec, batch, needed).items():
            parts[column].append(values)
        if progress is not None and batches > 1:
            done = min((number + 1) * batch_rows, len(scored))
            progress(f"scored {done:,} of {len(scored):,} rows")
    out = frame.copy()
    filled: dict[str, int] = {}
    for column in needed:
        values = np.concatenate(parts[column])
        keep = needs[column][scored]
        out[column] = _filled(frame, column, scored[keep], values[keep])
        filled[column] = int(keep.sum())
    if reason is None:
        absent = any(c not in frame.columns for c in needed)
        reason = "always" if when == "always" else "absent" if absent else "missing"
    record = ScoringRecord(
        model_uri=scorer.model_uri,
        rows=rows,
        rows_scored=len(scored),
        columns=filled,
        reason=reason,
        seconds=time.perf_counter() - started,
        batch_rows=batch_rows,
        method=scorer.method,
    )
    return out, record


def _needs(frame: pd.DataFrame, column: str, when: str) -> np.ndarray:
    """Which rows' cell of ``column`` is to be filled."""
    if when == "always" or column not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return np.asarray(frame[column].isna().to_numpy(), dtype=bool)


def _input_columns(frame: pd.DataFrame, spec: MonitorSpec, scorer: Scorer) -> list[str]:
    """The columns passed to the model, in its order; a missing one is one ``DataError`` line."""
    if scorer.inputs is None:
        needed = spec.columns.features
        if not needed:
            raise DataError(
                f"{scorer.model_uri}: the model has no signature and the spec names no feature "
                "columns: cannot tell which columns the model needs to score the window"
            )
        _require(needed, list(frame.columns), scorer.model_uri)
        return list(needed)
    required = [c for c in scorer.inputs if c not in scorer.optional]
    _require(required, [str(c) for c in frame.columns], scorer.model_uri)
    return [c for c in scorer.inputs if c in frame.columns]


def _predict(
    scorer: Scorer, spec: MonitorSpec, batch: pd.DataFrame, needed: Sequence[str]
) -> dict[str, np.ndarray]:
    """The model's values for ``needed`` on one batch, each of the batch's length."""
    with _model_errors(scorer, len(batch)):
        if scorer.method == SKLEARN_METHOD:
            values = _sklearn_outputs(scorer, spec, batch, needed)
        else:
            output = scorer.model.predict(batch)
    if scorer.method != SKLEARN_METHOD:
        try:
            values = _pyfunc_outputs(output, spec)
        except DataError as exc:
            raise DataError(f"{scorer.model_uri} ({scorer.method}): {exc}") from None
    for column in needed:
        if column not in values:
            given = ", ".join(values) or "none of the spec's output columns"
            raise DataError(
                f"{scorer.model_uri} ({scorer.method}) gives no {column}: its output maps to "
                f"{given}"
            )
        if len(values[column]) != len(batch):
            raise DataError(
                f"{scorer.model_uri}: the model returned {len(values[column]):,} values for "
                f"{column} on a batch of {len(batch):,} rows"
            )
    return {c: values[c] for c in needed}


@contextlib.contextmanager
def _model_errors(scorer: Scorer, rows: int) -> Iterator[None]:
    """A model raising while predicting: one ``DataError`` line naming the model."""
    try:
        yield
    except (DataError, RegistryError):
        raise
    except Exception as exc:  # whatever the model's code raises
        raise DataError(
            f"{scorer.model_uri}: the model failed scoring a batch of {rows:,} rows: "
            f"{type(exc).__name__}: {_first_line(exc)}"
        ) from None


def _sklearn_outputs(
    scorer: Scorer, spec: MonitorSpec, batch: pd.DataFrame, needed: Sequence[str]
) -> dict[str, np.ndarray]:
    cols = spec.columns
    values: dict[str, np.ndarray] = {}
    wanted = [c for c in (cols.score, *cols.probabilities) if c and c in needed]
    proba = np.asarray(scorer.model.predict_proba(batch), dtype=float) if wanted else None
    if cols.prediction and cols.prediction in needed:
        values[cols.prediction] = _predicted(scorer, batch, proba)
    if proba is None:
        return values
    classes: list[object] = list(
        scorer.classes if scorer.classes is not None else range(proba.shape[1])
    )
    if cols.score:
        values[cols.score] = proba[:, _positive_index(classes, spec.positive_label, scorer)]
    if cols.probabilities:
        order = _class_order(cols.probabilities, classes, scorer)
        for column, index in zip(cols.probabilities, order, strict=True):
            values[column] = proba[:, index]
    return values


def _predicted(scorer: Scorer, batch: pd.DataFrame, proba: np.ndarray | None) -> np.ndarray:
    """``predict``, or the argmax of ``predict_proba`` already computed when the two agree.

    Running the pipeline twice (``predict`` and ``predict_proba``) doubled scoring time
    (``benchmarks/README.md``). The argmax is used only after ``predict`` gave the same labels
    on the first batch's first rows: an estimator with a tuned threshold keeps its ``predict``.
    """
    if proba is None or scorer.classes is None:
        return np.asarray(scorer.model.predict(batch))
    labels = np.asarray(scorer.classes, dtype=object)[np.argmax(proba, axis=1)]
    if "agrees" not in scorer.argmax:
        head = min(len(batch), _ARGMAX_CHECK_ROWS)
        direct = np.asarray(scorer.model.predict(batch.iloc[:head]))
        scorer.argmax["agrees"] = bool(np.array_equal(direct.astype(object), labels[:head]))
    if not scorer.argmax["agrees"]:
        return np.asarray(scorer.model.predict(batch))
    return np.asarray(labels.astype(np.asarray(scorer.classes).dtype))


def _positive_index(classes: list[object], positive_label: object, scorer: Scorer) -> int:
    """The ``predict_proba`` column of the positive class."""
    shown = _listed([repr(c) for c in classes])
    if len(classes) != 2:
        raise DataError(
            f"{scorer.model_uri}: a binary score needs a model of two classes; it has "
            f"{len(classes)} ({shown})"
        )
    if positive_label is None:
        return 1  # sklearn's positive class: the greater label (1 of 0/1, True of booleans)
    for index, label in enumerate(classes):
        if _same_label(label, positive_label):
            return index
    raise DataError(
        f"{scorer.model_uri}: positive_label {positive_label!r} is not one of the model's "
        f"classes ({shown})"
    )


def _same_label(label: object, wanted: object) -> bool:
    """Equal, equal as text, or equal as numbers (``"1"`` from YAML matches 1, True matches 1)."""
    if str(label) == str(wanted):
        return True
    left, right = _as_float(label), _as_float(wanted)
    return left is not None and left == right


def _as_float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _class_order(columns: Sequence[str], classes: list[object], scorer: Scorer) -> list[int]:
    """For each probability column, its class's ``predict_proba`` column.

    By name when every column's name ends with a different class label (``p_cat``, ``cat``);
    else by position, the columns in sorted class order (sklearn's ``classes_`` order).
    """
    if len(columns) != len(classes):
        raise DataError(
            f"{scorer.model_uri}: columns.probabilities names {len(columns)} columns but the "
            f"model has {len(classes)} classes ({_listed([repr(c) for c in classes])})"
        )
    by_name = [_class_named(column, classes) for column in columns]
    if None not in by_name and len(set(by_name)) == len(columns):
        return [i for i in by_name if i is not None]
    try:
        ranked = sorted(range(len(classes)), key=lambda i: classes[i])  # type: ignore[arg-type, return-value]
    except TypeError:
        ranked = list(range(len(classes)))
    return ranked


def _class_named(column: str, classes: list[object]) -> int | None:
    """The one class whose label is the column's name or its last part after a separator."""
    found = []
    for index, label in enumerate(str(c) for c in classes):
        cut = len(column) - len(label) - 1
        if column == label or (
            cut >= 0 and column.endswith(label) and _SEPARATORS.fullmatch(column[cut]) is not None
        ):
            found.append(index)
    return found[0] if len(found) == 1 else None


def _pyfunc_outputs(output: object, spec: MonitorSpec) -> dict[str, np.ndarray]:
    """A pyfunc model's output mapped to the spec's output columns (module docstring)."""
    outputs = output_columns(spec)
    if isinstance(output, Mapping) and not isinstance(output, pd.DataFrame):
        output = pd.DataFrame({str(k): np.asarray(v) for k, v in output.items()})
    if isinstance(output, pd.DataFrame):
        named = [c for c in outputs if c in output.columns]
        if named:
            return {c: output[c].to_numpy() for c in named}
        if output.shape[1] == 1:
            return _one_dimensional(output.iloc[:, 0].to_numpy(), spec)
        if output.shape[1] == len(outputs):
            return {c: output.iloc[:, i].to_numpy() for i, c in enumerate(outputs)}
        return _two_dimensional(output.to_numpy(), spec)
    array = np.asarray(output.to_numpy() if isinstance(output, pd.Series) else output)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        return _one_dimensional(array, spec)
    if array.ndim == 2:
        return _two_dimensional(array, spec)
    raise DataError(f"model output of shape {array.shape}: expected one or two dimensions")


def _one_dimensional(values: np.ndarray, spec: MonitorSpec) -> dict[str, np.ndarray]:
    cols = spec.columns
    target = cols.prediction or cols.score
    return {target: values} if target else {}


def _two_dimensional(values: np.ndarray, spec: MonitorSpec) -> dict[str, np.ndarray]:
    cols = spec.columns
    width = values.shape[1]
    if cols.probabilities:
        if width != len(cols.probabilities):
            raise DataError(
                f"the model returned {width} columns for the {len(cols.probabilities)} "
                f"probability columns ({_listed(cols.probabilities)})"
            )
        return {c: values[:, i] for i, c in enumerate(cols.probabilities)}
    if cols.score and width == 2:
        return {cols.score: values[:, 1]}
    raise DataError(
        f"the model returned {width} columns per row; expected "
        f"{'[P(negative), P(positive)] for ' + cols.score if cols.score else 'one value per row'}"
    )


# -- filling the frame --------------------------------------------------------------------------


def _filled(frame: pd.DataFrame, column: str, rows: np.ndarray, values: np.ndarray) -> pd.Series:
    """``column`` with ``values`` at the positions ``rows`` (a new column when it is absent).

    A column absent, or present without a single value, takes the model's dtype.
    """
    existing = frame[column] if column in frame.columns else None
    if existing is None or (len(rows) == len(frame) and not existing.notna().any()):
        return pd.Series(values, index=frame.index, name=column)
    values = _conform(values, existing)
    if (
        isinstance(existing.dtype, np.dtype)
        and existing.dtype.kind in "fiu"
        and values.dtype.kind in "fiu"
    ):
        kind = np.result_type(existing.dtype, values.dtype)
        array = existing.to_numpy(dtype=kind, copy=True)
        array[rows] = values
        return pd.Series(array, index=frame.index, name=column)
    merged = existing.to_numpy(dtype=object, copy=True)
    merged[rows] = values
    result = pd.Series(merged, index=frame.index, name=column)
    if existing.dtype == object:
        return result.infer_objects()
    try:
        typed = result.astype(existing.dtype)
    except (TypeError, ValueError):
        return result.infer_objects()
    if int(typed.isna().sum()) != int(result.isna().sum()):
        return result.infer_objects()  # the dtype cannot hold a new value (a new category)
    return typed


def _conform(values: np.ndarray, existing: pd.Series) -> np.ndarray:
    """``values`` as the kind of the values already in the column: bool, number or text."""
    present = existing.dropna()
    if present.empty:
        return values
    have = pd.api.types.infer_dtype(present, skipna=True)
    got = pd.api.types.infer_dtype(values, skipna=True)
    if have == got:
        return values
    given = pd.Series(values)
    if have == "boolean":
        mapped = given.astype(str).str.lower().map(_BOOL_TEXT)
        return mapped.to_numpy(dtype=object) if mapped.notna().all() else values
    if have in ("integer", "floating", "mixed-integer-float", "decimal"):
        if got == "boolean":
            return values.astype(np.int64)
        numbers = pd.to_numeric(given, errors="coerce")
        return numbers.to_numpy() if numbers.notna().sum() == given.notna().sum() else values
    if have == "string":
        return np.asarray([_text(v) for v in values], dtype=object)
    return values


def _text(value: object) -> object:
    """A predicted label as text: ``1.0`` as ``"1"``, like the text labels beside it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return value
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _listed(names: Sequence[str]) -> str:
    """``a, b, c`` (at most ``_SHOWN`` names, then ``+N more``)."""
    shown = ", ".join(str(n) for n in names[:_SHOWN])
    rest = len(names) - _SHOWN
    return f"{shown}, +{rest} more" if rest > 0 else shown


def _first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0][:300] if lines else ""
