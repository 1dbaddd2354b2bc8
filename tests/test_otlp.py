"""Guarded exporters: failures are counted, warnings rate limited, exceptions contained, fork-safe."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_kit.export.otlp import ExportStats, GuardedSpanExporter, OncePerMinuteFilter, _RateLimitedWarning
from otel_kit.export.scrubbing import Scrubber


class _Failing(SpanExporter):
    def __init__(self, mode: str) -> None:
        self.mode = mode

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        if self.mode == "raise":
            raise ConnectionError("collector gone")
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        return None


def _spans(n: int) -> list[Any]:
    tracer = TracerProvider().get_tracer("t")
    spans = []
    for i in range(n):
        with tracer.start_as_current_span(f"s{i}") as span:
            pass
        spans.append(span)
    return spans


@pytest.mark.parametrize("mode", ["fail", "raise"])
def test_failures_counted_and_contained(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    """A failing or raising exporter never raises; dropped spans are counted, one warning logged."""
    stats = ExportStats()
    exporter = GuardedSpanExporter(lambda: _Failing(mode), "http://nowhere", stats, None)
    with caplog.at_level(logging.WARNING, logger="otel_kit.export"):
        for _ in range(5):
            assert exporter.export(_spans(3)) is SpanExportResult.FAILURE
    assert stats.dropped == 15 and stats.failed_exports == 5 and stats.exported == 0
    assert len([r for r in caplog.records if r.name == "otel_kit.export"]) == 1


def test_success_counted_and_scrubbed() -> None:
    """Exported spans are counted and scrubbed before the real exporter sees them."""
    stats = ExportStats()
    memory = InMemorySpanExporter()
    exporter = GuardedSpanExporter(lambda: memory, "memory", stats, Scrubber())
    spans = _spans(2)
    spans[0]._attributes = {"password": "pw"}
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert stats.exported == 2
    assert memory.get_finished_spans()[0].attributes["password"] == "[REDACTED]"


def test_after_shutdown_drops() -> None:
    """After shutdown, exports are refused and counted as dropped."""
    stats = ExportStats()
    exporter = GuardedSpanExporter(InMemorySpanExporter, "memory", stats, None)
    exporter.shutdown()
    assert exporter.export(_spans(1)) is SpanExportResult.FAILURE and stats.dropped == 1


def test_exporter_rebuilt_in_forked_child() -> None:
    """The real exporter is created again in a forked child (a gRPC channel does not survive fork)."""
    built: list[int] = []

    def factory() -> InMemorySpanExporter:
        built.append(os.getpid())
        return InMemorySpanExporter()

    exporter = GuardedSpanExporter(factory, "memory", ExportStats(), None)
    exporter.export(_spans(1))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            exporter.export(_spans(1))
            os.write(write, str(built[-1]).encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    child_builder = int(os.read(read, 64))
    assert child_builder == pid and built == [os.getpid()]


def test_rate_limited_warning_reports_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    """The next warning after the interval says how many were suppressed."""
    warning = _RateLimitedWarning(interval=0.0)
    with caplog.at_level(logging.WARNING, logger="otel_kit.export"):
        assert warning.warn("first")
        assert warning.warn("second")
    limited = _RateLimitedWarning(interval=3600)
    assert limited.warn("a") and not limited.warn("b") and not limited.warn("c")


def test_once_per_minute_filter() -> None:
    """The noisy-logger filter lets a repeated warning through once per interval."""
    log_filter = OncePerMinuteFilter()
    record = logging.makeLogRecord({"name": "opentelemetry.exporter", "msg": "Transient error %s", "levelno": logging.WARNING})
    assert log_filter.filter(record) and not log_filter.filter(record)
    debug = logging.makeLogRecord({"name": "x", "msg": "d", "levelno": logging.DEBUG})
    assert log_filter.filter(debug) and log_filter.filter(debug)
