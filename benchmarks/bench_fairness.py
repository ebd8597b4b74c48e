"""Fairness on a 1,000,000-row window: two protected attributes and their intersection.

Times ``evaluate_fairness`` (group metrics, disparities, bias drift against a baseline, the four
shipped policy packs) and ``aequitas.Audit`` (group metrics and disparities only) on the same
rows, in the same process, and prints both with the peak RSS.

    .venv/bin/python benchmarks/bench_fairness.py [rows]
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aequitas import Audit

from mlflow_monitor.verdicts.fairness_checks import evaluate_fairness, reference_fairness
from mlflow_monitor.workflows.compliance_audit import build_compliance
from tests.fixtures.lending import (
    FAIR,
    UNFAIR_FNR,
    lending_frame,
    lending_spec,
)

PACKS = ["four_fifths_rule", "nyc_ll144_bias_audit", "equal_opportunity", "equalized_odds"]


def _timed(label: str, func):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = func()
    print(f"{label:<52} {time.perf_counter() - start:7.2f} s")
    return result


def main(rows: int) -> None:
    spec = lending_spec(policies=PACKS)
    reference = reference_fairness(spec, lending_frame(100_000, groups=FAIR, seed=1))
    window = lending_frame(rows, groups=UNFAIR_FNR, seed=2, race_missing=0.01)
    window["race"] = window["race"].astype("category")
    print(f"{rows:,} rows; attributes sex, race and sex:race")
    evaluation = _timed(
        "mlflow_monitor evaluate_fairness (all 4 packs, drift)",
        lambda: evaluate_fairness(spec, reference, window),
    )
    _timed(
        "mlflow_monitor compliance report (json + html)",
        lambda: build_compliance(evaluation, model="lending", model_version="1").render_html(),
    )
    print(f"  outcomes {len(evaluation.outcomes)}, metrics {len(evaluation.metrics)}")

    def aequitas_audit() -> None:
        frame = window[["approved", "repaid"]].copy()
        frame["sex"] = window["sex"].astype(object)
        frame["race"] = window["race"].astype(object).fillna("(missing)")
        frame["sex:race"] = frame["sex"] + ":" + frame["race"]
        audit = Audit(
            frame,
            score_column="approved",
            label_column="repaid",
            sensitive_attribute_column=["sex", "race", "sex:race"],
        )
        audit.audit()

    _timed("aequitas Audit (object dtypes prepared inside)", aequitas_audit)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MiB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
