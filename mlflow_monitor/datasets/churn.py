"""Synthetic churn data: customers, a classifier, and three windows whose health is known.

Synthetic customers are generated from one known churn mechanism, so what each window should show
is known in advance: the *stable* window comes from the reference distribution (healthy); the
*drifted* window moves prices, contracts and tenure but keeps the mechanism, so the features drift
while the model still ranks customers well (warning); the *degraded* window keeps the inputs but
changes the mechanism (support calls stop mattering, a new price sensitivity appears), so
performance falls (critical). A protected attribute (``gender``) is drawn independently of
everything else, so the fairness audit (four-fifths rule) has something real to check and passes.

Every generator is seeded: the same arguments give the same rows, in any process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

__all__ = [
    "CATEGORICAL",
    "CHURN_SPEC",
    "MODEL_NAME",
    "NUMERICAL",
    "PROTECTED",
    "START",
    "WindowPlan",
    "churn_spec_yaml",
    "demo_windows",
    "make_churn",
    "score",
    "train_churn_model",
]

MODEL_NAME = "churn-classifier"
NUMERICAL = ["tenure_months", "monthly_charges", "support_calls", "age"]
CATEGORICAL = ["contract", "payment_method", "region"]
_CONTRACTS = ["month-to-month", "one-year", "two-year"]
_PAYMENTS = ["card", "bank-transfer", "e-check", "mailed-check"]
_REGIONS = ["north", "south", "east", "west"]
PROTECTED = "gender"  # not a model input and not in the churn mechanism: no bias injected
_GENDERS = ["female", "male"]
START = datetime(2025, 1, 6, tzinfo=timezone.utc)

CHURN_SPEC = """\
# monitor.yaml for the demo churn classifier (see `mlflow-monitor init` for a commented one).
model: {model}
task: binary_classification
positive_label: 1
columns:
  id: customer_id
  timestamp: event_time
  target: churned
  prediction: prediction
  score: churn_score
  numerical: [tenure_months, monthly_charges, support_calls, age]
  categorical: [contract, payment_method, region]
  segments: [region, contract]
  protected: [gender]
drift:
  share_warning: 0.25
  share_critical: 0.75
performance:
  checks:
    - {{metric: roc_auc, max_drop: 0.05, severity: critical}}
    - {{metric: recall, max_drop: 0.15, severity: critical}}
    - {{metric: f1, max_drop: 0.08, severity: warning}}
segments:
  min_size: 200
  metric: roc_auc
  max_drop: 0.12
fairness:
  policies: [four_fifths_rule]
sampling:
  report_rows: 2000
notebooks:
  timeout_seconds: 600
card: card.yaml
"""


def churn_spec_yaml(model: str = MODEL_NAME) -> str:
    """The churn ``monitor.yaml`` text for ``model`` (it names ``card: card.yaml`` beside it)."""
    return CHURN_SPEC.format(model=model)


@dataclass(frozen=True)
class WindowPlan:
    """One demo window: its name, data shift, and the health it is expected to get."""

    name: str
    drift: float
    decay: float
    expected: str
    start: datetime


def make_churn(
    rows: int,
    *,
    seed: int,
    drift: float = 0.0,
    decay: float = 0.0,
    start: datetime = START,
    days: float = 7.0,
) -> pd.DataFrame:
    """Synthetic customers with a ``churned`` label.

    ``drift`` (0..1) shifts the inputs (higher prices, more monthly contracts, shorter tenure);
    ``decay`` (0..1) blends in a different churn mechanism the model never saw.
    """
    rng = np.random.default_rng(seed)
    contract = rng.choice(_CONTRACTS, rows, p=_mix([0.5, 0.3, 0.2], [0.85, 0.1, 0.05], drift))
    tenure = rng.gamma(2.0, 14.0 * (1 - 0.45 * drift), rows).clip(0, 72).round()
    charges = rng.normal(70 + 25 * drift, 20, rows).clip(18, 160).round(2)
    calls = rng.poisson(1.5, rows)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(rows, dtype=np.int64) + seed * 1_000_000,
            "event_time": start + pd.to_timedelta(rng.uniform(0, days * 86400, rows), unit="s"),
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_calls": calls,
            "age": rng.integers(18, 80, rows),
            "contract": contract,
            "payment_method": rng.choice(_PAYMENTS, rows, p=[0.35, 0.25, 0.3, 0.1]),
            "region": rng.choice(_REGIONS, rows, p=[0.3, 0.3, 0.2, 0.2]),
        }
    )
    logit = (1 - decay) * _mechanism(frame) + decay * _new_mechanism(frame, rng)
    frame["churned"] = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    frame[PROTECTED] = rng.choice(_GENDERS, rows)  # drawn last: the other columns stay as they were
    return frame.sort_values("event_time", ignore_index=True)


def _mix(base: list[float], shifted: list[float], weight: float) -> list[float]:
    return [(1 - weight) * b + weight * s for b, s in zip(base, shifted, strict=True)]


def _mechanism(frame: pd.DataFrame) -> np.ndarray:
    monthly = (frame["contract"] == "month-to-month").to_numpy(dtype=float)
    echeck = (frame["payment_method"] == "e-check").to_numpy(dtype=float)
    return np.asarray(
        -1.6
        + 1.4 * monthly
        - 0.05 * frame["tenure_months"]
        + 0.02 * frame["monthly_charges"]
        + 0.45 * frame["support_calls"]
        + 0.5 * echeck
        - 0.4,
        dtype=float,
    )


def _new_mechanism(frame: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """What churn depends on after the market changed: age and noise, not the model's signals."""
    return np.asarray(
        -1.2 + 0.03 * (frame["age"] - 50) + rng.normal(0, 1.2, len(frame)), dtype=float
    )


def train_churn_model(frame: pd.DataFrame) -> object:
    """A scikit-learn pipeline (one-hot + gradient boosting) fitted on ``frame``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)], remainder="passthrough"
    )
    model = Pipeline(
        [
            ("encode", encode),
            (
                "model",
                HistGradientBoostingClassifier(max_iter=120, learning_rate=0.08, random_state=0),
            ),
        ]
    )
    model.fit(frame[NUMERICAL + CATEGORICAL], frame["churned"])
    return model


def score(model: object, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the model's ``churn_score`` (probability) and ``prediction`` (0/1) added."""
    proba = model.predict_proba(frame[NUMERICAL + CATEGORICAL])[:, 1]  # type: ignore[attr-defined]
    out = frame.copy()
    out["churn_score"] = proba
    out["prediction"] = (proba >= 0.5).astype(np.int64)
    return out


def demo_windows(
    rows: int = 4000, *, start: datetime = START
) -> list[tuple[WindowPlan, pd.DataFrame]]:
    """The three demo windows, a week each, with their data (unscored).

    ``stable`` (expected healthy), ``drifted`` (warning) and ``degraded`` (critical), starting
    one, two and three weeks after ``start``; each ``WindowPlan`` carries its expected health.
    The data depend on the seeds only: another ``start`` moves the timestamps, nothing else.
    """
    plans = [
        WindowPlan("stable", 0.0, 0.0, "healthy", start + timedelta(days=7)),
        WindowPlan("drifted", 0.7, 0.0, "warning", start + timedelta(days=14)),
        WindowPlan("degraded", 0.0, 0.85, "critical", start + timedelta(days=21)),
    ]
    return [
        (p, make_churn(rows, seed=100 + i, drift=p.drift, decay=p.decay, start=p.start))
        for i, p in enumerate(plans)
    ]
