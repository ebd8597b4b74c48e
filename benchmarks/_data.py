"""Synthetic monitoring data for the benchmarks (and any helper that needs realistic frames).

``make_frames`` returns a reference and a current frame with 15 numerical features
(``num_00`` .. ``num_14``: normal, log-normal, uniform, exponential, integer counts and a
5-valued rating), 5 categorical features (``cat_0`` .. ``cat_4``, 3 to 200 levels), a binary
``target``, a ``score`` (probability of class 1) and a ``prediction`` (score >= 0.5).
``drift`` in [0, 1] shifts the current window: numerical means move by up to ``drift`` standard
deviations, category shares tilt, and the score's relation to the target weakens.
``iter_frames`` yields the same kind of data chunk by chunk, for windows larger than memory.
Everything is vectorized and seeded, so a size and seed always give the same frames.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

__all__ = [
    "CATEGORICAL",
    "NUMERICAL",
    "iter_frames",
    "make_frame",
    "make_frames",
]

NUMERICAL: list[str] = [f"num_{i:02d}" for i in range(15)]
CATEGORICAL: list[str] = [f"cat_{i}" for i in range(5)]
_LEVELS = (3, 8, 20, 50, 200)


def make_frames(
    n_reference: int, n_current: int, seed: int = 0, drift: float = 0.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, current) frames; the current window carries ``drift`` (0 = same law)."""
    reference = make_frame(n_reference, seed=seed, drift=0.0)
    current = make_frame(n_current, seed=seed + 1, drift=drift)
    return reference, current


def iter_frames(
    n_rows: int, chunk_rows: int, seed: int = 0, drift: float = 0.0
) -> Iterator[pd.DataFrame]:
    """``n_rows`` rows in frames of at most ``chunk_rows`` rows (each chunk its own seed)."""
    for index, start in enumerate(range(0, n_rows, chunk_rows)):
        size = min(chunk_rows, n_rows - start)
        yield make_frame(size, seed=seed * 1_000_003 + index, drift=drift)


def make_frame(n_rows: int, seed: int, drift: float) -> pd.DataFrame:
    """One frame of ``n_rows`` rows (see the module docstring for its columns)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    columns.update(_numerical(rng, n_rows, drift))
    columns.update(_categorical(rng, n_rows, drift))
    frame = pd.DataFrame(columns)
    frame["target"], frame["score"], frame["prediction"] = _labels(rng, frame, drift)
    return frame


def _numerical(rng: np.random.Generator, n: int, drift: float) -> dict[str, np.ndarray]:
    shift = drift  # in units of each feature's standard deviation
    out: dict[str, np.ndarray] = {}
    for i in range(5):
        out[f"num_{i:02d}"] = rng.normal(10.0 * i, 1.0 + i, n) + shift * (1.0 + i)
    for i in range(5, 8):
        out[f"num_{i:02d}"] = rng.lognormal(0.5, 0.5 + 0.1 * i, n) * (1.0 + 0.5 * shift)
    for i in range(8, 10):
        out[f"num_{i:02d}"] = rng.uniform(0.0, 100.0, n) + 29.0 * shift
    for i in range(10, 12):
        out[f"num_{i:02d}"] = rng.exponential(2.0 + i, n) * (1.0 + shift)
    out["num_12"] = rng.poisson(3.0 + 2.0 * shift, n).astype(np.float64)
    out["num_13"] = rng.poisson(40.0 * (1.0 + 0.2 * shift), n).astype(np.float64)
    ratings = np.array([0.1, 0.2, 0.3, 0.25, 0.15]) + np.array([0.1, 0.05, 0, -0.05, -0.1]) * drift
    out["num_14"] = rng.choice(np.arange(1.0, 6.0), n, p=ratings / ratings.sum())
    return out


def _categorical(rng: np.random.Generator, n: int, drift: float) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for i, levels in enumerate(_LEVELS):
        names = np.array([f"c{i}_{j}" for j in range(levels)], dtype=object)
        weights = 1.0 / np.arange(1, levels + 1) ** (0.5 + 0.5 * drift)
        out[f"cat_{i}"] = names[rng.choice(levels, n, p=weights / weights.sum())]
    return out


def _labels(
    rng: np.random.Generator, frame: pd.DataFrame, drift: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    signal = (
        (frame["num_00"].to_numpy() - 0.0) * 0.8
        - (frame["num_01"].to_numpy() - 10.0) * 0.4
        + (frame["cat_0"].to_numpy() == "c0_0") * 0.7
        - 0.3
    )
    target = (rng.random(len(frame)) < 1.0 / (1.0 + np.exp(-signal))).astype(np.int64)
    noise = rng.normal(0.0, 0.5 + 1.5 * drift, len(frame))
    score = 1.0 / (1.0 + np.exp(-(signal + noise)))
    return target, score, (score >= 0.5).astype(np.int64)
