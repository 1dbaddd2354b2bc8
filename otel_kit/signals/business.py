"""Business signals: counters, histograms, up-down counters, gauges, ``@traced`` and ``@timed``.

Instruments may be declared at import time, before ``setup()``: they are created from the
global meter, which OpenTelemetry binds once a provider exists. Each instrument caps its number of
distinct attribute sets; past the cap, measurements go to one ``otel.metric.overflow=true`` series
so that an attribute like a user id cannot explode the metric store.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from opentelemetry import metrics, trace
from opentelemetry.trace import Status, StatusCode

_log = logging.getLogger("otel_kit.business")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MAX_SERIES = 1000
OVERFLOW = {"otel.metric.overflow": True}
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
MONEY_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
COUNT_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
SIZE_BUCKETS = (128, 512, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)

Attributes = Mapping[str, str | bool | int | float] | None


def _meter() -> metrics.Meter:
    return metrics.get_meter("otel_kit.business")


class _Bound:
    """Creates the SDK instrument against the current global provider, again if it changes.

    Instruments are often module-level; re-creating on a provider change keeps them working
    across ``shutdown()`` + ``setup()`` (tests, reloads) at the cost of one identity check.
    """

    def __init__(self, create: Any) -> None:
        self._create = create
        self._provider: Any = None
        self._instrument: Any = None

    def get(self) -> Any:
        provider = metrics.get_meter_provider()
        if provider is not self._provider:
            self._instrument = self._create(_meter())
            self._provider = provider
        return self._instrument


class _Cap:
    """Remembers attribute sets; maps new ones past the limit to the overflow series."""

    def __init__(self, name: str, max_series: int) -> None:
        from otel_kit.config.settings import ConfigError

        if not isinstance(max_series, int) or max_series < 1:
            raise ConfigError("max_series", max_series, "an integer >= 1")
        self.name = name
        self.max_series = max_series
        self._seen: set[frozenset[tuple[str, Any]]] = set()
        self._lock = threading.Lock()
        self.overflowed = 0

    def __call__(self, attributes: Attributes) -> Attributes:
        if not attributes:
            return attributes
        key = frozenset(attributes.items())
        if key in self._seen:
            return attributes
        with self._lock:
            if key in self._seen:
                return attributes
            if len(self._seen) < self.max_series:
                self._seen.add(key)
                return attributes
            self.overflowed += 1
            if self.overflowed == 1:
                _log.warning("otel-kit: metric %r passed %d attribute sets; new sets go to otel.metric.overflow", self.name, self.max_series)
        return OVERFLOW


class Counter:
    """A monotonic counter: ``add(amount, attributes)``."""

    def __init__(self, name: str, *, unit: str = "1", description: str = "", max_series: int = DEFAULT_MAX_SERIES) -> None:
        self._cap = _Cap(name, max_series)
        self._bound = _Bound(lambda meter: meter.create_counter(name, unit=unit, description=description))

    def add(self, amount: float = 1, attributes: Attributes = None) -> None:
        try:
            self._bound.get().add(amount, self._cap(attributes))
        except Exception:  # noqa: BLE001 - a metric must never break business code
            _log.debug("counter add failed", exc_info=True)


class UpDownCounter(Counter):
    """A counter that can go down (queue depth, active sessions)."""

    def __init__(self, name: str, *, unit: str = "1", description: str = "", max_series: int = DEFAULT_MAX_SERIES) -> None:
        self._cap = _Cap(name, max_series)
        self._bound = _Bound(lambda meter: meter.create_up_down_counter(name, unit=unit, description=description))


class Histogram:
    """A distribution: ``record(value, attributes)``; buckets default to request durations."""

    def __init__(
        self,
        name: str,
        *,
        unit: str = "s",
        description: str = "",
        buckets: Sequence[float] | None = None,
        max_series: int = DEFAULT_MAX_SERIES,
    ) -> None:
        from otel_kit.config.settings import ConfigError

        boundaries = list(buckets) if buckets is not None else list(DURATION_BUCKETS)
        numeric = all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in boundaries)
        if not boundaries or not numeric or any(low >= high for low, high in itertools.pairwise(boundaries)):
            raise ConfigError("buckets", buckets, "a non-empty increasing sequence of numbers")
        self._cap = _Cap(name, max_series)
        self._bound = _Bound(
            lambda meter: meter.create_histogram(name, unit=unit, description=description, explicit_bucket_boundaries_advisory=boundaries)
        )

    def record(self, value: float, attributes: Attributes = None) -> None:
        try:
            self._bound.get().record(value, self._cap(attributes))
        except Exception:  # noqa: BLE001
            _log.debug("histogram record failed", exc_info=True)


class Gauge:
    """The current value of something: ``set(value, attributes)``."""

    def __init__(self, name: str, *, unit: str = "1", description: str = "", max_series: int = DEFAULT_MAX_SERIES) -> None:
        self._cap = _Cap(name, max_series)
        self._bound = _Bound(lambda meter: meter.create_gauge(name, unit=unit, description=description))

    def set(self, value: float, attributes: Attributes = None) -> None:
        try:
            self._bound.get().set(value, self._cap(attributes))
        except Exception:  # noqa: BLE001
            _log.debug("gauge set failed", exc_info=True)


def counter(name: str, **kwargs: Any) -> Counter:
    return Counter(name, **kwargs)


def up_down_counter(name: str, **kwargs: Any) -> UpDownCounter:
    return UpDownCounter(name, **kwargs)


def histogram(name: str, **kwargs: Any) -> Histogram:
    return Histogram(name, **kwargs)


def gauge(name: str, **kwargs: Any) -> Gauge:
    return Gauge(name, **kwargs)


def _qualified(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def traced(name: str | Callable[..., Any] | None = None, *, attributes: Attributes = None, record_exception: bool = True) -> Any:
    """Run a sync or async function in a span named after it (or ``name``).

    The exception, if any, is recorded on the span, ``error.type`` is set and it is re-raised.
    Usable bare (``@traced``) or with arguments (``@traced("checkout")``).
    """

    def decorate(function: F) -> F:
        span_name = name if isinstance(name, str) else function.__qualname__
        static = dict(attributes or {})
        static.setdefault("code.function.name", _qualified(function))
        def tracer_now() -> trace.Tracer:
            # per call, so a decorator applied before setup() (or across re-setup) uses the live provider
            return trace.get_tracer_provider().get_tracer("otel_kit.business")

        def fail(span: trace.Span, exc: BaseException) -> None:
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            if record_exception:
                span.record_exception(exc)

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with tracer_now().start_as_current_span(span_name, attributes=static, record_exception=False, set_status_on_exception=False) as span:
                    try:
                        return await function(*args, **kwargs)
                    except BaseException as exc:
                        fail(span, exc)
                        raise

            return cast(F, async_wrapper)

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with tracer_now().start_as_current_span(span_name, attributes=static, record_exception=False, set_status_on_exception=False) as span:
                try:
                    return function(*args, **kwargs)
                except BaseException as exc:
                    fail(span, exc)
                    raise

        return cast(F, wrapper)

    if callable(name):
        return decorate(cast(Callable[..., Any], name))
    return decorate


def timed(name: str | Callable[..., Any] | None = None, *, attributes: Attributes = None, buckets: Sequence[float] | None = None) -> Any:
    """Record a sync or async function's duration (seconds) in a histogram.

    Attributes: ``code.function.name``, ``outcome`` (``ok``/``error``) and ``error.type`` on failure.
    The default histogram name is ``function.duration``.
    """

    def decorate(function: F) -> F:
        metric = Histogram(name if isinstance(name, str) else "function.duration", unit="s", description="Duration of decorated functions", buckets=buckets)
        base = {**(attributes or {}), "code.function.name": _qualified(function)}
        ok = {**base, "outcome": "ok"}

        def record(started: float, exc: BaseException | None) -> None:
            elapsed = time.perf_counter() - started
            metric.record(elapsed, ok if exc is None else {**base, "outcome": "error", "error.type": type(exc).__qualname__})

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    result = await function(*args, **kwargs)
                except BaseException as exc:
                    record(started, exc)
                    raise
                record(started, None)
                return result

            return cast(F, async_wrapper)

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            except BaseException as exc:
                record(started, exc)
                raise
            record(started, None)
            return result

        return cast(F, wrapper)

    if callable(name):
        return decorate(cast(Callable[..., Any], name))
    return decorate
