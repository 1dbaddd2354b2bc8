"""Capture spans, metric points and log records in memory: for otel-kit's tests and yours.

    from otel_kit.testing import capture

    with capture(service_name="shop") as telemetry:
        checkout()
    assert telemetry.span("checkout").attributes["order.id"] == "42"

With pytest, the ``otel_capture`` fixture does the same (the plugin is registered automatically).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_kit
from otel_kit.telemetry import Telemetry


@dataclass(frozen=True)
class MetricPoint:
    """One data point: ``value`` for sums and gauges; ``count``/``sum``/``buckets`` for histograms."""

    name: str
    attributes: dict[str, Any]
    value: float | None = None
    count: int | None = None
    sum: float | None = None
    bucket_counts: tuple[int, ...] = ()
    bounds: tuple[float, ...] = ()
    unit: str = ""


class Capture:
    """What a ``capture()`` block recorded."""

    def __init__(self, telemetry: Telemetry, spans: InMemorySpanExporter, reader: InMemoryMetricReader, logs: InMemoryLogRecordExporter) -> None:
        self.telemetry = telemetry
        self._spans = spans
        self._reader = reader
        self._logs = logs

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self._spans.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        """The one finished span called ``name``; AssertionError if there are none or several."""
        found = [s for s in self.spans if s.name == name]
        assert len(found) == 1, f"expected one span {name!r}, found {len(found)}: {[s.name for s in self.spans]}"
        return found[0]

    def spans_named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name]

    @property
    def logs(self) -> list[Any]:
        return list(self._logs.get_finished_logs())

    def log_records(self, event_name: str | None = None) -> list[Any]:
        records = [r.log_record for r in self.logs]
        return records if event_name is None else [r for r in records if r.event_name == event_name]

    def metric_points(self, name: str | None = None) -> list[MetricPoint]:
        """Collect now and return the points (of one metric when ``name`` is given)."""
        data = self._reader.get_metrics_data()
        points: list[MetricPoint] = []
        if data is None:
            return points
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if name is not None and metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        attributes = dict(point.attributes or {})
                        if isinstance(point, HistogramDataPoint):
                            points.append(MetricPoint(metric.name, attributes, count=point.count, sum=point.sum, bucket_counts=tuple(point.bucket_counts), bounds=tuple(point.explicit_bounds), unit=metric.unit or ""))
                        elif isinstance(point, NumberDataPoint):
                            points.append(MetricPoint(metric.name, attributes, value=point.value, unit=metric.unit or ""))
        return points

    def metric_value(self, name: str, **attributes: Any) -> float:
        """Sum of the values (or histogram counts) of ``name`` whose attributes include ``attributes``."""
        total = 0.0
        for point in self.metric_points(name):
            if all(point.attributes.get(k.replace("__", ".")) == v for k, v in attributes.items()):
                total += point.value if point.value is not None else (point.count or 0)
        return total

    def clear(self) -> None:
        self._spans.clear()
        self._logs.clear()


@contextmanager
def capture(service_name: str = "test-service", **settings: Any) -> Iterator[Capture]:
    """Run ``otel_kit.setup()`` with in-memory exporters; shut down (and restore globals) after.

    Any ``setup()`` keyword works; by default nothing is sent over the network, no console
    handler is added and system metrics are off (they make point counts machine-dependent).
    """
    otel_kit.shutdown()
    spans = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    logs = InMemoryLogRecordExporter()
    settings.setdefault("exporter", "none")
    settings.setdefault("log_format", "none")
    settings.setdefault("system_metrics", False)
    telemetry = otel_kit.setup(
        service_name,
        additional_span_processors=[SimpleSpanProcessor(spans)],
        additional_metric_readers=[reader],
        additional_log_processors=[SimpleLogRecordProcessor(logs)],
        **settings,
    )
    try:
        yield Capture(telemetry, spans, reader, logs)
    finally:
        telemetry.shutdown(timeout=5)


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pass
else:

    @pytest.fixture
    def otel_capture() -> Iterator[Capture]:
        """In-memory capture of everything ``otel_kit.setup()`` records during one test."""
        with capture() as captured:
            yield captured
