"""Baseline: what a window is judged against, built once from reference data, attached to a version.

A baseline holds *profiles*, not raw frames (DESIGN.md section 6): the reference profile of the
features, prediction, score and target; the reference performance; the per-segment reference;
the reference fairness (when the spec has protected attributes); plus a bounded, seeded sample of
the reference rows for the visual reports. It is written to a directory (``baseline.json`` +
``sample.parquet``) that is logged on the baseline run.

Large references stay in bounded memory: a parquet file larger than one chunk is read twice in
record batches, first to draw a uniform seeded sample (each row gets a random key, the
``baseline_rows`` smallest keys are kept across chunks), then to profile every chunk on the bin
edges of the sample's profile (quantile edges from a uniform sample, not from the first chunk,
whose rows may be ordered by time). Performance, segments and fairness of a reference larger than
one chunk are computed on that sample (recorded in ``notes``); a smaller one is used whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from mlflow_monitor import data
from mlflow_monitor.errors import DataError
from mlflow_monitor.spec import MonitorSpec, parse_spec
from mlflow_monitor.stats.performance import PerformanceResult, compute_performance
from mlflow_monitor.stats.profile import DatasetProfile
from mlflow_monitor.stats.segments import SegmentBaseline, reference_segments

__all__ = [
    "BASELINE_FILE",
    "SAMPLE_FILE",
    "Baseline",
    "build_baseline",
    "build_baseline_from_frame",
    "performance_of",
    "profile_columns",
]

BASELINE_FILE = "baseline.json"
SAMPLE_FILE = "sample.parquet"
SCHEMA_VERSION = 1
CHUNK_ROWS = 250_000


@dataclass(frozen=True, eq=False)
class Baseline:
    """Reference profile, performance, segments, fairness and sample of one model version."""

    spec_yaml: str
    profile: DatasetProfile
    performance: PerformanceResult | None
    segments: SegmentBaseline | None
    fairness: object | None
    sample: pd.DataFrame
    rows: int
    created_at: str
    notes: tuple[str, ...] = field(default_factory=tuple)

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

    def save(self, directory: str | Path) -> Path:
        """Write ``baseline.json`` and ``sample.parquet`` into ``directory``."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        body = {
            "schema_version": SCHEMA_VERSION,
            "created_at": self.created_at,
            "rows": self.rows,
            "sample_rows": len(self.sample),
            "notes": list(self.notes),
            "spec_yaml": self.spec_yaml,
            "profile": self.profile.to_dict(),
            "performance": self.performance.to_dict() if self.performance else None,
            "segments": _to_dict(self.segments),
            "fairness": _to_dict(self.fairness),
        }
        (folder / BASELINE_FILE).write_text(json.dumps(body, indent=1, allow_nan=False))
        self.sample.to_parquet(folder / SAMPLE_FILE, index=False)
        return folder

    @classmethod
    def load(cls, directory: str | Path) -> Baseline:
        """Read a baseline directory written by ``save``; errors name the file and key."""
        folder = Path(directory)
        file = folder / BASELINE_FILE
        if not file.is_file():
            raise DataError(f"{file}: baseline file not found")
        body = json.loads(file.read_text())
        if body.get("schema_version") != SCHEMA_VERSION:
            raise DataError(f"{file}: unsupported schema_version {body.get('schema_version')!r}")
        perf = body.get("performance")
        return cls(
            spec_yaml=str(body["spec_yaml"]),
            profile=DatasetProfile.from_dict(body["profile"]),
            performance=PerformanceResult.from_dict(perf) if perf else None,
            segments=_segments_from_dict(body.get("segments")),
            fairness=_fairness_from_dict(body.get("fairness")),
            sample=pd.read_parquet(folder / SAMPLE_FILE),
            rows=int(body["rows"]),
            created_at=str(body["created_at"]),
            notes=tuple(str(n) for n in body.get("notes", [])),
        )


def _to_dict(value: object | None) -> object | None:
    if value is None:
        return None
    to_dict = getattr(value, "to_dict", None)
    if to_dict is None:
        raise DataError(f"baseline: {type(value).__name__} cannot be serialized (no to_dict)")
    body: object = to_dict()
    return body


def _segments_from_dict(raw: object) -> SegmentBaseline | None:
    return None if raw is None else SegmentBaseline.from_dict(raw)  # type: ignore[arg-type]


def _fairness_from_dict(raw: object) -> object | None:
    if raw is None:
        return None
    from mlflow_monitor import fairness

    loader = getattr(fairness, "reference_fairness_from_dict", None)
    if loader is None:
        from mlflow_monitor.stats.fairness import FairnessReport

        return FairnessReport.from_dict(raw)  # type: ignore[arg-type]
    loaded: object = loader(raw)
    return loaded


# -- building -------------------------------------------------------------------------------


def profile_columns(
    spec: MonitorSpec, available: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """(numerical, categorical) columns a profile covers: features, score, prediction, target.

    Prediction and target are categorical for classification, numerical for regression.
    ``available`` limits the list to columns present (the target may be absent).
    """
    cols = spec.columns
    numerical = [*cols.numerical, *([cols.score] if cols.score else []), *cols.probabilities]
    categorical = list(cols.categorical)
    outputs = [c for c in (cols.prediction, cols.target) if c]
    (numerical if spec.task == "regression" else categorical).extend(outputs)
    if available is not None:
        keep = set(available)
        numerical = [c for c in numerical if c in keep]
        categorical = [c for c in categorical if c in keep]
    return list(dict.fromkeys(numerical)), list(dict.fromkeys(categorical))


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


def build_baseline(
    spec: MonitorSpec, path: str | Path, *, chunk_rows: int = CHUNK_ROWS
) -> Baseline:
    """Build the baseline from a reference file (parquet file/directory or CSV)."""
    info = data.validate_data(spec, path, what="reference")
    wanted = data.monitored_columns(spec, info)
    if info.rows is not None and info.rows <= chunk_rows:
        return build_baseline_from_frame(spec, data.read_frame(info.path, wanted))
    sample, rows = _reservoir(data.iter_chunks(info.path, wanted, chunk_rows), spec)
    if rows == 0:
        raise DataError(f"{info.path.name}: the reference is empty (0 rows)")
    numerical, categorical = profile_columns(spec, wanted)
    edges = DatasetProfile.from_frame(
        sample, numerical=numerical, categorical=categorical, bins=spec.drift.bins
    )
    profile = DatasetProfile.from_chunks(
        data.iter_chunks(info.path, wanted, chunk_rows),
        numerical=numerical,
        categorical=categorical,
        reference=edges,
    )
    note = f"performance, segments and fairness on a seeded sample of {len(sample)} of {rows} rows"
    return _assemble(spec, profile, sample, sample, rows, (note,))


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
    return Baseline(
        spec_yaml=spec.to_yaml(),
        profile=profile,
        performance=performance_of(spec, frame),
        segments=_reference_segments(spec, frame),
        fairness=_reference_fairness(spec, frame),
        sample=sample,
        rows=rows,
        created_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        notes=notes,
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
    )


def _reference_fairness(spec: MonitorSpec, frame: pd.DataFrame) -> object | None:
    """The fairness room's reference (``fairness.reference_fairness``) when that room exists."""
    if not spec.columns.protected:
        return None
    try:
        from mlflow_monitor import fairness
    except ImportError:
        return None
    reference = getattr(fairness, "reference_fairness", None)
    return None if reference is None else reference(spec, frame)


def _sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    return frame.sample(n=rows, random_state=seed).sort_index().reset_index(drop=True)


def _reservoir(chunks: object, spec: MonitorSpec) -> tuple[pd.DataFrame, int]:
    """Uniform seeded sample of ``baseline_rows`` rows across chunks: keep the smallest keys."""
    rng = np.random.default_rng(spec.sampling.seed)
    limit = spec.sampling.baseline_rows
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    rows = 0
    for chunk in chunks:  # type: ignore[attr-defined]
        rows += len(chunk)
        chunk_keys = rng.random(len(chunk))
        merged = chunk if kept is None else pd.concat([kept, chunk], ignore_index=True)
        all_keys = np.concatenate([keys, chunk_keys])
        if len(merged) > limit:
            order = np.argpartition(all_keys, limit - 1)[:limit]
            merged, all_keys = merged.iloc[order].reset_index(drop=True), all_keys[order]
        kept, keys = merged, all_keys
    return (kept if kept is not None else pd.DataFrame()), rows
