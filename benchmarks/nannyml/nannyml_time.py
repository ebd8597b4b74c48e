"""Time NannyML 0.13's CBPE ``fit`` + ``estimate`` (runs ONLY in NannyML's own environment).

Called by ``benchmarks/bench_cbpe.py`` as a subprocess of ``/work/nannyml-venv/bin/python``:

    nannyml_time.py --reference REF.parquet --window WINDOW.parquet --repeats 3

Both files have ``score``, ``prediction`` and ``target`` columns. Each repeat builds a new
``CBPE`` (binary, the six metrics, the whole window as one chunk, or chunks of
``--chunk-size`` rows), fits it on the reference and estimates the window; prints one JSON
line: the fit and estimate seconds of each repeat and the estimated values of the last
repeat's first chunk.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"  # no usage statistics (and no internet here)

METRICS = ["roc_auc", "f1", "precision", "recall", "specificity", "accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True)
    parser.add_argument("--window", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=0, help="0: the window is one chunk")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import nannyml as nml
    import pandas as pd

    reference = pd.read_parquet(args.reference)
    window = pd.read_parquet(args.window).drop(columns=["target"], errors="ignore")
    fits, estimates, values = [], [], {}
    chunking = {"chunk_size": args.chunk_size} if args.chunk_size else {"chunk_number": 1}
    for _ in range(args.repeats):
        estimator = nml.CBPE(
            y_pred_proba="score", y_pred="prediction", y_true="target", metrics=METRICS,
            problem_type="classification_binary", **chunking,
        )  # fmt: skip
        start = time.perf_counter()
        estimator.fit(reference)
        fitted = time.perf_counter()
        result = estimator.estimate(window).filter(period="analysis").to_df()
        done = time.perf_counter()
        fits.append(fitted - start)
        estimates.append(done - fitted)
        values = {m: float(result[(m, "value")].iloc[0]) for m in METRICS}
    print(json.dumps({"fit": fits, "estimate": estimates, "values": values}))


if __name__ == "__main__":
    main()
