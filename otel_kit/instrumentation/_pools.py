"""Connection-pool metrics per the database semantic conventions, for SQLAlchemy and psycopg pools.

- ``db.client.connection.count`` (by ``db.client.connection.state``: ``idle`` / ``used``)
- ``db.client.connection.max`` and ``db.client.connection.pending_requests``
- ``db.client.connection.wait_time`` (seconds to get a connection from the pool)
- ``db.client.connection.timeouts`` (requests that gave up waiting)

all with ``db.client.connection.pool.name``. Pools are held weakly: a pool the application drops
stops being reported. ``count``/``max``/``pending`` are read when the metrics are collected (off
the request path); wait times are recorded where the integrations hand out connections.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

POOL_NAME = "db.client.connection.pool.name"
STATE = "db.client.connection.state"
# The semantic conventions' buckets for connection wait and use times (seconds).
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)


@dataclass(frozen=True)
class PoolState:
    idle: int
    used: int
    max: int | None = None
    pending: int | None = None


class PoolRegistry:
    """The pools seen so far and the instruments that report them."""

    def __init__(self) -> None:
        self._pools: weakref.WeakKeyDictionary[Any, tuple[str, Callable[[Any], PoolState]]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._meter: Any = None
        self._wait: Any = None
        self._timeouts: Any = None

    def known(self, pool: Any) -> bool:
        return pool in self._pools

    def add(self, pool: Any, name: str, observe: Callable[[Any], PoolState]) -> None:
        with self._lock:
            self._pools[pool] = (name, observe)

    def name(self, pool: Any) -> str | None:
        entry = self._pools.get(pool)
        return entry[0] if entry is not None else None

    def bind(self, meter: Any) -> None:
        """Create the instruments on ``meter`` (once per meter: every integration calls this)."""
        with self._lock:
            if meter is self._meter:
                return
            self._meter = meter
            meter.create_observable_up_down_counter(
                "db.client.connection.count", callbacks=[self._observe_count], unit="{connection}",
                description="Connections in the pool, by state (idle or used)",
            )
            meter.create_observable_up_down_counter(
                "db.client.connection.max", callbacks=[self._observe_max], unit="{connection}",
                description="The most connections the pool allows",
            )
            meter.create_observable_up_down_counter(
                "db.client.connection.pending_requests", callbacks=[self._observe_pending], unit="{request}",
                description="Requests waiting for a connection",
            )
            self._wait = meter.create_histogram(
                "db.client.connection.wait_time", unit="s", description="Time to obtain a connection from the pool",
                explicit_bucket_boundaries_advisory=list(WAIT_BUCKETS),
            )
            self._timeouts = meter.create_counter(
                "db.client.connection.timeouts", unit="{timeout}", description="Connection requests that timed out waiting for the pool",
            )

    def unbind(self) -> None:
        with self._lock:
            self._meter = self._wait = self._timeouts = None

    def waited(self, pool: Any, seconds: float) -> None:
        histogram = self._wait
        name = self.name(pool)
        if histogram is not None and name is not None:
            histogram.record(seconds, {POOL_NAME: name})

    def timeout(self, pool: Any) -> None:
        counter = self._timeouts
        name = self.name(pool)
        if counter is not None and name is not None:
            counter.add(1, {POOL_NAME: name})

    def _states(self) -> list[tuple[str, PoolState]]:
        with self._lock:
            entries = list(self._pools.items())
        states: list[tuple[str, PoolState]] = []
        for pool, (name, observe) in entries:
            try:
                states.append((name, observe(pool)))
            except Exception:  # noqa: BLE001 - a closed or odd pool must not break collection
                continue
        return states

    def _observe_count(self, options: Any) -> Iterable[Any]:
        from opentelemetry.metrics import Observation

        for name, state in self._states():
            yield Observation(state.idle, {POOL_NAME: name, STATE: "idle"})
            yield Observation(state.used, {POOL_NAME: name, STATE: "used"})

    def _observe_max(self, options: Any) -> Iterable[Any]:
        from opentelemetry.metrics import Observation

        for name, state in self._states():
            if state.max is not None:
                yield Observation(state.max, {POOL_NAME: name})

    def _observe_pending(self, options: Any) -> Iterable[Any]:
        from opentelemetry.metrics import Observation

        for name, state in self._states():
            if state.pending is not None:
                yield Observation(state.pending, {POOL_NAME: name})


registry = PoolRegistry()
