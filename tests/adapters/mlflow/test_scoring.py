"""adapters/mlflow/scoring.py on real MLflow models: the version scores its own window.

A module-scoped SQLite store (a copy of the suite's empty one) holds the registered models the
tests share: the demo churn pipeline, a pyfunc model, a regression and a multiclass classifier.
No mocks: every model is logged, registered, downloaded and loaded through MLflow.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from mlflow_monitor.adapters.mlflow.models import register_sklearn_model
from mlflow_monitor.adapters.mlflow.scoring import (
    PYFUNC_METHOD,
    SKLEARN_METHOD,
    Scorer,
    check_scorable,
    download_model,
    load_scorer,
    missing_outputs,
    model_inputs,
    output_columns,
    score_window,
)
from mlflow_monitor.datasets.churn import (
    CATEGORICAL,
    NUMERICAL,
    churn_spec_yaml,
    make_churn,
    score,
    train_churn_model,
)
from mlflow_monitor.errors import DataError, RegistryError
from mlflow_monitor.spec import MonitorSpec, parse_spec
from tests.adapters.mlflow.scoring_models import (
    INPUTS,
    KnownOutputs,
    churn_like_score,
    log_pyfunc,
    save_pyfunc,
)

FEATURES = NUMERICAL + CATEGORICAL
OUTPUTS = ["churn_score", "prediction"]


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    root: Path


@dataclass(frozen=True)
class Churn:
    model: Any
    model_dir: Path
    scorer: Scorer
    window: pd.DataFrame  # features only, with a shuffled index
    expected: pd.DataFrame  # the window scored by churn.score


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    """One OpenMP thread for the gradient boosting: on a busy 2-CPU machine its threads wait for
    each other (measured: this file 35 s with two threads, 17 s with one); results are equal."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path) -> Any:
    root = tmp_path_factory.mktemp("scoring")
    shutil.copyfile(_empty_store, root / "mlflow.db")
    yield Store(f"sqlite:///{root / 'mlflow.db'}", root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def churn(store: Store) -> Churn:
    reference = make_churn(1500, seed=1)
    model = train_churn_model(reference)
    version = register_sklearn_model(
        model,
        "churn",
        tracking_uri=store.tracking_uri,
        example=reference[FEATURES].head(5),
        artifact_root=store.root / "artifacts",
    )
    uri = f"models:/churn/{version}"
    model_dir = download_model(uri, tracking_uri=store.tracking_uri, dst=store.root / "churn")
    window = make_churn(1200, seed=7)
    window.index = pd.Index(np.random.default_rng(0).permutation(len(window)) * 3 + 5)
    return Churn(model, model_dir, load_scorer(model_dir, model_uri=uri), window,
                 score(model, window))  # fmt: skip


def _spec(**changes: object) -> MonitorSpec:
    body = yaml.safe_load(churn_spec_yaml("churn"))
    body.update(changes)
    return parse_spec(body)


SPEC = _spec()


def _binary(**columns: object) -> MonitorSpec:
    """A binary spec naming only ``columns`` (no checks that need a missing column)."""
    return parse_spec({"task": "binary_classification", "columns": columns})


# -- the churn pipeline (sklearn flavor) ----------------------------------------------------------


def test_a_window_without_outputs_is_scored_as_the_model_scores_it(churn: Churn) -> None:
    assert churn.scorer.method == SKLEARN_METHOD
    assert churn.scorer.inputs == tuple(FEATURES)
    before = churn.window.copy()

    out, record = score_window(churn.window, spec=SPEC, scorer=churn.scorer)

    pd.testing.assert_frame_equal(churn.window, before)  # the caller's frame is not touched
    assert out.index.equals(churn.window.index)
    assert list(out.columns) == [*churn.window.columns, "prediction", "churn_score"]
    np.testing.assert_allclose(
        out["churn_score"], churn.expected["churn_score"], rtol=0, atol=1e-12
    )
    assert out["prediction"].dtype == np.int64
    assert (out["prediction"] == churn.expected["prediction"]).all()
    assert record is not None
    assert (record.rows, record.rows_scored, record.reason) == (1200, 1200, "absent")
    assert dict(record.columns) == {"prediction": 1200, "churn_score": 1200}
    assert (record.model_uri, record.method, record.batch_rows) == (
        churn.scorer.model_uri, SKLEARN_METHOD, 100_000,
    )  # fmt: skip


def test_only_the_missing_cells_are_filled(churn: Churn) -> None:
    window = churn.expected.copy()
    window["churn_score"] = 0.123  # delivered values the model would not give: they must stay
    window["prediction"] = 7
    both = window.index[[3, 50, 51, 400, 401, 402, 700, 800, 900, 950, *range(1000, 1010)]]
    score_only = window.index[[10, 11, 12, 13, 14, 15, 16, 17, 18, 19]]
    window.loc[both, OUTPUTS] = np.nan
    window.loc[score_only, "churn_score"] = np.nan

    out, record = score_window(window, spec=SPEC, scorer=churn.scorer)

    assert record is not None
    assert (record.rows_scored, record.reason) == (30, "missing")
    assert dict(record.columns) == {"prediction": 20, "churn_score": 30}
    filled = both.union(score_only)
    np.testing.assert_allclose(
        out.loc[filled, "churn_score"], churn.expected.loc[filled, "churn_score"], atol=1e-12
    )
    assert (out.loc[both, "prediction"] == churn.expected.loc[both, "prediction"]).all()
    assert (out.loc[score_only, "prediction"] == 7).all()  # present: kept
    untouched = window.index.difference(filled)
    assert (out.loc[untouched, "churn_score"] == 0.123).all()
    assert (out.loc[untouched, "prediction"] == 7).all()
    assert out["prediction"].dtype == window["prediction"].dtype == np.float64
    assert missing_outputs(SPEC, out) == {"prediction": 0, "churn_score": 0}


def test_rescoring_always_changes_nothing_in_a_correct_window(churn: Churn) -> None:
    out, record = score_window(churn.expected, spec=SPEC, scorer=churn.scorer, when="always")
    pd.testing.assert_frame_equal(out, churn.expected, check_exact=False, rtol=0, atol=1e-12)
    assert record is not None
    assert (record.rows_scored, record.reason) == (1200, "always")
    assert dict(record.columns) == {"prediction": 1200, "churn_score": 1200}


def test_nothing_to_score_gives_no_record(churn: Churn) -> None:
    out, record = score_window(churn.expected, spec=SPEC, scorer=churn.scorer)
    assert record is None
    pd.testing.assert_frame_equal(out, churn.expected)
    assert out is not churn.expected


def test_batches_give_the_result_of_one_batch_and_report_progress(churn: Churn) -> None:
    lines: list[str] = []
    whole, _ = score_window(churn.window, spec=SPEC, scorer=churn.scorer, progress=lines.append)
    assert lines == []  # one batch: nothing to report
    batched, record = score_window(
        churn.window, spec=SPEC, scorer=churn.scorer, batch_rows=500, progress=lines.append,
        reason="comparison",
    )  # fmt: skip
    pd.testing.assert_frame_equal(batched, whole, check_exact=False, rtol=0, atol=1e-12)
    assert lines == [
        "scored 500 of 1,200 rows", "scored 1,000 of 1,200 rows", "scored 1,200 of 1,200 rows"
    ]  # fmt: skip
    assert record is not None
    assert (record.batch_rows, record.reason) == (500, "comparison")


@pytest.mark.parametrize(("positive_label", "column"), [("1", 1), (True, 1), (0, 0)])
def test_the_score_is_the_probability_of_the_positive_label(
    churn: Churn, positive_label: object, column: int
) -> None:
    spec = _spec(positive_label=positive_label)
    out, _ = score_window(churn.window, spec=spec, scorer=churn.scorer)
    proba = churn.model.predict_proba(churn.window[FEATURES])[:, column]
    np.testing.assert_allclose(out["churn_score"], proba, rtol=0, atol=1e-12)


def test_an_unknown_positive_label_is_refused(churn: Churn) -> None:
    with pytest.raises(DataError, match=r"positive_label 'yes' is not one of the model's classes"):
        score_window(churn.window, spec=_spec(positive_label="yes"), scorer=churn.scorer)


def test_filled_predictions_keep_the_kind_of_the_delivered_ones(churn: Churn) -> None:
    expected = churn.expected["prediction"]
    holes = churn.window.index[:40]
    as_text = churn.expected.assign(prediction=expected.astype(str).astype(object))
    as_bool = churn.expected.assign(prediction=(expected == 1).astype(object))
    for window in (as_text, as_bool):
        window.loc[holes, "prediction"] = None

    text, _ = score_window(as_text, spec=SPEC, scorer=churn.scorer)
    flags, _ = score_window(as_bool, spec=_spec(positive_label=True), scorer=churn.scorer)

    assert (text["prediction"] == expected.astype(str)).all()
    assert flags["prediction"].dtype == bool
    assert (flags["prediction"] == (expected == 1)).all()
    empty = churn.expected.assign(prediction=np.nan)  # no delivered value: the model's dtype
    filled, _ = score_window(empty, spec=SPEC, scorer=churn.scorer)
    assert filled["prediction"].dtype == np.int64
    assert (filled["prediction"] == expected).all()


def test_a_window_without_a_model_input_is_refused_by_score_window(churn: Churn) -> None:
    window = churn.window.drop(columns=["age"])
    with pytest.raises(DataError) as caught:
        score_window(window, spec=SPEC, scorer=churn.scorer)
    message = str(caught.value)
    assert message.startswith(f"{churn.scorer.model_uri}: the model needs column(s) age ")
    assert "\n" not in message


# -- the model's files -------------------------------------------------------------------------


def test_model_inputs_are_the_signature_names_in_order(churn: Churn) -> None:
    assert model_inputs(churn.model_dir) == FEATURES


def test_check_scorable_names_the_missing_columns_in_one_line(churn: Churn) -> None:
    columns = [c for c in churn.window.columns if c not in ("age", "region")]
    with pytest.raises(DataError) as caught:
        check_scorable(SPEC, columns=columns, model_dir=churn.model_dir, source="w.parquet")
    assert str(caught.value) == (
        "w.parquet: the model needs column(s) age, region to score the window; not found "
        f"(found: {', '.join(columns)})"
    )
    check_scorable(SPEC, columns=list(churn.window.columns), model_dir=churn.model_dir, source="w")


def test_a_long_list_of_found_columns_is_shortened(churn: Churn) -> None:
    columns = [f"column_{i}" for i in range(40)]
    with pytest.raises(DataError) as caught:
        check_scorable(SPEC, columns=columns, model_dir=churn.model_dir, source="w.csv")
    message = str(caught.value)
    assert "column_11, +28 more)" in message and "column_12" not in message
    assert "needs column(s) tenure_months, monthly_charges, support_calls, age, contract" in message


def test_a_model_without_signature_needs_the_spec_features(tmp_path: Path) -> None:
    model_dir = save_pyfunc(KnownOutputs("labels"), tmp_path / "bare", example=None)
    assert model_inputs(model_dir) is None
    spec = _binary(prediction="prediction", numerical=INPUTS)
    with pytest.raises(DataError, match=r"needs column\(s\) support_calls to score"):
        check_scorable(spec, columns=["monthly_charges"], model_dir=model_dir, source="w")
    check_scorable(spec, columns=[*INPUTS, "other"], model_dir=model_dir, source="w")

    window = make_churn(50, seed=3)
    out, _ = score_window(window, spec=spec, scorer=load_scorer(model_dir, model_uri="bare"))
    assert (out["prediction"] == (churn_like_score(window) >= 0.5)).all()


def test_an_unknown_version_is_one_registry_error_line(churn: Churn, store: Store) -> None:
    saved = (mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI"))
    for uri, said in (
        ("models:/churn/99", "Model Version (name=churn, version=99) not found"),
        ("models:/nobody/1", "Registered Model with name=nobody not found"),
        ("models:/churn@champion", "alias champion not found"),
    ):
        with pytest.raises(RegistryError) as caught:
            download_model(uri, tracking_uri=store.tracking_uri, dst=store.root / "unknown")
        message = str(caught.value)
        assert message.startswith(f"{uri}: not found in the registry at {store.tracking_uri}")
        assert said in message and "\n" not in message
    assert (mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI")) == saved


def test_a_folder_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"no MLmodel file \(not an MLflow model\)"):
        load_scorer(tmp_path, model_uri="models:/x/1")


# -- pyfunc models -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def named_outputs(store: Store) -> Scorer:
    example = make_churn(5, seed=2)[INPUTS]
    version = log_pyfunc(
        KnownOutputs("frame"), "named", tracking_uri=store.tracking_uri,
        artifact_root=store.root / "pyfunc", example=example,
    )  # fmt: skip
    uri = f"models:/named/{version}"
    model_dir = download_model(uri, tracking_uri=store.tracking_uri, dst=store.root / "named")
    return load_scorer(model_dir, model_uri=uri)


def test_a_pyfunc_dataframe_maps_by_column_name(named_outputs: Scorer) -> None:
    assert named_outputs.method == PYFUNC_METHOD
    assert named_outputs.inputs == tuple(INPUTS)
    window = make_churn(300, seed=4)
    out, record = score_window(window, spec=SPEC, scorer=named_outputs)
    expected = churn_like_score(window)
    np.testing.assert_allclose(out["churn_score"], expected, rtol=0, atol=1e-12)
    assert (out["prediction"] == (expected >= 0.5)).all()
    assert "extra" not in out.columns
    assert record is not None and record.method == PYFUNC_METHOD


def _known(kind: str, folder: Path) -> Scorer:
    example = make_churn(5, seed=2)[INPUTS]
    model_dir = save_pyfunc(KnownOutputs(kind), folder / kind, example=example)
    return load_scorer(model_dir, model_uri=f"models:/{kind}/1")


def test_a_pyfunc_array_maps_to_the_prediction_or_the_score(tmp_path: Path) -> None:
    window = make_churn(200, seed=5)
    expected = churn_like_score(window)
    labels_only = _binary(prediction="prediction", numerical=INPUTS)
    score_only = _binary(score="churn_score", numerical=INPUTS)

    out, _ = score_window(window, spec=labels_only, scorer=_known("labels", tmp_path))
    assert (out["prediction"] == (expected >= 0.5)).all()
    out, _ = score_window(window, spec=score_only, scorer=_known("scores", tmp_path))
    np.testing.assert_allclose(out["churn_score"], expected, rtol=0, atol=1e-12)
    out, _ = score_window(window, spec=score_only, scorer=_known("pairs", tmp_path))
    np.testing.assert_allclose(out["churn_score"], expected, rtol=0, atol=1e-12)


def test_a_label_only_model_cannot_fill_a_missing_score(tmp_path: Path) -> None:
    scorer = _known("labels", tmp_path)
    with pytest.raises(
        DataError, match=r"models:/labels/1 \(pyfunc.predict\) gives no churn_score"
    ):
        score_window(make_churn(20, seed=5), spec=SPEC, scorer=scorer)


def test_a_model_that_fails_or_miscounts_is_one_data_error_line(tmp_path: Path) -> None:
    window = make_churn(20, seed=5)
    with pytest.raises(DataError) as caught:
        score_window(window, spec=SPEC, scorer=_known("fails", tmp_path))
    assert str(caught.value) == (
        "models:/fails/1: the model failed scoring a batch of 20 rows: ValueError: the model "
        "broke on purpose"
    )
    spec = _binary(prediction="prediction", numerical=INPUTS)
    with pytest.raises(DataError, match=r"returned 19 values for prediction on a batch of 20"):
        score_window(window, spec=spec, scorer=_known("short", tmp_path))


# -- regression and multiclass sklearn models ---------------------------------------------------


def _register(store: Store, model: Any, name: str, example: pd.DataFrame) -> Scorer:
    version = register_sklearn_model(
        model, name, tracking_uri=store.tracking_uri, example=example,
        artifact_root=store.root / "artifacts",
    )  # fmt: skip
    uri = f"models:/{name}/{version}"
    return load_scorer(
        download_model(uri, tracking_uri=store.tracking_uri, dst=store.root / name), model_uri=uri
    )


def test_a_regression_model_fills_the_prediction(store: Store) -> None:
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"x1": rng.normal(size=400), "x2": rng.uniform(size=400)})
    frame["y"] = 3 * frame["x1"] - 2 * frame["x2"] + rng.normal(0, 0.1, 400)
    model = LinearRegression().fit(frame[["x1", "x2"]], frame["y"])
    scorer = _register(store, model, "regression", frame[["x1", "x2"]].head(5))
    spec = parse_spec(
        {"task": "regression", "columns": {"target": "y", "prediction": "y_hat",
                                           "numerical": ["x1", "x2"]}}
    )  # fmt: skip
    window = frame.assign(y_hat=np.nan)
    window.loc[::2, "y_hat"] = 99.0

    out, record = score_window(window, spec=spec, scorer=scorer)

    assert scorer.method == PYFUNC_METHOD  # no predict_proba: pyfunc's predict is the value
    holes = window.index[1::2]
    np.testing.assert_allclose(
        out.loc[holes, "y_hat"], model.predict(frame.loc[holes, ["x1", "x2"]]), rtol=1e-12
    )
    assert (out.loc[window.index[::2], "y_hat"] == 99.0).all()
    assert record is not None and dict(record.columns) == {"y_hat": 200}


def test_a_multiclass_model_fills_probabilities_in_class_order(store: Store) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(12)
    frame = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    frame["animal"] = np.select(
        [frame["a"] > 0.5, frame["b"] > 0.3], ["dog", "bird"], default="cat"
    )
    model = LogisticRegression().fit(frame[["a", "b"]], frame["animal"])
    assert list(model.classes_) == ["bird", "cat", "dog"]
    scorer = _register(store, model, "animals", frame[["a", "b"]].head(5))
    assert scorer.method == SKLEARN_METHOD and scorer.classes == ("bird", "cat", "dog")
    proba = model.predict_proba(frame[["a", "b"]])

    def spec(probabilities: list[str]) -> MonitorSpec:
        return parse_spec(
            {"task": "multiclass_classification", "columns": {
                "target": "animal", "prediction": "label", "probabilities": probabilities,
                "numerical": ["a", "b"]}}
        )  # fmt: skip

    named, _ = score_window(frame, spec=spec(["p_dog", "p_bird", "p_cat"]), scorer=scorer)
    for column, index in (("p_dog", 2), ("p_bird", 0), ("p_cat", 1)):
        np.testing.assert_allclose(named[column], proba[:, index], rtol=0, atol=1e-12)
    assert (named["label"] == model.predict(frame[["a", "b"]])).all()

    ordered, _ = score_window(frame, spec=spec(["first", "second", "third"]), scorer=scorer)
    np.testing.assert_allclose(ordered[["first", "second", "third"]], proba, rtol=0, atol=1e-12)

    with pytest.raises(DataError, match=r"names 2 columns but the model has 3 classes"):
        score_window(frame, spec=spec(["p_dog", "p_cat"]), scorer=scorer)


# -- what the spec expects ----------------------------------------------------------------------


def test_output_columns_and_missing_outputs() -> None:
    spec = parse_spec(
        {"task": "multiclass_classification", "columns": {
            "prediction": "label", "probabilities": ["p_a", "p_b"], "numerical": ["x"]}}
    )  # fmt: skip
    assert output_columns(SPEC) == ["prediction", "churn_score"]
    assert output_columns(spec) == ["label", "p_a", "p_b"]
    frame = pd.DataFrame({"x": [1, 2, 3], "label": ["a", None, "b"], "p_a": [0.1, np.nan, None]})
    assert missing_outputs(spec, frame) == {"label": 1, "p_a": 2, "p_b": 3}


def test_a_tuned_threshold_keeps_its_own_predict(store: Store) -> None:
    """The argmax shortcut (one pipeline pass) only where predict agrees with it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import FixedThresholdClassifier

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x1": rng.normal(size=600), "x2": rng.normal(size=600)})
    frame["y"] = (frame["x1"] + rng.normal(0, 1, 600) > 0).astype(int)
    plain = LogisticRegression().fit(frame[["x1", "x2"]], frame["y"])
    tuned = FixedThresholdClassifier(LogisticRegression(), threshold=0.8)
    tuned.fit(frame[["x1", "x2"]], frame["y"])
    spec = _binary(prediction="p", score="s", numerical=["x1", "x2"])
    for name, model in (("plain-threshold", plain), ("tuned-threshold", tuned)):
        scorer = _register(store, model, name, frame[["x1", "x2"]].head(5))
        out, record = score_window(frame[["x1", "x2"]], spec=spec, scorer=scorer)
        assert record is not None and record.rows_scored == 600
        np.testing.assert_array_equal(out["p"].to_numpy(), model.predict(frame[["x1", "x2"]]))
    assert (out["p"] == 1).mean() < (out["s"] >= 0.5).mean()  # the tuned one predicts fewer
