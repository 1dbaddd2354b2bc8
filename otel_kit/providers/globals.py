"""Install and release the process-wide OpenTelemetry providers.

The OpenTelemetry API lets a global provider be set only once per process. otel-kit releases the
globals it set when it shuts down, so ``setup()`` -> ``shutdown()`` -> ``setup()`` works (tests
and reloading services need it). It never releases a provider somebody else installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import _internal as logs_internal
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.util._once import Once

_P = TypeVar("_P")
_collectors: list[list[Any]] = []


@contextmanager
def collecting() -> Iterator[list[Any]]:
    """Collect every provider built inside the block.

    A provider starts threads when it is built (batch processors, the periodic metric reader);
    if ``setup()`` fails half-way it must shut down the ones it built, even those it never got back.
    """
    built: list[Any] = []
    _collectors.append(built)
    try:
        yield built
    finally:
        _collectors.remove(built)


def built(provider: _P) -> _P:
    """Called by the builders with each new provider; returns it."""
    for collector in _collectors:
        collector.append(provider)
    return provider


def install(tracer_provider: Any, meter_provider: Any, logger_provider: Any) -> None:
    if meter_provider is not None:
        metrics.set_meter_provider(meter_provider)
    if logger_provider is not None:
        _logs.set_logger_provider(logger_provider)
    if tracer_provider is not None:
        trace.set_tracer_provider(tracer_provider)


def release(tracer_provider: Any, meter_provider: Any, logger_provider: Any) -> None:
    if tracer_provider is not None and trace._TRACER_PROVIDER is tracer_provider:
        trace._TRACER_PROVIDER = None
        trace._TRACER_PROVIDER_SET_ONCE = Once()
    if meter_provider is not None and metrics_internal._METER_PROVIDER is meter_provider:
        metrics_internal._METER_PROVIDER = None
        metrics_internal._METER_PROVIDER_SET_ONCE = Once()
        # Meters requested from now on are proxies again, rebound by the next setup().
        proxy = metrics_internal._PROXY_METER_PROVIDER
        with proxy._lock:
            proxy._real_meter_provider = None
    if logger_provider is not None and logs_internal._LOGGER_PROVIDER is logger_provider:
        logs_internal._LOGGER_PROVIDER = None
        logs_internal._LOGGER_PROVIDER_SET_ONCE = Once()
