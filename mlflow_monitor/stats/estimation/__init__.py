"""Performance estimated before the labels arrive: CBPE (classification) and DLE (regression).

Labels often come days or months after the predictions. Confidence-based performance
estimation (CBPE) estimates a classifier's metrics for a window from its scores alone: a
calibrator fitted on the labelled reference turns scores into probabilities, and the window's
expected confusion matrix follows from those probabilities and the window's decisions. Direct
loss estimation (DLE) does the same for a regressor with models of its error. Both assume the
relation between what the model sees and the label does not change (covariate shift only);
each estimate therefore carries assumption checks (``coverage_share``,
``reference_calibration_error``, ``trustworthy``, ``notes``), and every metric an interval for
the realized value of the window (``EstimatedMetric``). When the labels come, the realized
metrics (``stats.performance``) check the estimate.

Modules: ``calibration`` (``Calibrator``, ``fit_calibrator``: isotonic, stored as numbers),
``classification`` (``estimate_binary``, ``estimate_multiclass``, ``binary_decisions``),
``groups`` (``fit_group_calibration``, ``estimate_groups``: per group with reliability),
``regression`` (``fit_loss_model``, ``estimate_regression``), ``results`` (the returned types,
each with ``to_dict``/``from_dict``).

Tolerances measured (``tests/stats/test_estimation.py``, ``benchmarks/README.md``):

- parity with NannyML 0.13's CBPE on 7 data sets (our seeded covariate-shift set and its
  calibrated twin, the demo churn data, NannyML's car loan, work-from-home and multiclass sets,
  the US census Massachusetts employment data): every estimated metric of every chunk within
  1e-6 of NannyML's (asserted at 0.01; binary ROC AUC differs by NannyML's rounding of its
  cumulative counts to 5 decimals, ~1e-9; multiclass ROC AUC ~1e-6 from the order of tied
  scores; the other metrics ~1e-16), and the same calibrate-or-not decision on all 9 scores;
- accuracy on seeded covariate shift with known truth (50 windows of 10,000 rows): median
  absolute error of ROC AUC 0.0042 and F1 0.0027 (asserted <= 0.02), per-group FNR 0.002-0.006
  for the reliable groups with their own calibration (0.009-0.032 with the overall calibrator);
- intervals: coverage of the realized metric at the stated level when calibration holds
  (seeded simulation: 0.937-0.952 for 95 % intervals; asserted between 0.90 and 0.99);
- speed: a 1,000,000-row window (calibration, expected confusion, six metrics with intervals,
  coverage) in 0.055 s on this 2-core machine (load 2.2; 0.22 s at load 2.7); NannyML's
  ``CBPE.fit`` + ``estimate`` on the same data 1.38 s (one chunk) and 2.88 s (100 chunks):
  25x and 34x our window estimate, 3.0x and 5.4x when our calibrator's fit (0.41 s on 100,000
  rows, once per baseline) is counted too (``benchmarks/bench_cbpe.py``).

Why written here: NannyML cannot be a dependency. Its pins would cap every user's plotly
(< 6), LightGBM (< 4.6), matplotlib, seaborn, kaleido and pyfiglet; it brings about 30 packages
(cloud storage SDKs, FLAML, xgboost with a CUDA collective library), sends usage statistics to
a remote service unless ``NML_DISABLE_USAGE_LOGGING`` is set, and imports statsmodels without
declaring it (``benchmarks/nannyml/requirements.txt`` is its working set). The part needed is
small (isotonic calibration from scikit-learn, sums of probabilities, one
sort for ROC AUC), and owning it gives stored calibrators (JSON, not pickles), intervals for
the realized metric, per-group reliability and the assumption checks NannyML does not have.
Pure computation: numpy, pandas and scikit-learn, no I/O.
"""

from mlflow_monitor.stats.estimation.calibration import Calibrator, fit_calibrator
from mlflow_monitor.stats.estimation.classification import (
    Checks,
    binary_decisions,
    estimate_binary,
    estimate_multiclass,
    fit_multiclass_calibrators,
)
from mlflow_monitor.stats.estimation.groups import (
    GroupCalibration,
    GroupEstimate,
    GroupReference,
    estimate_groups,
    fit_group_calibration,
)
from mlflow_monitor.stats.estimation.regression import (
    LossModel,
    estimate_regression,
    fit_loss_model,
)
from mlflow_monitor.stats.estimation.results import EstimatedMetric, PerformanceEstimate

__all__ = [
    "Calibrator",
    "Checks",
    "EstimatedMetric",
    "GroupCalibration",
    "GroupEstimate",
    "GroupReference",
    "LossModel",
    "PerformanceEstimate",
    "binary_decisions",
    "estimate_binary",
    "estimate_groups",
    "estimate_multiclass",
    "estimate_regression",
    "fit_calibrator",
    "fit_group_calibration",
    "fit_loss_model",
    "fit_multiclass_calibrators",
]
