"""Pure statistics (no MLflow, no files): profiles, drift, performance, quality, segments."""

from mlflow_monitor.stats.bias_drift import BiasChange, BiasDriftReport, compare_fairness
from mlflow_monitor.stats.drift import ColumnDrift, DriftReport, compute_drift, select_method
from mlflow_monitor.stats.fairness import (
    AttributeFairness,
    Disparity,
    FairnessReport,
    GroupMetrics,
    compute_fairness,
)
from mlflow_monitor.stats.paired import MarginDecision, PairedTest, margin_test, paired_test
from mlflow_monitor.stats.performance import (
    PerformanceResult,
    compute_performance,
    default_checks,
    default_metric,
    higher_is_better,
)
from mlflow_monitor.stats.profile import CategoricalProfile, DatasetProfile, NumericProfile
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
    "CategoricalProfile",
    "ColumnDrift",
    "ColumnQuality",
    "DatasetProfile",
    "Disparity",
    "DriftReport",
    "FairnessReport",
    "GroupMetrics",
    "MarginDecision",
    "NumericProfile",
    "PairedTest",
    "PerformanceResult",
    "QualityReport",
    "SegmentBaseline",
    "SegmentReference",
    "SegmentReport",
    "SegmentResult",
    "SegmentRoles",
    "compare_fairness",
    "compute_drift",
    "compute_fairness",
    "compute_performance",
    "compute_quality",
    "compute_segments",
    "default_checks",
    "default_metric",
    "higher_is_better",
    "margin_test",
    "paired_test",
    "reference_segments",
    "select_method",
]
