"""A log-bucketed quantile sketch: bounded memory, a guaranteed relative error.

Values fall into buckets whose bounds grow by a factor ``gamma = (1 + a) / (1 - a)``; reporting a
bucket's midpoint (in the log sense) is within a relative error ``a`` of any value in it, so any
quantile is accurate to ``a`` (default 1 %). Durations from 1 µs to 1 hour need at most ~1,100
buckets at 1 %, and only the buckets actually hit are stored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

DEFAULT_RELATIVE_ERROR = 0.01
_MIN_VALUE = 1e-9  # below this, values share bucket 0 (durations here are in seconds)
_log, _ceil = math.log, math.ceil  # module globals: add() runs once or twice per span


class QuantileSketch:
    __slots__ = ("_buckets", "_count", "_gamma_log", "_inverse_log", "_max", "_min", "_sum", "_zero", "relative_error")

    def __init__(self, relative_error: float = DEFAULT_RELATIVE_ERROR) -> None:
        if not 0 < relative_error < 1:
            raise ValueError(f"relative_error must be in (0, 1), got {relative_error!r}")
        self.relative_error = relative_error
        self._gamma_log = math.log((1 + relative_error) / (1 - relative_error))
        self._inverse_log = 1 / self._gamma_log  # a multiplication per add instead of a division
        self._buckets: dict[int, int] = {}
        self._zero = 0
        self._count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf

    def add(self, value: float) -> None:
        self._count += 1
        self._sum += value
        if value < self._min:
            self._min = value
        if value > self._max:
            self._max = value
        if value > _MIN_VALUE:
            index = _ceil(_log(value) * self._inverse_log)
            buckets = self._buckets
            buckets[index] = buckets.get(index, 0) + 1
        else:
            self._zero += 1

    def merge(self, other: QuantileSketch) -> None:
        if other._gamma_log != self._gamma_log:
            raise ValueError("cannot merge sketches with different relative errors")
        for index, count in other._buckets.items():
            self._buckets[index] = self._buckets.get(index, 0) + count
        self._zero += other._zero
        self._count += other._count
        self._sum += other._sum
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)

    @property
    def count(self) -> int:
        return self._count

    @property
    def total(self) -> float:
        return self._sum

    @property
    def max(self) -> float:
        return self._max if self._count else 0.0

    @property
    def mean(self) -> float:
        return self._sum / self._count if self._count else 0.0

    def quantile(self, q: float) -> float:
        """The q-quantile (0 <= q <= 1) within ``relative_error``; 0.0 when empty."""
        if not 0 <= q <= 1:
            raise ValueError(f"q must be in [0, 1], got {q!r}")
        if self._count == 0:
            return 0.0
        rank = math.floor(q * (self._count - 1) + 0.5)  # nearest rank, halves rounded up
        seen = self._zero
        if rank < seen:
            return 0.0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen > rank:
                # log-midpoint of (gamma^(i-1), gamma^i]
                estimate = 2 * math.exp(index * self._gamma_log) / (1 + math.exp(self._gamma_log))
                return min(max(estimate, self._min), self._max)
        return self._max

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        return [self.quantile(q) for q in qs]

    def __len__(self) -> int:
        return len(self._buckets)
