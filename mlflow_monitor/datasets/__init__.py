"""Synthetic data for examples and tests.

``churn``: customers of a subscription business with a known churn mechanism, a scikit-learn
model to score them, and three weekly windows whose health is known in advance (stable ->
healthy, drifted -> warning, degraded -> critical), plus the spec that monitors them.

This package sits in the bottom layer: it imports nothing else from ``mlflow_monitor``.
"""

from __future__ import annotations

from mlflow_monitor.datasets.churn import (
    CATEGORICAL,
    CHURN_SPEC,
    MODEL_NAME,
    NUMERICAL,
    PROTECTED,
    START,
    WindowPlan,
    churn_spec_yaml,
    demo_windows,
    make_churn,
    score,
    train_churn_model,
)

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
