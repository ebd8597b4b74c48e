"""A mergeable value sketch whose result does not depend on how the data was split.

A reference profile's histogram edges used to be the quantiles of the first chunk, so a reference
profiled in partitions (parquet row groups, Spark partitions) got different edges per partition.
``ValueSketch`` makes the edges a function of the whole data's multiset:

- Every finite value has an order-preserving 64-bit key (its IEEE-754 bits, negatives flipped).
  A bucket is ``key >> shift``: buckets are contiguous value ranges, finer near zero and, at
  ``shift = 0``, one distinct value each (a uniform-collapse DDSketch over the float's bits:
  the exponent gives relative accuracy, the mantissa bits kept give the resolution).
- Per bucket the sketch keeps the count (int), the value sum and the largest value.
- The shift is the smallest one that leaves at most ``cap`` non-empty buckets. Bucket counts of a
  union are the sums of the parts' counts at any shift, and the number of buckets only grows
  with the data and only falls with the shift, so merging two sketches at the larger of their
  shifts and coarsening until at most ``cap`` buckets remain gives exactly the sketch of the
  union: whatever the split and the merge order, the same shift, keys, counts and maxima (value
  sums up to float rounding of their order, 1e-12 relative).

``histogram(resolution)`` reads the edges off the merged sketch in the same pass (no second pass
over the data): the largest value of the bucket where the cumulative count first reaches each of
``resolution + 1`` evenly spaced ranks, deduplicated. An edge is a bucket's maximum, so every
bucket lies wholly in one right-closed bin and the bin counts and sums are the buckets' summed:
exact for those edges. The edges depend on the integer counts and exact maxima only.

Resolution. The default cap is 16 buckets per histogram bin (16,000 at the default 1,000 fine
bins), about 512 kB per numerical column in memory while a reference is profiled. A column with
at most ``cap`` distinct values keeps one bucket per value, so its edges are data values at the
quantile ranks (the exact-quantile edges' "lower" rule instead of linear interpolation). Above
it a bucket spans at most 2**shift keys (about 2**(shift - 52) relative width); a bin is never
finer than one bucket, so the largest bin mass is at most max(heaviest bucket, 2 / resolution).
Tolerance against the exact-quantile edges of the previous release: |delta| <= 0.002 for the
KS statistic and normed Wasserstein, <= 0.005 for PSI (asserted at 50,000 rows in
tests/stats/test_sketch.py). Measured (``benchmarks/bench_spark.py --edges``, 1,000,000 +
1,000,000 rows of benchmarks/_data.py, 16 numerical columns, undrifted and drifted 0.3): the
largest bin of a continuous column holds 0.16 % of the reference (exact quantiles: 0.10 %);
|delta| <= 3e-5 (KS), < 1e-5 (Wasserstein), <= 1.7e-4 (PSI).

Cost: the keys, the XOR of neighbouring keys and its bit length (read off the float exponent,
so the shift is found from one ``bincount``, not a search) and one ``reduceat``: ~20 ms per
1,000,000 sorted values, against ~70 ms for the sort the profile does anyway. The reference
profile of benchmarks/bench_stats.py (16 numerical + 7 categorical columns, 1,000,000 rows)
went from 0.35-0.50 s to 0.58-0.74 s (interleaved runs on a loaded 2-core machine); a window's
profile (binned on the baseline's edges) does not build a sketch and is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mlflow_monitor.errors import DataError
from mlflow_monitor.stats._binning import FloatArray, IntArray

__all__ = ["BUCKETS_PER_BIN", "ValueSketch"]

BUCKETS_PER_BIN = 16
"""The sketch keeps at most this many buckets per fine histogram bin."""

KeyArray = npt.NDArray[np.uint64]
_SIGN = np.uint64(1 << 63)
_MAX_SHIFT = 63  # at 63 there are at most 2 buckets (negative, non-negative)


@dataclass(frozen=True, eq=False)
class ValueSketch:
    """Buckets of a column's finite values: sorted keys, counts, value sums and maxima."""

    resolution: int
    shift: int
    keys: KeyArray
    counts: IntArray
    sums: FloatArray
    maxima: FloatArray

    @property
    def cap(self) -> int:
        return self.resolution * BUCKETS_PER_BIN

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    @classmethod
    def of_sorted(cls, values: FloatArray, *, resolution: int) -> ValueSketch:
        """The sketch of ``values``: finite and sorted ascending (``_binning.numeric_column``)."""
        clean = _positive_zeros(values)
        keys = _keys(clean)
        levels = _boundary_levels(keys)
        shift = _smallest_shift(levels, resolution * BUCKETS_PER_BIN)
        bucket_keys, starts = _bucket_starts(keys, levels, shift)
        ends = np.r_[starts[1:], clean.size] if clean.size else starts
        counts = np.diff(np.r_[starts, clean.size]).astype(np.int64)
        sums = np.add.reduceat(clean, starts) if clean.size else np.empty(0)
        maxima = clean[ends - 1] if clean.size else np.empty(0)
        return cls(resolution, shift, bucket_keys, counts, sums.astype(np.float64), maxima)

    def merge(self, other: ValueSketch, column: str) -> ValueSketch:
        """The sketch of both datasets' union (see the module docstring: split-independent)."""
        if self.resolution != other.resolution:
            raise DataError(
                f"column {column!r}: cannot merge sketches of different resolution "
                f"({self.resolution} vs {other.resolution})"
            )
        shift = max(self.shift, other.shift)
        keys = np.concatenate(
            [
                self.keys >> np.uint64(shift - self.shift),
                other.keys >> np.uint64(shift - other.shift),
            ]
        )
        order = np.argsort(keys, kind="stable")
        counts = np.concatenate([self.counts, other.counts])[order]
        sums = np.concatenate([self.sums, other.sums])[order]
        maxima = np.concatenate([self.maxima, other.maxima])[order]
        keys = keys[order]
        levels = _boundary_levels(keys)
        shift_up = _smallest_shift(levels, self.cap)
        keys, starts = _bucket_starts(keys, levels, shift_up)
        return ValueSketch(
            self.resolution,
            shift + shift_up,
            keys,
            np.add.reduceat(counts, starts) if counts.size else counts,
            np.add.reduceat(sums, starts) if sums.size else sums,
            np.maximum.reduceat(maxima, starts) if maxima.size else maxima,
        )

    def histogram(self) -> tuple[FloatArray, IntArray, FloatArray]:
        """Edges, per-bin counts and value sums (``len(edges) + 1`` right-closed bins)."""
        if self.counts.size == 0:
            return np.empty(0), np.zeros(1, np.int64), np.zeros(1)
        cumulative = np.cumsum(self.counts)
        ranks = np.arange(self.resolution + 1) * (cumulative[-1] / self.resolution)
        chosen = np.minimum(np.searchsorted(cumulative, ranks, side="left"), cumulative.size - 1)
        edges = np.unique(self.maxima[chosen])
        bins = np.searchsorted(edges, self.maxima, side="left")
        counts = np.zeros(edges.size + 1, np.int64)
        np.add.at(counts, bins, self.counts)
        sums = np.zeros(edges.size + 1)
        np.add.at(sums, bins, self.sums)
        return edges.astype(np.float64), counts, sums


def _positive_zeros(values: FloatArray) -> FloatArray:
    """-0.0 as 0.0: equal in the sort, so they must share a key (copied only when present)."""
    low = int(np.searchsorted(values, 0.0, side="left"))
    high = int(np.searchsorted(values, 0.0, side="right"))
    if high > low and np.signbit(values[low:high]).any():
        values = values.copy()
        values[low:high] = 0.0
    return values


def _keys(values: FloatArray) -> KeyArray:
    """Order-preserving unsigned keys of finite floats (sorted values give sorted keys).

    Non-negative floats get the sign bit set, negative ones all bits flipped.
    """
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    flip = (bits.view(np.int64) >> 63).view(np.uint64)  # all ones for negatives, else 0
    flip |= _SIGN
    flip ^= bits
    return flip


def _boundary_levels(keys: KeyArray) -> IntArray:
    """For each pair of neighbouring sorted keys, the smallest shift that puts them together.

    Two keys share the bucket ``key >> s`` exactly when their XOR is below ``2**s``, i.e. when
    ``s`` is at least the XOR's bit length. The bit length is read off the XOR's float64 exponent
    (no loop over shifts); above 2**53 the float may round up to the next power of two, which the
    last line corrects.
    """
    xor = keys[1:] ^ keys[:-1]
    levels = (xor.astype(np.float64).view(np.uint64) >> np.uint64(52)).view(np.int64)
    levels -= 1022
    np.maximum(levels, 0, out=levels)  # xor 0: exponent 0
    rounded = np.flatnonzero(levels > 53)
    if rounded.size:
        high = levels[rounded]
        too_far = (xor[rounded] >> (high - 1).astype(np.uint64)) == 0
        levels[rounded[too_far]] -= 1
    return levels


def _smallest_shift(levels: IntArray, cap: int) -> int:
    """The smallest shift leaving at most ``cap`` buckets (``levels``: ``_boundary_levels``)."""
    if levels.size < cap:  # at most cap keys
        return 0
    # boundaries kept at shift s: the pairs whose level exceeds s
    per_level = np.bincount(levels, minlength=_MAX_SHIFT + 2)
    kept_above = np.cumsum(per_level[::-1])[::-1]  # kept_above[s] = pairs with level >= s
    buckets = 1 + np.r_[kept_above[1:], 0]  # buckets[s] = 1 + pairs with level > s
    return int(np.argmax(buckets <= cap))


def _bucket_starts(keys: KeyArray, levels: IntArray, shift: int) -> tuple[KeyArray, IntArray]:
    """Bucket keys at ``shift`` and the index where each bucket starts (``keys`` sorted)."""
    if keys.size == 0:
        return keys, np.empty(0, np.int64)
    starts = np.r_[0, np.flatnonzero(levels > shift) + 1].astype(np.int64)
    return keys[starts] >> np.uint64(shift), starts
