"""The demo story: a churn classifier watched over three windows (stable, drifted, degraded).

Synthetic customers are generated from one known churn mechanism, so what each window should show
is known in advance: the *stable* window comes from the reference distribution (healthy); the
*drifted* window moves prices, contracts and tenure but keeps the mechanism, so the features drift
while the model still ranks customers well (warning); the *degraded* window keeps the inputs but
changes the mechanism (support calls stop mattering, a new price sensitivity appears), so
performance falls (critical). A protected attribute (``gender``) is drawn independently of
everything else, so the fairness audit (four-fifths rule) has something real to check and passes.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CHURN_SPEC",
    "PROTECTED",
    "WindowPlan",
    "demo_windows",
    "make_churn",
    "run_demo",
    "score",
    "train_churn_model",
    "write_demo_spec",
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


def demo_windows(rows: int = 4000) -> list[tuple[WindowPlan, pd.DataFrame]]:
    """The three demo windows, a week each, with their data (unscored)."""
    plans = [
        WindowPlan("stable", 0.0, 0.0, "healthy", START + timedelta(days=7)),
        WindowPlan("drifted", 0.7, 0.0, "warning", START + timedelta(days=14)),
        WindowPlan("degraded", 0.0, 0.85, "critical", START + timedelta(days=21)),
    ]
    return [
        (p, make_churn(rows, seed=100 + i, drift=p.drift, decay=p.decay, start=p.start))
        for i, p in enumerate(plans)
    ]


def write_demo_spec(path: Path, model: str = MODEL_NAME) -> Path:
    """Write the demo's ``monitor.yaml`` to ``path``, and the shipped ``card.yaml`` beside it."""
    from mlflow_monitor.resources import card_templates_dir

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CHURN_SPEC.format(model=model))
    shutil.copyfile(card_templates_dir() / "card.yaml", path.parent / "card.yaml")
    return path


def run_demo(
    directory: Path,
    *,
    rows: int = 4000,
    echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
    tracking_uri: str | None = None,
) -> str:
    """The whole story on MLflow; returns the tracking URI the results went to.

    The store is ``tracking_uri`` when given (the CLI passes ``$MLFLOW_TRACKING_URI``), else a
    SQLite store in ``directory``. The data and the spec are written to ``directory`` either way.
    """
    from mlflow_monitor.adapters.mlflow.models import register_sklearn_model
    from mlflow_monitor.workflows import monitor_window
    from mlflow_monitor.workflows.build_baseline import build_baseline_run

    directory = directory.resolve()
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    uri = tracking_uri or f"sqlite:///{directory / 'mlflow.db'}"
    spec_path = write_demo_spec(directory / "monitor.yaml")
    echo(f"[demo] MLflow store: {uri}")
    echo("[demo] training a churn classifier on 8,000 synthetic customers")
    train = make_churn(8000, seed=1, start=START - timedelta(days=28), days=21)
    model = train_churn_model(train)
    reference = score(model, make_churn(5000, seed=2, start=START))
    reference.to_parquet(data / "reference.parquet", index=False)
    version = register_sklearn_model(
        model,
        MODEL_NAME,
        tracking_uri=uri,
        example=reference[NUMERICAL + CATEGORICAL].head(5),
        artifact_root=_artifact_root(uri),
    )
    echo(f"[demo] registered {MODEL_NAME} version {version}")
    build_baseline_run(spec_path, version, data / "reference.parquet", tracking_uri=uri, echo=echo)
    for plan, frame in demo_windows(rows):
        path = data / f"window_{plan.name}.parquet"
        score(model, frame).to_parquet(path, index=False)
        result = monitor_window.run_window(
            spec_path,
            version,
            path,
            tracking_uri=uri,
            echo=echo,
            window_start=plan.start,
            window_end=plan.start + timedelta(days=7),
        )
        echo(f"[demo] window {plan.name}: health {result.health} (expected {plan.expected})")
    return uri


def _artifact_root(uri: str) -> Path | None:
    """Where the trained model's files go: beside a SQLite store (as the monitoring runs' go);
    a server or database store keeps its own artifact location."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database if database.is_absolute() else Path.cwd() / database).parent / "mlartifacts"
