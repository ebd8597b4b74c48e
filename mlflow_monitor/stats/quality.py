"""Data quality of one window against the reference profile: schema, missing, ranges, categories.

Per monitored column: present in the frame, type as declared (a numerical column holding values
that are not numbers), missing share, infinite values, share outside the reference's
[min, max] (numerical; infinities count as outside), share of categories never seen in the
reference (categorical, compared by string form as the profile keys them). Shares are fractions
of the window's rows; with no rows they are None (``insufficient_data`` upstream), never NaN.
Every count is one vectorized pass per column (isna, to_numeric, comparisons, isin).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import pandas as pd

from mlflow_monitor.errors import DataError
from mlflow_monitor.stats.profile import CategoricalProfile, DatasetProfile, NumericProfile

__all__ = ["ColumnQuality", "QualityReport", "compute_quality"]

ColumnKind = Literal["numerical", "categorical"]
_EXAMPLES = 10
_C = TypeVar("_C", NumericProfile, CategoricalProfile)


@dataclass(frozen=True)
class ColumnQuality:
    """Quality counts of one column; ``*_share`` are fractions of the window's rows (or None)."""

    column: str
    kind: ColumnKind
    present: bool
    dtype: str
    dtype_ok: bool
    rows: int
    missing: int = 0
    non_numeric: int = 0
    infinite: int = 0
    out_of_range: int | None = None
    unseen: int | None = None
    unseen_values: tuple[str, ...] = ()
    note: str = ""

    @property
    def missing_share(self) -> float | None:
        return _share(self.missing if self.present else None, self.rows)

    @property
    def out_of_range_share(self) -> float | None:
        return _share(self.out_of_range, self.rows)

    @property
    def unseen_share(self) -> float | None:
        return _share(self.unseen, self.rows)

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "kind": self.kind,
            "present": self.present,
            "dtype": self.dtype,
            "dtype_ok": self.dtype_ok,
            "rows": self.rows,
            "missing": self.missing,
            "non_numeric": self.non_numeric,
            "infinite": self.infinite,
            "out_of_range": self.out_of_range,
            "unseen": self.unseen,
            "unseen_values": list(self.unseen_values),
            "missing_share": self.missing_share,
            "out_of_range_share": self.out_of_range_share,
            "unseen_share": self.unseen_share,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ColumnQuality:
        kind = data.get("kind")
        if kind not in ("numerical", "categorical"):
            raise DataError(f"quality column kind {kind!r} is not numerical or categorical")
        values = data.get("unseen_values", [])
        if not isinstance(values, list):
            raise DataError("quality.unseen_values: expected a list")
        return cls(
            column=str(data.get("column")),
            kind=kind,
            present=bool(data.get("present")),
            dtype=str(data.get("dtype")),
            dtype_ok=bool(data.get("dtype_ok")),
            rows=_int(data, "rows"),
            missing=_int(data, "missing"),
            non_numeric=_int(data, "non_numeric"),
            infinite=_int(data, "infinite"),
            out_of_range=_optional_int(data, "out_of_range"),
            unseen=_optional_int(data, "unseen"),
            unseen_values=tuple(str(v) for v in values),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class QualityReport:
    """Window-level quality: row count, per-column results, and columns absent from the frame."""

    rows: int
    columns: tuple[ColumnQuality, ...]

    @property
    def missing_columns(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if not c.present)

    @property
    def wrong_type(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.present and not c.dtype_ok)

    def get(self, column: str) -> ColumnQuality:
        for result in self.columns:
            if result.column == column:
                return result
        raise KeyError(column)

    def metrics(self) -> dict[str, float]:
        """Values to log, named ``quality/<column>/<check>`` (undefined shares left out)."""
        values: dict[str, float] = {"quality/rows": float(self.rows)}
        for c in self.columns:
            shares = {
                "missing_share": c.missing_share,
                "out_of_range_share": c.out_of_range_share,
                "unseen_share": c.unseen_share,
            }
            for check, share in shares.items():
                if share is not None:
                    values[f"quality/{c.column}/{check}"] = share
        return values

    def to_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "missing_columns": list(self.missing_columns),
            "wrong_type": list(self.wrong_type),
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> QualityReport:
        raw = data.get("columns")
        if not isinstance(raw, list):
            raise DataError("quality.columns: expected a list")
        return cls(_int(data, "rows"), tuple(ColumnQuality.from_dict(c) for c in raw))


def compute_quality(
    frame: pd.DataFrame,
    reference: DatasetProfile,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
) -> QualityReport:
    """Quality of ``frame`` for the declared columns, against the reference profile."""
    rows = len(frame)
    results = [_numerical(frame, name, reference) for name in numerical]
    results += [_categorical(frame, name, reference) for name in categorical]
    return QualityReport(rows, tuple(results))


def _absent(name: str, kind: ColumnKind, rows: int) -> ColumnQuality:
    return ColumnQuality(
        name, kind, present=False, dtype="", dtype_ok=False, rows=rows,
        note=f"column {name!r} is missing from the data",
    )  # fmt: skip


def _numerical(frame: pd.DataFrame, name: str, reference: DatasetProfile) -> ColumnQuality:
    if name not in frame.columns:
        return _absent(name, "numerical", len(frame))
    series = frame[name]
    values, non_numeric = _as_float(series)
    missing = int(series.isna().sum())
    infinite = int(np.isinf(values).sum())
    out_of_range, note = _outside(values, _reference_column(reference, name, NumericProfile))
    if non_numeric:
        note = _join(note, f"{non_numeric} values are not numbers (dtype {series.dtype})")
    return ColumnQuality(
        name, "numerical", present=True, dtype=str(series.dtype), dtype_ok=non_numeric == 0,
        rows=len(frame), missing=missing, non_numeric=non_numeric, infinite=infinite,
        out_of_range=out_of_range, note=note,
    )  # fmt: skip


def _as_float(series: pd.Series) -> tuple[np.ndarray, int]:
    """Float values (non-numbers become NaN) and how many non-missing values were not numbers."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan), 0
    coerced = pd.to_numeric(series, errors="coerce")
    non_numeric = int((coerced.isna() & series.notna()).sum())
    return coerced.to_numpy(dtype=np.float64, na_value=np.nan), non_numeric


def _outside(values: np.ndarray, column: NumericProfile | None) -> tuple[int | None, str]:
    if column is None:
        return None, "not in the reference profile"
    if column.count == 0:
        return None, "reference has no finite values: range undefined"
    low, high = column.moments.minimum, column.moments.maximum
    return int(((values < low) | (values > high)).sum()), ""


def _categorical(frame: pd.DataFrame, name: str, reference: DatasetProfile) -> ColumnQuality:
    if name not in frame.columns:
        return _absent(name, "categorical", len(frame))
    series = frame[name]
    missing = int(series.isna().sum())
    column = _reference_column(reference, name, CategoricalProfile)
    unseen: int | None = None
    examples: tuple[str, ...] = ()
    note = "not in the reference profile" if column is None else ""
    if column is not None:
        unseen, examples = _unseen(series, column)
        if column.other:
            note = f"reference folded {column.other} rare values into 'other'; they count as unseen"
    return ColumnQuality(
        name, "categorical", present=True, dtype=str(series.dtype), dtype_ok=True,
        rows=len(frame), missing=missing, unseen=unseen, unseen_values=examples, note=note,
    )  # fmt: skip


def _unseen(series: pd.Series, column: CategoricalProfile) -> tuple[int, tuple[str, ...]]:
    """Values whose string form is not a reference category; the most frequent as examples."""
    counts = series.value_counts(dropna=True, sort=False)
    counts = counts[counts > 0]
    keyed = pd.Series(counts.to_numpy(dtype=np.int64), index=counts.index.map(str))
    keyed = keyed.groupby(level=0, sort=False).sum()
    new = keyed[~keyed.index.isin(column.categories)].sort_values(ascending=False, kind="stable")
    return int(new.sum()), tuple(str(v) for v in new.index[:_EXAMPLES])


def _reference_column(reference: DatasetProfile, name: str, kind: type[_C]) -> _C | None:
    column = reference.columns.get(name)
    if column is not None and not isinstance(column, kind):
        raise DataError(f"column {name!r} is {column.kind} in the reference profile")
    return column


def _share(count: int | None, rows: int) -> float | None:
    return None if count is None or rows == 0 else count / rows


def _join(left: str, right: str) -> str:
    return f"{left}; {right}" if left else right


def _int(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int):
        raise DataError(f"quality.{key}: expected an integer, got {value!r}")
    return value


def _optional_int(data: Mapping[str, object], key: str) -> int | None:
    return None if data.get(key) is None else _int(data, key)
