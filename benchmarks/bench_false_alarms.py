"""False alarms and power of the default checks, on data whose truth is known (issue 12).

One data-generating process, written out below, gives the reference and every window:

- features: ``age`` (normal), ``income`` (log-normal), ``tenure`` (uniform), ``n_products``
  (Poisson counts), ``plan`` (3 levels), ``channel`` (6 levels), ``region`` (4 levels, also the
  segment column);
- the true probability of the positive class is the logistic of a linear function of the
  features (prevalence ~0.30); the model's ``score`` IS that probability (a calibrated model,
  ROC AUC ~0.77), ``prediction = score >= 0.5``, and ``target`` is drawn from the probability;
- protected attributes independent of everything else: ``race`` with five groups of 6,290 /
  2,500 / 900 / 250 / 60 rows per 10,000 (A .. E; E has ~18 positives, D ~75) and ``sex``
  (F / M, half each).

So on clean windows every true fairness gap is exactly 0 (every ratio exactly 1), nothing
drifts and performance does not change: every finding is a false alarm by construction.

Clean: ``--windows`` windows of ``--window-rows`` rows drawn afresh from the process, judged
with ``evaluate_window`` against a baseline built from a ``--reference-rows`` reference by
``build_baseline_from_frame`` (pure, no MLflow), with the spec at its defaults except what the
data needs (column roles, the three policy packs, segments on ``region``). Reported: the share
of windows not healthy (goal <= 1 %) and critical (goal 0), and which checks fired, per check
and per kind.

Power: windows in which group B has 2,000 rows at prevalence 0.5 (1,000 positives drawn from
the process given the label, so its true FNR equals everyone's) and then a share of its
positives that the model accepts are pushed below the threshold so that its true FNR is the
reference group's + 0.20, twice the policy line 0.10. Reported: the share of windows with at
least a warning on ``equal_opportunity`` / ``fnr_difference`` for ``race=B`` (goal >= 95 %),
and with a fail.

    .venv/bin/python benchmarks/bench_false_alarms.py [--windows 200] [--seed 12] [--out f.json]
        [--window-rows 10000] [--reference-rows 50000] [--set fairness.min_group_size=100 ...]

``--set dotted.key=value`` (repeatable; the value read as YAML) changes one spec setting, to
measure a candidate default against the same windows. Outcomes are read through ``status``,
``kind``, ``check_id`` and ``value`` only; ``interval`` and ``baseline`` are recorded for the
power check when the outcome has them, so the script runs on older and newer result fields.

Seeds: the reference uses ``(seed, 0)``, clean window ``i`` ``(seed, 1, i)``, power window
``i`` ``(seed, 2, i)``, the truth's Monte Carlo ``(seed, 9)`` (``numpy.random.default_rng``
seed sequences), so a seed and a window count always give the same numbers, and the first
``n`` windows of a longer run are the windows of a shorter one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.verdicts.baseline_model import Baseline, build_baseline_from_frame
from mlflow_monitor.verdicts.evaluation import evaluate_window

# -- the data-generating process -----------------------------------------------------------

RACE_GROUPS = ("A", "B", "C", "D", "E")
RACE_ROWS_PER_10K = (6_290, 2_500, 900, 250, 60)
PLANS = ("basic", "plus", "premium")
PLAN_SHARES = (0.5, 0.35, 0.15)
PLAN_EFFECT = (0.4, 0.0, -0.6)
CHANNELS = ("web", "app", "branch", "phone", "partner", "mail")
CHANNEL_SHARES = (0.30, 0.25, 0.15, 0.12, 0.10, 0.08)
CHANNEL_EFFECT = (0.0, 0.2, -0.2, 0.3, -0.3, 0.1)
REGIONS = ("north", "south", "east", "west")
REGION_SHARES = (0.4, 0.3, 0.2, 0.1)
REGION_EFFECT = (0.0, 0.15, -0.15, 0.25)
INTERCEPT = -1.3
THRESHOLD = 0.5

POWER_GROUP = "B"
POWER_GROUP_ROWS = 2_000
POWER_PREVALENCE = 0.5
POWER_FNR_GAP = 0.20
POWER_CHECK = f"policy/equal_opportunity/fnr_difference/race={POWER_GROUP}"
POWER_CHECK_ODDS = f"policy/equalized_odds/fnr_difference/race={POWER_GROUP}"


def true_probability(frame: pd.DataFrame) -> np.ndarray:
    """The process's P(target = 1 | features): the logistic of a linear function."""
    logit = (
        INTERCEPT
        + 0.6 * (frame["age"].to_numpy() - 40) / 12
        - 0.7 * (np.log(frame["income"].to_numpy()) - 10.5) / 0.5
        - 0.5 * (frame["tenure"].to_numpy() - 5) / 2.9
        + 0.3 * (frame["n_products"].to_numpy() - 2)
        + _effect(frame["plan"], PLANS, PLAN_EFFECT)
        + _effect(frame["channel"], CHANNELS, CHANNEL_EFFECT)
        + _effect(frame["region"], REGIONS, REGION_EFFECT)
    )
    return 1.0 / (1.0 + np.exp(-logit))


def _effect(values: pd.Series, levels: Sequence[str], effects: Sequence[float]) -> np.ndarray:
    codes = pd.Categorical(values, categories=list(levels)).codes
    return np.asarray(effects)[codes]


def features(
    rng: np.random.Generator, n: int, race_rows: Sequence[int] = RACE_ROWS_PER_10K
) -> pd.DataFrame:
    """``n`` rows of features and protected attributes (no labels yet)."""
    race_p = np.asarray(race_rows, dtype=float) / sum(race_rows)
    return pd.DataFrame(
        {
            "age": np.clip(rng.normal(40, 12, n), 18, 90).round(1),
            "income": rng.lognormal(10.5, 0.5, n).round(2),
            "tenure": rng.uniform(0, 10, n),
            "n_products": rng.poisson(2, n),
            "plan": rng.choice(PLANS, n, p=PLAN_SHARES),
            "channel": rng.choice(CHANNELS, n, p=CHANNEL_SHARES),
            "region": rng.choice(REGIONS, n, p=REGION_SHARES),
            "race": rng.choice(RACE_GROUPS, n, p=race_p),
            "sex": rng.choice(("F", "M"), n),
        }
    )


def with_labels(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """The calibrated model's score and decision, and a label drawn from the true probability."""
    p = true_probability(frame)
    frame["score"] = p
    frame["prediction"] = (p >= THRESHOLD).astype(int)
    frame["target"] = (rng.random(len(frame)) < p).astype(int)
    return frame


def clean_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return with_labels(rng, features(rng, n))


def power_frame(rng: np.random.Generator, n: int, flip: float) -> pd.DataFrame:
    """A window in which group B (2,000 rows, prevalence 0.5) is missed ``POWER_FNR_GAP`` more.

    The other groups keep their shares of the remaining rows. Group B's rows are drawn from the
    process given their label (so its true FNR equals everyone's); then each positive the model
    accepts is rejected with probability ``flip`` (its score mirrored below the threshold).
    """
    others = [
        r if g != POWER_GROUP else 0 for g, r in zip(RACE_GROUPS, RACE_ROWS_PER_10K, strict=True)
    ]
    rest = clean_frame(rng, n - POWER_GROUP_ROWS) if n > POWER_GROUP_ROWS else None
    if rest is not None:
        rest["race"] = rng.choice(RACE_GROUPS, len(rest), p=np.asarray(others) / sum(others))
    group = _by_label(rng, POWER_GROUP_ROWS, POWER_PREVALENCE)
    group["race"] = POWER_GROUP
    accepted = (group["target"] == 1) & (group["prediction"] == 1)
    hit = accepted.to_numpy() & (rng.random(len(group)) < flip)
    group.loc[hit, "score"] = 0.999 * (1.0 - group.loc[hit, "score"])
    group.loc[hit, "prediction"] = 0
    parts = [group] if rest is None else [rest, group]
    frame = pd.concat(parts, ignore_index=True)
    return frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)


def _by_label(rng: np.random.Generator, n: int, prevalence: float) -> pd.DataFrame:
    """``n`` rows of the process, ``round(n * prevalence)`` of them positive (given the label)."""
    want = {1: round(n * prevalence), 0: n - round(n * prevalence)}
    taken: dict[int, list[pd.DataFrame]] = {0: [], 1: []}
    while any(sum(len(f) for f in taken[k]) < want[k] for k in want):
        batch = clean_frame(rng, 4 * n)
        for label in (0, 1):
            have = sum(len(f) for f in taken[label])
            taken[label].append(batch[batch["target"] == label].iloc[: want[label] - have])
    return pd.concat(taken[0] + taken[1], ignore_index=True)


@dataclass(frozen=True)
class Truth:
    """The process's own rates (Monte Carlo on expected values), shared by every group."""

    prevalence: float
    selection_rate: float
    fnr: float
    fpr: float
    flip: float  # share of B's accepted positives rejected in the power windows
    power_fnr: float  # B's true FNR in the power windows

    @classmethod
    def of_process(cls, seed: int, rows: int = 2_000_000) -> Truth:
        p = true_probability(features(np.random.default_rng([seed, 9]), rows))
        accept = p >= THRESHOLD
        fnr = float((p * ~accept).sum() / p.sum())
        fpr = float(((1 - p) * accept).sum() / (1 - p).sum())
        flip = POWER_FNR_GAP / (1.0 - fnr)
        return cls(float(p.mean()), float(accept.mean()), fnr, fpr, flip, fnr + POWER_FNR_GAP)


# -- the monitor ------------------------------------------------------------------------------


def monitor_spec(settings: Sequence[str] = ()) -> MonitorSpec:
    """Defaults everywhere except what the data needs: roles, policy packs, segments.

    ``settings`` (``--set``) are ``dotted.key=value`` changes (the value read as YAML), to
    measure a candidate default, e.g. ``fairness.min_group_size=100``.
    """
    body: dict[str, object] = {
        "model": "false-alarm-bench",
        "task": "binary_classification",
        "positive_label": 1,
        "columns": {
            "target": "target",
            "prediction": "prediction",
            "score": "score",
            "numerical": ["age", "income", "tenure", "n_products"],
            "categorical": ["plan", "channel", "region"],
            "protected": ["race", "sex"],
            "segments": ["region"],
        },
        "fairness": {"policies": ["four_fifths_rule", "equal_opportunity", "equalized_odds"]},
    }
    for setting in settings:
        key, _, text = setting.partition("=")
        *path, last = key.strip().split(".")
        node = body
        for part in path:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[last] = yaml.safe_load(text)
    return parse_spec(body, source="bench_false_alarms spec")


@dataclass
class Scenario:
    """What one scenario's windows said: health, the findings, the power check's outcomes."""

    name: str
    health: Counter[str] = field(default_factory=Counter)
    fired: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (kind, id, status)
    kinds: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, status), per window
    families: Counter[tuple[str, str]] = field(default_factory=Counter)  # (family, status)
    windows: list[dict[str, object]] = field(default_factory=list)
    tracked: dict[str, Counter[str]] = field(default_factory=dict)
    tracked_values: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)

    def add(self, index: int, result: object, seconds: float, track: Iterable[str]) -> None:
        outcomes = list(result.outcomes)  # type: ignore[attr-defined]
        firing = [o for o in outcomes if o.status in ("warn", "fail", "error")]
        self.health[str(result.health)] += 1  # type: ignore[attr-defined]
        self.seconds.append(seconds)
        for o in firing:
            self.fired[(o.kind, o.check_id, o.status)] += 1
        for kind, status in {(o.kind, o.status) for o in firing}:
            self.kinds[(kind, status)] += 1
        for family, status in {(_family(o.check_id), o.status) for o in firing}:
            self.families[(family, status)] += 1
        by_id = {o.check_id: o for o in outcomes}
        for check_id in track:
            o = by_id.get(check_id)
            self.tracked.setdefault(check_id, Counter())[o.status if o else "absent"] += 1
            if o is not None:
                self.tracked_values.setdefault(check_id, []).append(_outcome_numbers(o))
        self.windows.append(
            {
                "window": index,
                "health": str(result.health),  # type: ignore[attr-defined]
                "findings": [f"{o.status} {o.check_id}" for o in firing],
            }
        )

    @property
    def n(self) -> int:
        return sum(self.health.values())

    def share(self, *healths: str) -> float:
        return sum(self.health[h] for h in healths) / max(self.n, 1)

    def summary(self) -> dict[str, object]:
        per_check: dict[str, dict[str, object]] = {}
        for (kind, check_id, status), count in sorted(self.fired.items()):
            entry = per_check.setdefault(check_id, {"kind": kind, "warn": 0, "fail": 0, "error": 0})
            entry[status] = count
        per_kind: dict[str, dict[str, int]] = {}
        for (kind, status), count in sorted(self.kinds.items()):
            per_kind.setdefault(kind, {"warn": 0, "fail": 0, "error": 0})[status] = count
        per_family: dict[str, dict[str, int]] = {}
        for (family, status), count in sorted(self.families.items()):
            per_family.setdefault(family, {"warn": 0, "fail": 0, "error": 0})[status] = count
        return {
            "windows": self.n,
            "health": dict(self.health),
            "not_healthy_share": self.share("warning", "critical", "error"),
            "critical_share": self.share("critical", "error"),
            "windows_firing_per_kind": per_kind,
            "windows_firing_per_rule": per_family,
            "windows_firing_per_check": per_check,
            "tracked": {k: dict(v) for k, v in self.tracked.items()},
            "tracked_values": self.tracked_values,
            "seconds_per_window_median": float(np.median(self.seconds)) if self.seconds else None,
            "per_window": self.windows,
        }


def _family(check_id: str) -> str:
    """The check id with its group or segment values replaced by ``*`` (one row per rule)."""
    return re.sub(r"=[^/]+", "=*", check_id)


def _outcome_numbers(o: object) -> dict[str, object]:
    """Value, interval and baseline of an outcome, whatever fields this version carries."""
    numbers: dict[str, object] = {"status": o.status, "value": o.value}  # type: ignore[attr-defined]
    interval = getattr(o, "interval", None)
    if interval is not None:
        numbers["interval"] = interval.to_dict() if hasattr(interval, "to_dict") else str(interval)
    if getattr(o, "baseline", None) is not None:
        numbers["baseline"] = o.baseline  # type: ignore[attr-defined]
    return numbers


def run_scenario(
    name: str,
    spec: MonitorSpec,
    baseline: Baseline,
    make: object,
    *,
    windows: int,
    seed: int,
    stream: int,
    track: Sequence[str] = (),
) -> Scenario:
    scenario = Scenario(name)
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)
    for i in range(windows):
        frame = make(np.random.default_rng([seed, stream, i]))  # type: ignore[operator]
        began = time.perf_counter()
        result = evaluate_window(
            spec,
            baseline,
            frame,
            model_version="1",
            window_start=start + timedelta(days=7 * i),
            window_end=start + timedelta(days=7 * (i + 1)),
        )
        scenario.add(i, result, time.perf_counter() - began, track)
    return scenario


# -- report ------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def print_report(
    truth: Truth, clean: Scenario, power: Scenario, args: argparse.Namespace, seconds: float
) -> None:
    print(
        f"\nseed {args.seed}; reference {args.reference_rows:,} rows; windows of "
        f"{args.window_rows:,} rows; {args.windows} clean + {args.windows} power windows; "
        f"{seconds:.0f} s"
    )
    print(f"spec: defaults{''.join(f'; {s}' for s in args.set) or ' (no --set)'}")
    print(
        f"truth: prevalence {truth.prevalence:.3f}, selection rate {truth.selection_rate:.3f}, "
        f"FNR {truth.fnr:.3f}, FPR {truth.fpr:.3f} in every group (clean: every gap 0); "
        f"power: {POWER_GROUP}'s FNR {truth.power_fnr:.3f} (gap {POWER_FNR_GAP:.2f}, "
        f"{truth.flip:.3f} of its accepted positives rejected)"
    )
    s = clean.summary()
    print(f"\nCLEAN ({clean.n} windows)          measured   goal")
    print(f"  not healthy (warning+critical)  {_pct(s['not_healthy_share']):>8}   <= 1 %")  # type: ignore[arg-type]
    print(f"  critical                        {_pct(s['critical_share']):>8}   0")  # type: ignore[arg-type]
    print(f"  health counts: {dict(clean.health)}")
    print("\n  windows in which a kind fired     warn   fail")
    for kind, counts in s["windows_firing_per_kind"].items():  # type: ignore[attr-defined]
        print(f"    {kind:<30} {counts['warn']:>6} {counts['fail']:>6}")
    print("\n  windows in which a rule fired (any group)                      warn   fail")
    for family, counts in s["windows_firing_per_rule"].items():  # type: ignore[attr-defined]
        print(f"    {family:<60} {counts['warn']:>6} {counts['fail']:>6}")
    print("\n  windows in which a check fired (top 25)                              warn   fail")
    rows = sorted(
        s["windows_firing_per_check"].items(),  # type: ignore[attr-defined]
        key=lambda kv: -(kv[1]["warn"] + kv[1]["fail"] + kv[1]["error"]),
    )
    for check_id, counts in rows[:25]:
        print(f"    {check_id:<66} {counts['warn']:>6} {counts['fail']:>6}")
    if len(rows) > 25:
        print(f"    ... {len(rows) - 25} more in the JSON")
    print(f"\nPOWER ({power.n} windows; FNR gap {POWER_FNR_GAP:.2f} vs line 0.10)  measured   goal")
    for check_id in (POWER_CHECK, POWER_CHECK_ODDS):
        counts = power.tracked.get(check_id, Counter())
        hit = (counts["warn"] + counts["fail"]) / max(power.n, 1)
        goal = ">= 95 %" if check_id == POWER_CHECK else ""
        print(f"  {check_id}: warn or fail {_pct(hit):>8}   {goal}")
        print(f"  {'':<{len(check_id)}}  fail         {_pct(counts['fail'] / max(power.n, 1)):>8}")
        print(f"    statuses: {dict(counts)}")
    values = [
        v["value"] for v in power.tracked_values.get(POWER_CHECK, []) if v["value"] is not None
    ]
    if values:
        print(
            f"  measured gap: mean {np.mean(values):.3f}, 5-95 % "
            f"{np.percentile(values, 5):.3f}-{np.percentile(values, 95):.3f}"
        )
    print(f"  power windows' health: {dict(power.health)}")
    print(
        f"\nevaluate_window: median {clean.summary()['seconds_per_window_median']:.3f} s per "
        "window (clean)"
    )


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--window-rows", type=int, default=10_000)
    parser.add_argument("--reference-rows", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a spec setting to measure a candidate default (repeatable)",
    )
    args = parser.parse_args(argv)

    began = time.perf_counter()
    truth = Truth.of_process(args.seed)
    spec = monitor_spec(args.set)
    reference = clean_frame(np.random.default_rng([args.seed, 0]), args.reference_rows)
    baseline = build_baseline_from_frame(spec, reference)
    n = args.window_rows
    clean = run_scenario(
        "clean",
        spec,
        baseline,
        lambda rng: clean_frame(rng, n),
        windows=args.windows,
        seed=args.seed,
        stream=1,
    )
    power = run_scenario(
        "power",
        spec,
        baseline,
        lambda rng: power_frame(rng, n, truth.flip),
        windows=args.windows,
        seed=args.seed,
        stream=2,
        track=(POWER_CHECK, POWER_CHECK_ODDS),
    )
    seconds = time.perf_counter() - began
    print_report(truth, clean, power, args, seconds)
    power_counts = power.tracked.get(POWER_CHECK, Counter())
    results: dict[str, object] = {
        "benchmark": "bench_false_alarms",
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
        },
        "settings": {
            "seed": args.seed,
            "spec_changes": list(args.set),
            "windows": args.windows,
            "window_rows": n,
            "reference_rows": args.reference_rows,
            "race_rows_per_10k": dict(zip(RACE_GROUPS, RACE_ROWS_PER_10K, strict=True)),
            "power_group": POWER_GROUP,
            "power_group_rows": POWER_GROUP_ROWS,
            "power_prevalence": POWER_PREVALENCE,
            "power_fnr_gap": POWER_FNR_GAP,
            "spec": spec.model_dump(mode="json"),
        },
        "truth": truth.__dict__,
        "seconds": seconds,
        "clean": clean.summary(),
        "power": {
            **power.summary(),
            "check": POWER_CHECK,
            "at_least_warning_share": (power_counts["warn"] + power_counts["fail"]) / power.n,
            "fail_share": power_counts["fail"] / power.n,
        },
    }
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=str))
        print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
