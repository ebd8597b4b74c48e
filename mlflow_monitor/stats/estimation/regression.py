"""DLE-style estimation of a regression model's MAE and RMSE before its labels arrive.

Direct loss estimation (NannyML's DLE, re-done with scikit-learn): on the reference, two
``HistGradientBoostingRegressor`` models learn the model's absolute error and squared error from
the features and the model's prediction; a window's MAE is then the mean predicted absolute
error and its RMSE the square root of the mean predicted squared error. Like CBPE it assumes
the error given the inputs does not change (covariate shift only).

Fitting (``fit_loss_model``): object, category and boolean columns are categorical features
(their 250 most frequent values, fixed at fit time; other values read as missing); the models are
first fitted on a seeded 80 % of the reference and judged on the other 20 % (the held-out
relative error of the estimated MAE, ``held_out_error``, and the factor ``kappa`` that relates
the spread of a squared error to its predicted value, ``Var(e^2 | x) ~ kappa x E[e^2 | x]^2``:
2 for normal errors of mean 0), then refitted on the whole reference. Differences from NannyML:
scikit-learn's gradient boosting instead of LightGBM, no hyper-parameter search, the 80/20
check; NannyML's DLE is not in the parity table (the brief's parity is for CBPE).

Interval: conditional on the window's inputs, each row's loss is an independent draw, so
``Var(MAE) = sum_i Var(|e_i| | x_i) / n^2`` with ``Var(|e| | x) = E[e^2 | x] - E[|e| | x]^2``
(both predicted), and ``Var(MSE) = kappa sum_i E[e_i^2 | x_i]^2 / n^2``, RMSE's by the delta
method (``SE(MSE) / (2 RMSE)``); normal, bounded below by 0.

Storage: a ``LossModel`` holds fitted scikit-learn estimators, so it is not JSON: persist it
with ``joblib.dump`` / ``pickle`` (scikit-learn's own advice: load only files you wrote, with the
same scikit-learn version) as an artifact beside the baseline; ``LossModel.summary()`` is the
JSON-safe part (columns, categories, ``kappa``, the held-out check) for the baseline JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from mlflow_monitor.errors import DataError
from mlflow_monitor.stats.estimation.results import PerformanceEstimate, normal_metric

__all__ = ["LossModel", "estimate_regression", "fit_loss_model"]

MAX_CATEGORIES = 250  # scikit-learn's gradient boosting takes at most 255 categories


@dataclass(frozen=True)
class LossModel:
    """Two fitted loss models and what they were fitted on (module docstring).

    ``columns`` the feature columns in order, ``categories`` the categories of each categorical
    column, ``kappa`` the squared error's spread factor, ``held_out_error`` the relative error
    of the estimated MAE on the held-out 20 %, ``reference_rows`` the rows fitted on,
    ``prediction_range`` the reference predictions' 0.5 % and 99.5 % quantiles.
    """

    absolute: HistGradientBoostingRegressor
    squared: HistGradientBoostingRegressor
    columns: tuple[str, ...]
    categories: dict[str, tuple[str, ...]]
    kappa: float
    held_out_error: float
    reference_rows: int
    prediction_range: tuple[float, float]
    seed: int = 0
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> dict[str, object]:
        """JSON-safe description (the estimators themselves are persisted with joblib)."""
        return {
            "columns": list(self.columns),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "kappa": self.kappa,
            "held_out_error": self.held_out_error,
            "reference_rows": self.reference_rows,
            "prediction_range": list(self.prediction_range),
            "seed": self.seed,
        }

    def predict(self, features: pd.DataFrame, predictions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Predicted absolute and squared error per row (clipped at 0; squared >= absolute^2)."""
        frame = _design(features, predictions, self.columns, self.categories)
        absolute = np.clip(self.absolute.predict(frame), 0.0, None)
        squared = np.clip(self.squared.predict(frame), 0.0, None)
        return absolute, np.maximum(squared, absolute * absolute)


def _predictions(values: object, length: int) -> np.ndarray:
    array = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values, dtype=float)
    if array.ndim != 1 or len(array) != length:
        raise DataError(f"predictions: expected {length} values, one per row")
    if not np.isfinite(array).all():
        raise DataError("predictions: missing or infinite values")
    return array


def _design(
    features: pd.DataFrame,
    predictions: np.ndarray,
    columns: Sequence[str],
    categories: dict[str, tuple[str, ...]],
) -> np.ndarray:
    """Numbers for the regressors: categories as their codes (others and missing: NaN)."""
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise DataError(f"features: columns {missing} missing (the loss model was fitted on them)")
    matrix = np.empty((len(features), len(columns) + 1))
    for j, column in enumerate(columns):
        values = features[column]
        if column in categories:
            codes = pd.Categorical(values.astype("string"), categories=list(categories[column]))
            matrix[:, j] = np.where(codes.codes < 0, np.nan, codes.codes)
        else:
            matrix[:, j] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    matrix[:, -1] = predictions
    return matrix


def _regressor(mask: list[bool], seed: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(categorical_features=mask, random_state=seed)


def _top_categories(values: pd.Series) -> tuple[str, ...]:
    """The (at most ``MAX_CATEGORIES``) most frequent values as text; the rest read as missing."""
    counts = values.dropna().astype(str).value_counts()
    return tuple(sorted(counts.index[:MAX_CATEGORIES]))


def fit_loss_model(
    *,
    features: pd.DataFrame,
    predictions: object,
    truth: object,
    seed: int = 0,
) -> LossModel:
    """Loss models of |error| and error^2 fitted on the reference (module docstring)."""
    if not isinstance(features, pd.DataFrame):
        raise DataError("features: expected a DataFrame")
    n = len(features)
    if n < 100:
        raise DataError(f"features: {n} reference rows; the loss model needs at least 100")
    prediction = _predictions(predictions, n)
    target = _predictions(truth, n)
    columns = tuple(str(c) for c in features.columns)
    categories = {
        str(c): _top_categories(features[c])
        for c in features.columns
        if not pd.api.types.is_numeric_dtype(features[c]) or features[c].dtype == bool
    }
    frame = _design(features.reset_index(drop=True), prediction, columns, categories)
    mask = [c in categories for c in columns] + [False]
    error = target - prediction
    order = np.random.default_rng(seed).permutation(n)
    train, test = order[: int(0.8 * n)], order[int(0.8 * n):]
    absolute = _regressor(mask, seed).fit(frame[train], np.abs(error[train]))
    squared = _regressor(mask, seed).fit(frame[train], error[train] ** 2)
    held_abs = np.clip(absolute.predict(frame[test]), 0.0, None)
    held_sq = np.maximum(np.clip(squared.predict(frame[test]), 0.0, None), held_abs**2)
    realized_mae = float(np.mean(np.abs(error[test])))
    held_out_error = abs(float(held_abs.mean()) - realized_mae) / max(realized_mae, 1e-12)
    spread = float(np.mean((error[test] ** 2 - held_sq) ** 2))
    kappa = spread / max(float(np.mean(held_sq**2)), 1e-300)
    low, high = np.quantile(prediction, [0.005, 0.995])
    return LossModel(
        absolute=_regressor(mask, seed).fit(frame, np.abs(error)),
        squared=_regressor(mask, seed).fit(frame, error**2),
        columns=columns,
        categories=categories,
        kappa=kappa,
        held_out_error=held_out_error,
        reference_rows=n,
        prediction_range=(float(low), float(high)),
        seed=seed,
    )


def estimate_regression(
    *,
    features: pd.DataFrame,
    predictions: object,
    loss_model: LossModel,
    level: float = 0.95,
    min_coverage: float = 0.9,
    max_held_out_error: float = 0.1,
) -> PerformanceEstimate:
    """Estimated MAE and RMSE of one window, with intervals (module docstring).

    ``coverage_share`` is the share of the window's predictions inside the reference's 0.5 %
    to 99.5 % prediction range; ``reference_calibration_error`` the loss model's held-out
    relative MAE error. ``trustworthy`` needs ``min_coverage`` and ``max_held_out_error``.
    """
    if not isinstance(features, pd.DataFrame):
        raise DataError("features: expected a DataFrame")
    n = len(features)
    if n == 0:
        return PerformanceEstimate("regression", 0, level, trustworthy=False, notes=("no rows",))
    prediction = _predictions(predictions, n)
    absolute, squared = loss_model.predict(features.reset_index(drop=True), prediction)
    mae = float(absolute.mean())
    mse = float(squared.mean())
    rmse = float(np.sqrt(mse))
    mae_variance = float(np.sum(squared - absolute * absolute)) / (n * n)
    mse_variance = loss_model.kappa * float(np.sum(squared * squared)) / (n * n)
    rmse_variance = mse_variance / (4 * mse) if mse > 0 else 0.0
    bounds = (0.0, float("inf"))
    metrics = {
        "mae": normal_metric("mae", mae, mae_variance, level=level, denominator=n,
                             method="loss_model_conditional", bounds=bounds),
        "rmse": normal_metric("rmse", rmse, rmse_variance, level=level, denominator=n,
                              method="loss_model_conditional_delta", bounds=bounds),
    }  # fmt: skip
    low, high = loss_model.prediction_range
    coverage = float(np.mean((prediction >= low) & (prediction <= high)))
    notes: list[str] = []
    if coverage < min_coverage:
        notes.append(
            f"only {coverage:.0%} of the window's predictions lie within the reference's "
            f"0.5-99.5 % range (needs {min_coverage:.0%})"
        )
    if loss_model.held_out_error > max_held_out_error:
        notes.append(
            f"the loss model missed the held-out reference MAE by "
            f"{loss_model.held_out_error:.0%} (above {max_held_out_error:.0%})"
        )
    return PerformanceEstimate(
        task="regression",
        rows=n,
        level=level,
        metrics=metrics,
        coverage_share=coverage,
        reference_calibration_error=loss_model.held_out_error,
        trustworthy=not notes,
        notes=tuple(notes),
    )
