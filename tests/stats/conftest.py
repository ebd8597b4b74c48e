"""Small, seeded frames for the statistics tests.

``make_pair(rows, shift)`` gives a reference and a current frame with one column of each kind
the drift selection distinguishes: continuous (``normal``, ``skewed``), a 5-valued numerical
``rating``, a binary ``flag``, a categorical ``city`` (8 levels) and a binary ``target``.
``shift`` moves the current window (0 = same law, 0.5 = clear drift).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

NUMERICAL = ["normal", "skewed", "rating", "flag"]
CATEGORICAL = ["city", "target"]
CITIES = np.array([f"city_{i}" for i in range(8)], dtype=object)


def make_frame(rows: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    city_weights = 1.0 / np.arange(1, 9) ** (0.7 + shift)
    rating_weights = (
        np.array([0.1, 0.2, 0.3, 0.25, 0.15]) + np.array([0.1, 0.05, 0, -0.05, -0.1]) * shift
    )
    return pd.DataFrame(
        {
            "normal": rng.normal(shift, 1.0, rows),
            "skewed": rng.lognormal(0.0, 0.8, rows) * (1.0 + shift),
            "rating": rng.choice(
                np.arange(1.0, 6.0), rows, p=rating_weights / rating_weights.sum()
            ),
            "flag": (rng.random(rows) < 0.3 + 0.2 * shift).astype(np.int64),
            "city": CITIES[rng.choice(8, rows, p=city_weights / city_weights.sum())],
            "target": np.where(rng.random(rows) < 0.4 + 0.1 * shift, "yes", "no"),
        }
    )


def make_pair(rows: int, shift: float, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_frame(rows, 0.0, seed), make_frame(rows, shift, seed + 1)


@pytest.fixture
def pair_factory() -> Callable[..., tuple[pd.DataFrame, pd.DataFrame]]:
    return make_pair
