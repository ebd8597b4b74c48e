"""Pure statistics (no MLflow, no files): profiles, drift, performance, quality, segments."""

from mlflow_monitor.stats.bias_drift import BiasChange, BiasDriftReport, compare_fairness
from mlflow_monitor.stats.fairness import (
    AttributeFairness,
    Disparity,
    FairnessReport,
    GroupMetrics,
    compute_fairness,
)
from mlflow_monitor.stats.performance import (
    PerformanceResult,
    compute_performance,
    default_checks,
    default_metric,
    higher_is_better,
)
from mlflow_monitor.stats.quality import ColumnQuality, QualityReport, compute_quality
from mlflow_monitor.stats.segments import (
    SegmentBaseline,
    SegmentReference,
    SegmentReport,
    SegmentResult,
    SegmentRoles,
    compute_segments,
    reference_segments,
)

__all__ = [
    "AttributeFairness",
    "BiasChange",
    "BiasDriftReport",
    "ColumnQuality",
    "Disparity",
    "FairnessReport",
    "GroupMetrics",
    "PerformanceResult",
    "QualityReport",
    "SegmentBaseline",
    "SegmentReference",
    "SegmentReport",
    "SegmentResult",
    "SegmentRoles",
    "compare_fairness",
    "compute_fairness",
    "compute_performance",
    "compute_quality",
    "compute_segments",
    "default_checks",
    "default_metric",
    "higher_is_better",
    "reference_segments",
]
