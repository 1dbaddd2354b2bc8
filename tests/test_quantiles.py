"""Quantile sketch: accuracy against exact percentiles, bounded size, merging."""

from __future__ import annotations

import math
import random

import pytest

from otel_kit.analysis.quantiles import QuantileSketch


def _exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1) + 0.5)]


@pytest.mark.parametrize("distribution", ["lognormal", "uniform", "exponential", "bimodal"])
def test_relative_error_within_bound(distribution: str) -> None:
    """p50/p95/p99 are within the stated 1 % relative error of exact percentiles."""
    rng = random.Random(7)
    generators = {
        "lognormal": lambda: rng.lognormvariate(-3, 1.2),
        "uniform": lambda: rng.uniform(0.001, 2.0),
        "exponential": lambda: rng.expovariate(20),
        "bimodal": lambda: rng.choice([rng.gauss(0.02, 0.002), rng.gauss(1.5, 0.1)]),
    }
    values = [abs(generators[distribution]()) + 1e-6 for _ in range(20_000)]
    sketch = QuantileSketch(0.01)
    for value in values:
        sketch.add(value)
    worst = 0.0
    for q in (0.5, 0.95, 0.99):
        exact = _exact(values, q)
        error = abs(sketch.quantile(q) - exact) / exact
        worst = max(worst, error)
        assert error <= 0.0101, f"{distribution} q={q}: {error:.4%}"
    print(f"{distribution}: worst relative error {worst:.3%} (bound 1%), {len(sketch)} buckets")


def test_memory_is_bounded() -> None:
    """Values from 1 µs to 1 h stay within ~1,100 buckets."""
    sketch = QuantileSketch(0.01)
    rng = random.Random(1)
    for _ in range(100_000):
        sketch.add(10 ** rng.uniform(-6, 3.56))
    assert len(sketch) <= 1110


def test_merge_equals_combined() -> None:
    """Merging two sketches gives the quantiles of the combined data."""
    a, b, both = QuantileSketch(), QuantileSketch(), QuantileSketch()
    for i in range(1, 1001):
        (a if i % 2 else b).add(i / 1000)
        both.add(i / 1000)
    a.merge(b)
    assert a.count == both.count and a.quantile(0.95) == both.quantile(0.95)
    assert a.max == pytest.approx(1.0) and a.mean == pytest.approx(both.mean)


def test_empty_and_invalid() -> None:
    """An empty sketch reports zeros; bad arguments raise ValueError."""
    sketch = QuantileSketch()
    assert sketch.quantile(0.5) == 0.0 and sketch.max == 0.0
    with pytest.raises(ValueError):
        sketch.quantile(1.5)
    with pytest.raises(ValueError):
        QuantileSketch(0)
