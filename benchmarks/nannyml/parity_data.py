"""Data for the CBPE parity and accuracy checks that our own seeded code makes.

``shift_frame(rows, shift, seed)``: a binary task with a known covariate shift and known truth.
Features ``x1`` (normal, mean ``shift``), ``x2`` (normal, mean ``-shift / 2``), ``x3`` (uniform
on [-1, 1 + shift]) and a group (``A`` 55 %, ``B`` 30 %, ``C`` 13 %, ``D`` 2 %, independent of
the features). True log-odds ``-1 + 1.2 x1 - 0.8 x2 + 0.6 x3^2 + offset[group]`` (offsets 0,
+0.6, -0.6, +0.9); the model's ``score`` is ``sigmoid(1.6 (log-odds - offset) + 0.4)``: it ranks
well, is over-confident (calibration is needed) and ignores the group (globally calibrated
scores are miscalibrated within B, C and D). ``truth`` is the true probability, ``target`` a
draw from it, ``prediction`` is ``score >= 0.5``. Only the features move with ``shift``, so
P(target | score) does not change: CBPE's assumption holds overall; within a group it holds for
the group's own calibration.

``churn_frames()``: the demo churn data (``mlflow_monitor.datasets.churn``): a model trained on
20,000 customers, a 20,000-row reference and four 5,000-row windows (stable, drift 0.35 and
0.7, a changed mechanism ``decay`` 0.85, which breaks CBPE's assumption on purpose).

``calibrated_parity_frame()``: the same task with the true probability as the score, so
NannyML's check finds calibration does not help (the branch where scores are used as they are).

``python -m benchmarks.nannyml.parity_data`` writes ``data/churn.parquet`` (committed: the
churn model is a gradient-boosted tree, whose scores may change with scikit-learn's version)
and ``shift.parquet``, ``calibrated.parquet`` into ``--scratch`` (not committed:
``tests/stats/test_estimation.py`` regenerates them and checks their checksums against the
ones NannyML's script recorded).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DATA",
    "GROUP_OFFSETS",
    "SHIFTS",
    "SHIFT_CHUNK",
    "churn_frames",
    "load",
    "shift_frame",
    "shift_parity_frame",
]

DATA = Path(__file__).with_name("data")
GROUPS = np.array(["A", "B", "C", "D"], dtype=object)
GROUP_SHARES = np.array([0.55, 0.30, 0.13, 0.02])
GROUP_OFFSETS = {"A": 0.0, "B": 0.6, "C": -0.6, "D": 0.9}
SHIFTS = (0.0, 0.3, 0.6, 0.9, 1.2, 1.5)
SHIFT_CHUNK = 5_000
SHIFT_REFERENCE = 20_000


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def shift_frame(rows: int, shift: float, seed: int) -> pd.DataFrame:
    """``rows`` rows of the covariate-shift task at ``shift`` (module docstring)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, rows)
    x2 = rng.normal(-shift / 2, 1.0, rows)
    x3 = rng.uniform(-1.0, 1.0 + shift, rows)
    group = GROUPS[rng.choice(len(GROUPS), rows, p=GROUP_SHARES)]
    offset = np.array([GROUP_OFFSETS[g] for g in GROUPS])[np.searchsorted(GROUPS, group)]
    base = -1.0 + 1.2 * x1 - 0.8 * x2 + 0.6 * x3**2
    truth = _sigmoid(base + offset)
    score = _sigmoid(1.6 * base + 0.4)
    target = (rng.random(rows) < truth).astype(np.int64)
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "x3": x3,
            "group": group,
            "truth": truth,
            "score": score,
            "prediction": (score >= 0.5).astype(np.int64),
            "target": target,
        }
    )


def shift_parity_frame() -> pd.DataFrame:
    """The parity set: a 20,000-row reference, then one 5,000-row chunk per ``SHIFTS`` value."""
    parts = [shift_frame(SHIFT_REFERENCE, 0.0, seed=2024).assign(period="reference")]
    for i, shift in enumerate(SHIFTS):
        parts.append(shift_frame(SHIFT_CHUNK, shift, seed=3000 + i).assign(period="analysis"))
    return pd.concat(parts, ignore_index=True)[
        ["period", "score", "prediction", "target", "group"]
    ]


def calibrated_parity_frame() -> pd.DataFrame:
    """As ``shift_parity_frame`` with the true probability as the score (calibrated already)."""
    parts = [shift_frame(SHIFT_REFERENCE, 0.0, seed=4024).assign(period="reference")]
    for i, shift in enumerate(SHIFTS[::2]):
        parts.append(shift_frame(SHIFT_CHUNK, shift, seed=5000 + i).assign(period="analysis"))
    frame = pd.concat(parts, ignore_index=True)
    frame["score"] = frame["truth"]
    frame["prediction"] = (frame["truth"] >= 0.5).astype(np.int64)
    return frame[["period", "score", "prediction", "target", "group"]]


def churn_frames() -> pd.DataFrame:
    """The churn parity set: reference then four 5,000-row windows (module docstring)."""
    from mlflow_monitor.datasets import churn

    model = churn.train_churn_model(churn.make_churn(20_000, seed=10))
    parts = [churn.score(model, churn.make_churn(20_000, seed=11)).assign(period="reference")]
    plans = ((0.0, 0.0), (0.35, 0.0), (0.7, 0.0), (0.0, 0.85))
    for i, (drift, decay) in enumerate(plans):
        window = churn.make_churn(5_000, seed=12 + i, drift=drift, decay=decay)
        parts.append(churn.score(model, window).assign(period="analysis"))
    frame = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(
        {
            "period": frame["period"],
            "score": frame["churn_score"].to_numpy(),
            "prediction": frame["prediction"].to_numpy(),
            "target": frame["churned"].to_numpy(),
            "group": frame[churn.PROTECTED].to_numpy(),
        }
    )


def load(name: str) -> pd.DataFrame:
    """A parity set by name: ``shift`` regenerated, the others read from ``data/``."""
    if name == "shift":
        return shift_parity_frame()
    if name == "calibrated":
        return calibrated_parity_frame()
    return pd.read_parquet(DATA / f"{name}.parquet")


def checksum(frame: pd.DataFrame) -> float:
    """Sum of the score columns, rounded: tells whether two sides saw the same data."""
    columns = [c for c in frame.columns if c == "score" or c.startswith("proba_")]
    return round(float(frame[columns].to_numpy().sum()), 6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/cbpe-parity"))
    parser.add_argument("--skip-churn", action="store_true", help="keep data/churn.parquet")
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    shift_parity_frame().to_parquet(args.scratch / "shift.parquet", index=False)
    calibrated_parity_frame().to_parquet(args.scratch / "calibrated.parquet", index=False)
    if not args.skip_churn:
        churn_frames().to_parquet(DATA / "churn.parquet", index=False, compression="zstd")
    churn_note = "" if args.skip_churn else f" and {DATA / 'churn.parquet'}"
    print(f"wrote shift.parquet, calibrated.parquet in {args.scratch}{churn_note}")


if __name__ == "__main__":
    main()
