"""Baseline: what a window is judged against, built once from reference data, attached to a version.

A baseline holds *profiles*, not raw frames (DESIGN.md section 6): the reference profile of the
features, prediction, score and target; the reference performance; the per-segment reference;
the reference fairness (when the spec has protected attributes) and the policy outcomes judged on
it (``reference_outcomes``: a reference that already breaks a policy is a finding before any
window); plus a bounded, seeded sample of the reference rows for the visual reports.
``adapters.baseline_files`` writes it to a directory (``baseline.json`` + ``sample.parquet``)
that is logged on the baseline run.

Large references stay in bounded memory: a parquet file larger than one chunk is read twice in
record batches, first to draw a uniform seeded sample (each row gets a random key, the
``baseline_rows`` smallest keys are kept across chunks), then to profile every chunk; the
chunks' profiles merge through their sketches (``stats.sketch``), so the edges and counts are
those of the whole reference at once, however it is chunked or partitioned (a Spark engine
profiles partitions and calls ``build_baseline_from_profile``). Performance, segments and
fairness of a reference larger than one chunk are computed on that sample (recorded in
``notes``); a smaller one is used whole.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlflow_monitor.contract import CheckOutcome, utc_now, utc_text
from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.stats.fairness import FairnessReport
from mlflow_monitor.stats.performance import PerformanceResult, compute_performance
from mlflow_monitor.stats.profile import DatasetProfile
from mlflow_monitor.stats.segments import SegmentBaseline, reference_segments
from mlflow_monitor.verdicts.estimated_checks import EstimationModel, fit_estimation
from mlflow_monitor.verdicts.fairness_checks import (
    check_decision_agreement,
    policy_outcomes,
    reference_fairness,
)
from mlflow_monitor.verdicts.profiled_columns import profile_columns

__all__ = [
    "Baseline",
    "build_baseline_from_chunks",
    "build_baseline_from_frame",
    "build_baseline_from_profile",
    "performance_of",
    "profile_columns",
]

SCHEMA_VERSION = 1


@dataclass(frozen=True, eq=False, repr=False)
class Baseline:
    """Reference profile, performance, segments, fairness and sample of one model version.

    ``reference_outcomes`` are the spec's policy rules judged on the reference fairness (empty
    without protected attributes or policies, and for baselines written before they existed).
    """

    spec_yaml: str
    profile: DatasetProfile
    performance: PerformanceResult | None
    segments: SegmentBaseline | None
    fairness: FairnessReport | None
    sample: pd.DataFrame
    rows: int
    created_at: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    reference_outcomes: tuple[CheckOutcome, ...] = ()
    # calibrators for estimating performance before labels (None: not fitted; a baseline of an
    # earlier release is estimated from its sample, see ``estimated_checks``)
    estimation: EstimationModel | None = None

    @property
    def firing_reference_outcomes(self) -> tuple[CheckOutcome, ...]:
        """The policy findings the reference itself already shows (warn or fail)."""
        return tuple(o for o in self.reference_outcomes if o.firing)

    @property
    def spec(self) -> MonitorSpec:
        """The spec the baseline was built with."""
        import yaml

        return parse_spec(yaml.safe_load(self.spec_yaml), source="baseline spec")

    def profile_frame(self) -> pd.DataFrame:
        """One row per profiled column: kind, rows, missing, mean/std/min/max or top category."""
        from mlflow_monitor.stats.profile import NumericProfile

        rows = []
        for name, col in self.profile.columns.items():
            row: dict[str, object] = {"column": name, "kind": col.kind, "missing": col.missing}
            if isinstance(col, NumericProfile):
                m = col.moments
                row.update(mean=m.mean, std=m.std, min=m.minimum, max=m.maximum)
            else:
                counts = col.as_series()
                row.update(categories=len(counts), top=str(counts.idxmax()) if len(counts) else "")
            rows.append(row)
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return (
            f"Baseline(rows={self.rows}, sample_rows={len(self.sample)}, "
            f"columns={len(self.profile.columns)}, created_at={self.created_at!r})"
        )

    def to_frame(self) -> pd.DataFrame:
        """The reference profile, one row per column (``profile_frame``)."""
        return self.profile_frame()

    def _repr_html_(self) -> str:
        """Jupyter's inline view: size, reference performance, rules the reference breaks."""
        from mlflow_monitor.views import panel_html, table_html

        metrics = self.performance.metrics if self.performance else {}
        profile = self.profile_frame()
        breaches = [
            {"check": o.check_id, "status": o.status, "message": o.message}
            for o in self.firing_reference_outcomes
        ]
        parts = [
            f"<p><b>Baseline</b>: {self.rows:,} reference rows, "
            f"a sample of {len(self.sample):,}, {len(self.profile.columns)} columns profiled "
            f"(built {html.escape(self.created_at)})</p>",
            table_html(
                [{"metric": k, "reference": v} for k, v in metrics.items()],
                columns=["metric", "reference"],
                caption="Reference performance",
            ),
            table_html(
                breaches,
                columns=["check", "status", "message"],
                caption="Policy rules the reference already breaks",
            )
            if breaches
            else "",
            table_html(
                [{str(k): v for k, v in row.items()} for row in profile.to_dict("records")],
                columns=[str(c) for c in profile.columns],
                caption="Profile",
            ),
        ]
        return panel_html(*parts)

    def to_dict(self) -> dict[str, object]:
        """The JSON body of ``baseline.json`` (the sample is kept beside it as parquet)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "created_at": self.created_at,
            "rows": self.rows,
            "sample_rows": len(self.sample),
            "notes": list(self.notes),
            "spec_yaml": self.spec_yaml,
            "profile": self.profile.to_dict(),
            "performance": self.performance.to_dict() if self.performance else None,
            "segments": None if self.segments is None else self.segments.to_dict(),
            "fairness": None if self.fairness is None else self.fairness.to_dict(),
            "reference_outcomes": [o.to_dict() for o in self.reference_outcomes],
            "estimation": self.estimation.to_dict() if self.estimation else None,
        }

    @classmethod
    def from_dict(
        cls, body: Mapping[str, object], *, sample: pd.DataFrame, source: str = "baseline.json"
    ) -> Baseline:
        """Inverse of ``to_dict``; an unknown schema version is a ``DataError`` naming it."""
        if body.get("schema_version") != SCHEMA_VERSION:
            raise DataError(f"{source}: unsupported schema_version {body.get('schema_version')!r}")
        perf, segments, fairness = (
            body.get("performance"),
            body.get("segments"),
            body.get("fairness"),
        )
        notes = body.get("notes")
        outcomes = body.get("reference_outcomes")
        estimation = body.get("estimation")
        return cls(
            spec_yaml=str(body["spec_yaml"]),
            profile=DatasetProfile.from_dict(body["profile"]),  # type: ignore[arg-type]
            performance=PerformanceResult.from_dict(perf) if perf else None,  # type: ignore[arg-type]
            segments=None if segments is None else SegmentBaseline.from_dict(segments),  # type: ignore[arg-type]
            fairness=None if fairness is None else FairnessReport.from_dict(fairness),  # type: ignore[arg-type]
            sample=sample,
            rows=int(str(body["rows"])),
            created_at=str(body["created_at"]),
            notes=tuple(str(n) for n in notes) if isinstance(notes, list) else (),
            reference_outcomes=_outcomes(outcomes),
            estimation=EstimationModel.from_dict(estimation)
            if isinstance(estimation, Mapping)
            else None,
        )


# -- building -------------------------------------------------------------------------------


def performance_of(spec: MonitorSpec, frame: pd.DataFrame) -> PerformanceResult | None:
    """Performance on ``frame``'s labelled rows; None when the frame has no target column."""
    cols = spec.columns
    if not cols.target or cols.target not in frame.columns:
        return None
    return compute_performance(
        spec.task,
        frame[cols.target],
        frame[cols.prediction] if cols.prediction else None,
        y_score=frame[cols.score] if cols.score else None,
        probabilities=frame[list(cols.probabilities)] if cols.probabilities else None,
        positive_label=spec.positive_label,
        threshold=spec.fairness.decision_threshold,
    )


def build_baseline_from_chunks(
    spec: MonitorSpec, chunks: Callable[[], Iterable[pd.DataFrame]], columns: list[str]
) -> Baseline:
    """Build the baseline from a reference too large for memory, read twice chunk by chunk.

    ``chunks()`` yields the reference's rows (``columns``) in chunks each time it is called.
    """
    sample, rows = _reservoir(chunks(), spec)
    if rows == 0:
        raise DataError("reference: the reference is empty (0 rows)")
    numerical, categorical = profile_columns(spec, columns)
    profile = DatasetProfile.from_chunks(
        chunks(), numerical=numerical, categorical=categorical, bins=spec.drift.bins
    )
    return build_baseline_from_profile(spec, profile, sample, rows=rows)


def build_baseline_from_profile(
    spec: MonitorSpec, profile: DatasetProfile, frame: pd.DataFrame, *, rows: int
) -> Baseline:
    """The baseline of a reference profiled elsewhere (chunks, Spark partitions) of ``rows``.

    ``frame`` is the whole reference when it has ``rows`` rows, else a seeded sample of it:
    performance, segments and fairness are computed on it (a sample is said in ``notes``).
    """
    if len(frame) >= rows:
        sample = _sample(frame, spec.sampling.baseline_rows, spec.sampling.seed)
        return _assemble(spec, profile, frame, sample, rows, ())
    note = f"performance, segments and fairness on a seeded sample of {len(frame)} of {rows} rows"
    return _assemble(spec, profile, frame, frame, rows, (note,))


def build_baseline_from_frame(spec: MonitorSpec, frame: pd.DataFrame) -> Baseline:
    """Build the baseline from an in-memory reference frame (used whole for every statistic)."""
    if frame.empty:
        raise DataError("reference: the reference is empty (0 rows)")
    numerical, categorical = profile_columns(spec, list(frame.columns))
    profile = DatasetProfile.from_frame(
        frame, numerical=numerical, categorical=categorical, bins=spec.drift.bins
    )
    sample = _sample(frame, spec.sampling.baseline_rows, spec.sampling.seed)
    return _assemble(spec, profile, frame, sample, len(frame), ())


def _assemble(
    spec: MonitorSpec,
    profile: DatasetProfile,
    frame: pd.DataFrame,
    sample: pd.DataFrame,
    rows: int,
    notes: tuple[str, ...],
) -> Baseline:
    check_decision_agreement(spec, frame)  # a flipped positive_label, before anything is judged
    fairness = _reference_fairness(spec, frame)
    return Baseline(
        spec_yaml=spec.to_yaml(),
        profile=profile,
        performance=performance_of(spec, frame),
        segments=_reference_segments(spec, frame),
        fairness=fairness,
        sample=sample,
        rows=rows,
        created_at=utc_text(utc_now()),
        notes=notes,
        reference_outcomes=_reference_outcomes(spec, fairness),
        estimation=fit_estimation(spec, frame),
    )


def _reference_segments(spec: MonitorSpec, frame: pd.DataFrame) -> SegmentBaseline | None:
    cols = spec.columns
    if not cols.segments:
        return None
    return reference_segments(
        frame,
        task=spec.task,
        segment_columns=cols.segments,
        target=cols.target if cols.target in frame.columns else None,
        prediction=cols.prediction,
        score=cols.score,
        probabilities=cols.probabilities,
        numerical=cols.numerical,
        categorical=cols.categorical,
        positive_label=spec.positive_label,  # type: ignore[arg-type]
        threshold=spec.fairness.decision_threshold,
    )


def _reference_fairness(spec: MonitorSpec, frame: pd.DataFrame) -> FairnessReport | None:
    return reference_fairness(spec, frame) if spec.columns.protected else None


def _reference_outcomes(
    spec: MonitorSpec, fairness: FairnessReport | None
) -> tuple[CheckOutcome, ...]:
    """The policy rules judged on the reference, with the same rule code as a window."""
    if fairness is None or not spec.fairness.policies:
        return ()
    return tuple(policy_outcomes(spec, fairness))


def _outcomes(raw: object) -> tuple[CheckOutcome, ...]:
    """Stored reference outcomes; a baseline written before them has none."""
    if not isinstance(raw, list):
        return ()
    return tuple(CheckOutcome.from_dict(o) for o in raw if isinstance(o, Mapping))


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    return frame.sample(n=rows, random_state=seed).sort_index().reset_index(drop=True)


def _reservoir(chunks: Iterable[pd.DataFrame], spec: MonitorSpec) -> tuple[pd.DataFrame, int]:
    """Uniform seeded sample of ``baseline_rows`` rows across chunks: keep the smallest keys."""
    rng = np.random.default_rng(spec.sampling.seed)
    limit = spec.sampling.baseline_rows
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    rows = 0
    for chunk in chunks:
        rows += len(chunk)
        chunk_keys = rng.random(len(chunk))
        merged = chunk if kept is None else pd.concat([kept, chunk], ignore_index=True)
        all_keys = np.concatenate([keys, chunk_keys])
        if len(merged) > limit:
            order = np.argpartition(all_keys, limit - 1)[:limit]
            merged, all_keys = merged.iloc[order].reset_index(drop=True), all_keys[order]
        kept, keys = merged, all_keys
    return (kept if kept is not None else pd.DataFrame()), rows
