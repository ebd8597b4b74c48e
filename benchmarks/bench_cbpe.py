"""CBPE (``stats.estimation``) against NannyML 0.13: speed, parity, accuracy, coverage.

    .venv/bin/python benchmarks/bench_cbpe.py --rows 1000000            # speed (+ NannyML)
    .venv/bin/python benchmarks/bench_cbpe.py --rows 1000000 --chunk-rows 10000
    .venv/bin/python benchmarks/bench_cbpe.py --parity --accuracy --coverage --dle

Speed: the seeded covariate-shift task (``benchmarks/nannyml/parity_data.py``), a 100,000-row
reference and a ``--rows`` window at shift 0.5. Ours, median of ``--repeats`` (3): fitting the
calibrator (NannyML's cross-validated check + isotonic fit), and the window's estimate
(calibration applied + expected confusion + six metrics with intervals + coverage). NannyML:
``CBPE.fit`` + ``estimate`` on the same two frames, the whole window as one chunk, run by
``/work/nannyml-venv/bin/python benchmarks/nannyml/nannyml_time.py`` (its own environment;
missing, the benchmark says how to make it and reports ours only). Ratios: NannyML's fit +
estimate over our estimate (our calibrator is fitted once, with the baseline, and stored; a
NannyML estimator is fitted in the process that estimates), fit + estimate over fit + estimate,
and estimate over estimate.

``--parity``: the parity table (data set x metric, max |ours - NannyML| over the chunks of
``benchmarks/nannyml/expected_cbpe.json``) and our standard error over NannyML's sampling error
(median per data set). ``--accuracy``: 50 windows of 10,000 rows at shifts 0..1.5 against the
realized metrics (median absolute error per metric; per-group FNR with group calibration and
with the overall calibrator only). ``--coverage``: how often the 95 % intervals hold the
realized metric: with the true probabilities (calibration holds; 1,000 label draws on one
5,000-row window; multiclass likewise) and with the isotonic calibrator fitted on a 50,000-row
reference (the 50 windows above: calibration error included). ``--dle``: the regression loss
model on a seeded heteroscedastic task, 20 shifted windows: relative error and coverage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as scistats
from sklearn import metrics as skm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.nannyml.parity_data import load, shift_frame
from mlflow_monitor.stats.estimation import (
    estimate_binary,
    estimate_groups,
    estimate_multiclass,
    fit_calibrator,
    fit_group_calibration,
    fit_multiclass_calibrators,
)

HERE = Path(__file__).resolve().parent
NANNYML_PYTHON = Path(os.environ.get("NANNYML_PYTHON", "/work/nannyml-venv/bin/python"))
METRICS = ("roc_auc", "f1", "precision", "recall", "specificity", "accuracy")
MAKE_VENV = (
    "python3 -m venv /work/nannyml-venv && "
    "/work/nannyml-venv/bin/pip install -r benchmarks/nannyml/requirements.txt"
)


def _median_time(func, repeats: int) -> tuple[float, list[float], object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def speed(rows: int, reference_rows: int, repeats: int, chunk_rows: int) -> None:
    print(f"uptime: {os.popen('uptime').read().strip()}")
    reference = shift_frame(reference_rows, 0.0, seed=1)
    window = shift_frame(rows, 0.5, seed=2)
    scores, decisions = window["score"].to_numpy(), window["prediction"].to_numpy() == 1
    fit, fit_times, calibrator = _median_time(
        lambda: fit_calibrator(scores=reference["score"], truth=reference["target"]), repeats
    )
    size = chunk_rows or rows
    chunks = [(scores[i : i + size], decisions[i : i + size]) for i in range(0, rows, size)]

    def estimate_window() -> object:
        results = [
            estimate_binary(scores=s, decisions=d, calibrator=calibrator) for s, d in chunks
        ]
        return results[0]

    estimate, estimate_times, result = _median_time(estimate_window, repeats)
    print(f"reference {reference_rows:,} rows, window {rows:,} rows in {len(chunks)} chunk(s)")
    print(f"ours: fit_calibrator       median {fit:6.3f} s  {_runs(fit_times)}")
    print(f"ours: estimate_binary      median {estimate:6.3f} s  {_runs(estimate_times)}")
    ours = {m: result.metrics[m].value for m in METRICS}  # type: ignore[attr-defined]
    if not NANNYML_PYTHON.exists():
        print(f"NannyML's environment is missing ({NANNYML_PYTHON}); make it with:\n  {MAKE_VENV}")
        return
    with tempfile.TemporaryDirectory() as folder:
        columns = ["score", "prediction", "target"]
        reference[columns].to_parquet(Path(folder) / "reference.parquet", index=False)
        window[columns].to_parquet(Path(folder) / "window.parquet", index=False)
        script = HERE / "nannyml" / "nannyml_time.py"
        started = time.perf_counter()
        completed = subprocess.run(
            [str(NANNYML_PYTHON), str(script), "--reference", f"{folder}/reference.parquet",
             "--window", f"{folder}/window.parquet", "--repeats", str(repeats),
             "--chunk-size", str(chunk_rows)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        wall = time.perf_counter() - started
    timing = json.loads(completed.stdout.strip().splitlines()[-1])
    totals = [f + e for f, e in zip(timing["fit"], timing["estimate"], strict=True)]
    nml_fit, nml_estimate = statistics.median(timing["fit"]), statistics.median(timing["estimate"])
    nml_total = statistics.median(totals)
    print(f"NannyML: CBPE.fit          median {nml_fit:6.3f} s  {_runs(timing['fit'])}")
    print(f"NannyML: CBPE.estimate     median {nml_estimate:6.3f} s  {_runs(timing['estimate'])}")
    print(f"NannyML: fit + estimate    median {nml_total:6.3f} s  (subprocess wall {wall:.1f} s)")
    print(f"ratio NannyML fit + estimate / our estimate (calibrator stored with the baseline): "
          f"{nml_total / estimate:6.1f}x")  # fmt: skip
    print(f"ratio NannyML / ours, fit + estimate: {nml_total / (fit + estimate):6.1f}x")
    print(f"ratio NannyML / ours, estimate only:  {nml_estimate / estimate:6.1f}x")
    worst = max(abs(ours[m] - timing["values"][m]) for m in METRICS)
    print(f"max |ours - NannyML| over the six metrics (first chunk): {worst:.2e}")


def _runs(times: list[float]) -> str:
    return "(" + " / ".join(f"{t:.3f}" for t in times) + ")"


def parity() -> None:
    expected = json.loads((HERE / "nannyml" / "expected_cbpe.json").read_text())["datasets"]
    print("| data set | chunks | " + " | ".join(METRICS) + " | our SE / NannyML's |")
    print("|---|---:|" + "---:|" * (len(METRICS) + 1))
    for name, dataset in expected.items():
        frame = load(name)
        reference = frame[frame["period"] == "reference"].reset_index(drop=True)
        analysis = frame[frame["period"] == "analysis"].reset_index(drop=True)
        worst = dict.fromkeys(METRICS, 0.0)
        ratios = []
        if dataset["problem"] == "binary":
            calibrator = fit_calibrator(scores=reference["score"], truth=reference["target"])
        else:
            classes = dataset["classes"]
            columns = [f"proba_{c}" for c in classes]
            calibrators = fit_multiclass_calibrators(
                probabilities=reference[columns], truth=reference["target"], classes=classes
            )
        for chunk in dataset["chunks"]:
            part = analysis.iloc[chunk["start"] : chunk["end"] + 1]
            if dataset["problem"] == "binary":
                result = estimate_binary(
                    scores=part["score"], decisions=part["prediction"].to_numpy() == 1,
                    calibrator=calibrator,
                )  # fmt: skip
            else:
                result = estimate_multiclass(
                    probabilities=part[columns], classes=classes,
                    predictions=part["prediction"], calibrators=calibrators,
                )  # fmt: skip
            for metric in METRICS:
                mine = result.metrics[metric]
                worst[metric] = max(worst[metric], abs(mine.value - chunk["value"][metric]))
                theirs = chunk["sampling_error"][metric]
                if theirs:
                    ratios.append(mine.standard_error / theirs)
        cells = " | ".join(f"{worst[m]:.1e}" for m in METRICS)
        print(f"| {name} | {len(dataset['chunks'])} | {cells} | {np.median(ratios):.2f} |")


def _windows() -> list[pd.DataFrame]:
    return [shift_frame(10_000, 1.5 * i / 49, seed=100 + i) for i in range(50)]


def accuracy(windows: list[pd.DataFrame]) -> None:
    reference = shift_frame(50_000, 0.0, seed=1)
    calibrator = fit_calibrator(scores=reference["score"], truth=reference["target"])
    grouped = fit_group_calibration(
        scores=reference["score"], truth=reference["target"], groups=reference["group"]
    )
    # the same groups, every one estimated with the overall calibrator
    plain = {k: dataclasses.replace(v, calibrator=None) for k, v in grouped.groups.items()}
    overall_only = dataclasses.replace(grouped, groups=plain)
    errors: dict[str, list[float]] = {m: [] for m in METRICS}
    fnr: dict[str, dict[str, list[float]]] = {"group": {}, "overall": {}}
    for window in windows:
        decisions = window["prediction"].to_numpy() == 1
        truth = window["target"].to_numpy()
        result = estimate_binary(
            scores=window["score"], decisions=decisions, calibrator=calibrator
        )
        realized = _realized(truth, decisions, window["score"].to_numpy())
        for metric in METRICS:
            errors[metric].append(abs(result.metrics[metric].value - realized[metric]))
        for label, calibration in (("group", grouped), ("overall", overall_only)):
            per_group = estimate_groups(
                scores=window["score"], decisions=decisions, groups=window["group"],
                calibration=calibration,
            )  # fmt: skip
            for group, estimate in per_group.items():
                rows = (window["group"] == group).to_numpy()
                actual = float(np.mean(~decisions[rows][truth[rows] == 1]))
                fnr[label].setdefault(group, []).append(abs(estimate.metrics["fnr"].value - actual))
    print("median |estimated - realized| over 50 windows of 10,000 rows (shift 0..1.5):")
    for metric in METRICS:
        tail = np.quantile(errors[metric], 0.9)
        print(f"  {metric:<12} {np.median(errors[metric]):.4f}   (90th pct {tail:.4f})")
    print("per-group FNR, median |estimated - realized| (group's own / overall calibrator):")
    for group, reference_group in grouped.groups.items():
        print(
            f"  {group}: {np.median(fnr['group'][group]):.4f} / "
            f"{np.median(fnr['overall'][group]):.4f}   reference rows {reference_group.rows}, "
            f"calibration {reference_group.source}, reliable {reference_group.reliable}"
        )


def _realized(truth: np.ndarray, decisions: np.ndarray, score: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": float(skm.roc_auc_score(truth, score)),
        "f1": float(skm.f1_score(truth, decisions)),
        "precision": float(skm.precision_score(truth, decisions)),
        "recall": float(skm.recall_score(truth, decisions)),
        "specificity": float(skm.recall_score(1 - truth, ~decisions)),
        "accuracy": float(skm.accuracy_score(truth, decisions)),
    }


def coverage(windows: list[pd.DataFrame], draws: int = 1000) -> None:
    rng = np.random.default_rng(21)
    window = shift_frame(5_000, 0.5, seed=77)
    p, decisions = window["truth"].to_numpy(), window["prediction"].to_numpy() == 1
    identity = fit_calibrator(scores=p, truth=window["target"], method="identity")
    result = estimate_binary(scores=p, decisions=decisions, calibrator=identity)
    labels = (rng.random((draws, len(p))) < p).astype(float)
    ranks = scistats.rankdata(p)
    tp, fn = labels[:, decisions].sum(axis=1), labels[:, ~decisions].sum(axis=1)
    k, n = decisions.sum(), len(p)
    fp, tn = k - tp, n - k - fn
    realized = {
        "accuracy": (tp + tn) / n, "precision": tp / k, "recall": tp / (tp + fn),
        "f1": 2 * tp / (2 * tp + fp + fn), "specificity": tn / (tn + fp),
        "roc_auc": (labels @ ranks - (tp + fn) * (tp + fn + 1) / 2) / ((tp + fn) * (tn + fp)),
    }  # fmt: skip
    print(f"95 % interval coverage, calibration exact ({draws} label draws, 5,000 rows):")
    for metric in METRICS:
        found = result.metrics[metric]
        hit = np.mean((realized[metric] >= found.low) & (realized[metric] <= found.high))
        print(f"  {metric:<12} {hit:.3f}   SE {found.standard_error:.4f}, "
              f"sd of realized {np.std(realized[metric]):.4f}")  # fmt: skip
    reference = shift_frame(50_000, 0.0, seed=1)
    calibrator = fit_calibrator(scores=reference["score"], truth=reference["target"])
    hits = dict.fromkeys(METRICS, 0)
    for frame in windows:
        decided = frame["prediction"].to_numpy() == 1
        estimate = estimate_binary(scores=frame["score"], decisions=decided, calibrator=calibrator)
        actual = _realized(frame["target"].to_numpy(), decided, frame["score"].to_numpy())
        for metric in METRICS:
            found = estimate.metrics[metric]
            hits[metric] += found.low <= actual[metric] <= found.high
    print("95 % interval coverage, isotonic fitted on 50,000 rows, 50 shifted windows:")
    print("  " + ", ".join(f"{m} {hits[m] / len(windows):.2f}" for m in METRICS))


def _multiclass(rows: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, ...]:
    """Three classes, true probabilities known; the model's are sharper (over-confident)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, (rows, 2))
    logits = np.column_stack([1.5 * x[:, 0], 1.5 * x[:, 1], 0.5 - x.sum(axis=1)])
    truth_p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    sharp = np.exp(1.8 * logits) / np.exp(1.8 * logits).sum(axis=1, keepdims=True)
    truth = (rng.random(rows)[:, None] > np.cumsum(truth_p, axis=1)).sum(axis=1)
    return truth_p, sharp, truth


def coverage_multiclass(draws: int = 1000) -> None:
    classes = ["a", "b", "c"]
    truth_p, sharp, _ = _multiclass(5_000, seed=6, shift=0.4)
    predicted = sharp.argmax(axis=1)
    identity = {c: fit_calibrator(scores=truth_p[:, j], truth=np.arange(5_000) % 2,
                                  method="identity") for j, c in enumerate(classes)}  # fmt: skip
    exact = estimate_multiclass(
        probabilities=truth_p, classes=classes, predictions=np.array(classes)[predicted],
        calibrators=identity,
    )  # fmt: skip
    rng = np.random.default_rng(8)
    names = ("accuracy", "precision", "recall", "f1", "specificity")
    hits = dict.fromkeys(names, 0)
    for _ in range(draws):
        drawn = (rng.random(len(truth_p))[:, None] > np.cumsum(truth_p, axis=1)).sum(axis=1)
        matrix = np.bincount(3 * drawn + predicted, minlength=9).reshape(3, 3).astype(float)
        tp = np.diag(matrix)
        fp, fn = matrix.sum(axis=0) - tp, matrix.sum(axis=1) - tp
        tn = matrix.sum() - tp - fp - fn
        values = {
            "accuracy": tp.sum() / matrix.sum(), "precision": np.mean(tp / (tp + fp)),
            "recall": np.mean(tp / (tp + fn)), "f1": np.mean(2 * tp / (2 * tp + fp + fn)),
            "specificity": np.mean(tn / (tn + fp)),
        }  # fmt: skip
        for name in names:
            hits[name] += exact.metrics[name].low <= values[name] <= exact.metrics[name].high
    print(f"multiclass 95 % coverage, calibration exact ({draws} draws, 5,000 rows, 3 classes):")
    print("  " + ", ".join(f"{n} {hits[n] / draws:.3f}" for n in names))


def dle(windows: int = 20) -> None:
    from threadpoolctl import threadpool_limits

    from mlflow_monitor.stats.estimation import estimate_regression, fit_loss_model

    def frame(rows: int, shift: float, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x1, x2 = rng.normal(shift, 1.0, rows), rng.uniform(0.0, 1.0, rows)
        kind = rng.choice(["a", "b", "c"], rows)
        sigma = 0.5 + 0.8 * np.abs(x1) + 0.7 * (kind == "c")
        prediction = 2 * x1 + x2
        return (pd.DataFrame({"x1": x1, "x2": x2, "kind": kind}), prediction,
                prediction + rng.normal(0.0, sigma))  # fmt: skip

    with threadpool_limits(1):
        features, prediction, truth = frame(20_000, 0.0, seed=1)
        start = time.perf_counter()
        model = fit_loss_model(features=features, predictions=prediction, truth=truth)
        took = time.perf_counter() - start
        errors: dict[str, list[float]] = {"mae": [], "rmse": []}
        hits = {"mae": 0, "rmse": 0}
        for i in range(windows):
            features, prediction, truth = frame(5_000, 1.0 * i / (windows - 1), seed=100 + i)
            result = estimate_regression(features=features, predictions=prediction,
                                         loss_model=model)  # fmt: skip
            error = truth - prediction
            actual = {"mae": np.mean(np.abs(error)), "rmse": np.sqrt(np.mean(error**2))}
            for name in errors:
                found = result.metrics[name]
                errors[name].append(abs(found.value - actual[name]) / actual[name])
                hits[name] += found.low <= actual[name] <= found.high
    print(f"DLE: loss model fitted on 20,000 rows in {took:.1f} s (one thread), kappa "
          f"{model.kappa:.2f}; {windows} windows of 5,000 rows, shift 0..1:")  # fmt: skip
    for name in errors:
        print(f"  {name}: median relative error {np.median(errors[name]):.3f}, "
              f"95 % interval coverage {hits[name] / windows:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=0, help="0: the window is one chunk")
    parser.add_argument("--parity", action="store_true")
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--coverage", action="store_true")
    parser.add_argument("--dle", action="store_true")
    args = parser.parse_args()
    if not (args.parity or args.accuracy or args.coverage or args.dle):
        speed(args.rows, args.reference_rows, args.repeats, args.chunk_rows)
    if args.parity:
        parity()
    windows = _windows() if (args.accuracy or args.coverage) else []
    if args.accuracy:
        accuracy(windows)
    if args.coverage:
        coverage(windows)
        coverage_multiclass()
    if args.dle:
        dle()


if __name__ == "__main__":
    main()
