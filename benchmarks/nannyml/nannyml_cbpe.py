"""NannyML 0.13's CBPE per chunk on the parity sets, written to ``expected_cbpe.json``.

Runs ONLY in NannyML's own virtual environment (its pins conflict with this project's; see
``README.md`` beside this file):

    /work/nannyml-venv/bin/python benchmarks/nannyml/nannyml_cbpe.py --export-bundled
    /work/nannyml-venv/bin/python benchmarks/nannyml/nannyml_cbpe.py --scratch /tmp/cbpe-parity

``--export-bundled`` first writes the needed columns of NannyML's bundled data sets to
``data/*.parquet`` (committed, so the parity test needs no NannyML): the synthetic car loan
and work-from-home binary sets (50,000 + 50,000 rows each), the synthetic multiclass set
(60,000 + 60,000) and the US census Massachusetts employment data (public ACS data: every
3rd reference row, every 4th analysis row, probabilities rounded to 4 decimals). ``churn``
is written by ``parity_data.py`` in the project's environment, ``shift`` and ``calibrated``
are read from ``--scratch`` (written there by the same script). For each set, CBPE is fitted on the
reference rows and estimates the analysis rows in chunks of ``CHUNK_SIZE`` rows; the JSON holds
each chunk's row range, NannyML's estimate, sampling error and (targets given) realized value
per metric, whether it calibrated, and a checksum of the scores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

# NannyML sends usage statistics unless told not to; this machine has no internet either.
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
METRICS = ["roc_auc", "f1", "precision", "recall", "specificity", "accuracy"]
CHUNK_SIZE = {
    "shift": 5000,
    "calibrated": 5000,
    "churn": 5000,
    "car_loan": 5000,
    "wfh": 5000,
    "census_ma": 5000,
    "multiclass": 6000,
}
SCRATCH = ("shift", "calibrated")  # made by parity_data.py in the project's environment
MULTICLASS = ["highstreet_card", "prepaid_card", "upmarket_card"]


def export_bundled() -> None:
    """Needed columns of NannyML's bundled sets -> ``data/<name>.parquet``."""
    import nannyml as nml

    def binary(reference: pd.DataFrame, analysis: pd.DataFrame, target: str, score: str,
               prediction: str, group: str | None = None, decimals: int | None = None
               ) -> pd.DataFrame:  # fmt: skip
        parts = []
        for period, frame in (("reference", reference), ("analysis", analysis)):
            part = pd.DataFrame(
                {
                    "period": period,
                    "score": frame[score].to_numpy(dtype=float),
                    "prediction": frame[prediction].to_numpy(dtype=np.int64),
                    "target": frame[target].to_numpy(dtype=np.int64),
                }
            )
            if decimals is not None:
                part["score"] = part["score"].round(decimals)
            if group is not None:
                part["group"] = frame[group].astype(str).to_numpy()
            parts.append(part)
        return pd.concat(parts, ignore_index=True)

    reference, analysis, truth = nml.load_synthetic_car_loan_dataset()
    analysis = analysis.merge(truth, on="id")
    binary(reference, analysis, "repaid", "y_pred_proba", "y_pred").to_parquet(
        DATA / "car_loan.parquet", index=False, compression="zstd"
    )
    reference, analysis, truth = nml.load_synthetic_binary_classification_dataset()
    analysis = analysis.merge(truth, on="id")
    binary(reference, analysis, "work_home_actual", "y_pred_proba", "y_pred").to_parquet(
        DATA / "wfh.parquet", index=False, compression="zstd"
    )
    reference, analysis, truth = nml.load_us_census_ma_employment_data()
    analysis = analysis.merge(truth, on="id")
    binary(
        reference.iloc[::3], analysis.iloc[::4], "employed", "predicted_probability",
        "prediction", group="SEX", decimals=4,
    ).to_parquet(DATA / "census_ma.parquet", index=False, compression="zstd")  # fmt: skip
    reference, analysis, truth = nml.load_synthetic_multiclass_classification_dataset()
    analysis = analysis.merge(truth, on="id")
    parts = []
    for period, frame in (("reference", reference), ("analysis", analysis)):
        part = pd.DataFrame(
            {f"proba_{c}": frame[f"y_pred_proba_{c}"].to_numpy(dtype=float) for c in MULTICLASS}
        )
        part.insert(0, "period", period)
        part["prediction"] = frame["y_pred"].astype(str).to_numpy()
        part["target"] = frame["y_true"].astype(str).to_numpy()
        parts.append(part)
    pd.concat(parts, ignore_index=True).to_parquet(
        DATA / "multiclass.parquet", index=False, compression="zstd"
    )


def checksum(frame: pd.DataFrame) -> float:
    """Same as ``parity_data.checksum``: sum of the score columns, rounded."""
    columns = [c for c in frame.columns if c == "score" or c.startswith("proba_")]
    return round(float(frame[columns].to_numpy().sum()), 6)


def _number(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def run_cbpe(name: str, frame: pd.DataFrame) -> dict[str, object]:
    """Fit on the reference rows, estimate the analysis rows chunk by chunk."""
    import nannyml as nml

    multiclass = "prediction" in frame and frame["prediction"].dtype == object
    reference = frame[frame["period"] == "reference"].reset_index(drop=True)
    analysis = frame[frame["period"] == "analysis"].reset_index(drop=True)
    if multiclass:
        proba = {c: f"proba_{c}" for c in MULTICLASS}
        estimator = nml.CBPE(
            y_pred_proba=proba, y_pred="prediction", y_true="target", metrics=METRICS,
            problem_type="classification_multiclass", chunk_size=CHUNK_SIZE[name],
        )  # fmt: skip
    else:
        estimator = nml.CBPE(
            y_pred_proba="score", y_pred="prediction", y_true="target", metrics=METRICS,
            problem_type="classification_binary", chunk_size=CHUNK_SIZE[name],
        )  # fmt: skip
    estimator.fit(reference)
    result = estimator.estimate(analysis).filter(period="analysis").to_df()
    chunks = []
    for _, row in result.iterrows():
        chunk: dict[str, object] = {
            "start": int(row[("chunk", "start_index")]),
            "end": int(row[("chunk", "end_index")]),
        }
        for part in ("value", "sampling_error", "realized"):
            chunk[part] = {m: _number(row[(m, part)]) for m in METRICS}
        chunks.append(chunk)
    if multiclass:
        calibrated = {c: type(cal).__name__ != "NoopCalibrator"
                      for c, cal in estimator._calibrators.items()}  # fmt: skip
    else:
        calibrated = {"score": bool(estimator.needs_calibration)}
    return {
        "problem": "multiclass" if multiclass else "binary",
        "classes": MULTICLASS if multiclass else [],
        "chunk_size": CHUNK_SIZE[name],
        "reference_rows": len(reference),
        "analysis_rows": len(analysis),
        "calibrated": calibrated,
        "checksum": checksum(frame),
        "chunks": chunks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-bundled", action="store_true")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/cbpe-parity"))
    parser.add_argument("--out", type=Path, default=HERE / "expected_cbpe.json")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import nannyml as nml

    if args.export_bundled:
        export_bundled()
    sets = {}
    for name in CHUNK_SIZE:
        folder = args.scratch if name in SCRATCH else DATA
        path = folder / f"{name}.parquet"
        sets[name] = run_cbpe(name, pd.read_parquet(path))
        print(name, "chunks:", len(sets[name]["chunks"]))  # type: ignore[arg-type]
    out = {
        "nannyml_version": nml.__version__,
        "pandas_version": pd.__version__,
        "numpy_version": np.__version__,
        "metrics": METRICS,
        "datasets": sets,
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
