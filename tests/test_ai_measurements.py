"""Deferred histogram measurements: taken on the call path, recorded into the SDK when a reader collects."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import TracerProvider

from otel_kit.signals import ai
from otel_kit.signals.ai.measurements import DeferredMeasurements
from otel_kit.testing import capture


def _histogram_points(reader: InMemoryMetricReader) -> list[HistogramDataPoint]:
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        point
        for resource in data.resource_metrics for scope in resource.scope_metrics for metric in scope.metrics
        for point in metric.data.data_points if isinstance(point, HistogramDataPoint)
    ]


class _Kept(MetricExporter):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def _meter() -> tuple[InMemoryMetricReader, Any]:
    reader = InMemoryMetricReader()
    return reader, MeterProvider(metric_readers=[reader]).get_meter("test").create_histogram("h", unit="s")


def test_a_call_measures_nothing_in_the_sdk_until_a_collection() -> None:
    """An AI call's histogram measurements wait off the SDK; the next collection has all of them."""
    with capture() as cap:
        monitor = ai.monitor()
        assert monitor is not None
        with ai.operation("openai", "gpt-4o") as op:
            op.record(input_tokens=10, output_tokens=3)
        assert len(monitor._deferred) == 3  # duration, input tokens, output tokens
        assert cap.metric_value("gen_ai.client.operation.duration") == 1
        assert cap.metric_value("gen_ai.client.token.usage", gen_ai__token__type="input") == 1
        assert len(monitor._deferred) == 0 and monitor._deferred.recorded == 3


def test_shutdown_exports_what_is_still_waiting() -> None:
    """The meter provider's final collection at shutdown records and exports the waiting measurements."""
    import otel_kit

    exporter = _Kept()
    otel_kit.shutdown()
    telemetry = otel_kit.setup(
        "t", exporter="none", log_format="none", system_metrics=False,
        additional_metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)],
    )
    with ai.operation("openai", "gpt-4o") as op:
        op.record(input_tokens=10, output_tokens=3)
    assert telemetry.ai is not None and len(telemetry.ai._deferred) == 3
    telemetry.shutdown(timeout=5)
    counts = [
        point.count for data in exporter.batches for rm in data.resource_metrics for sm in rm.scope_metrics
        for metric in sm.metrics if metric.name == "gen_ai.client.operation.duration" for point in metric.data.data_points
    ]
    assert counts == [1]


def test_the_exemplar_is_the_operations_span() -> None:
    """A drained measurement's exemplar carries the sampled span it was taken under, not the drainer's."""
    reader, histogram = _meter()
    deferred = DeferredMeasurements()
    deferred.add(histogram, 0.25, {"k": "v"}, 0x1234, 0x99)
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("someone else's"):
        deferred.add(histogram, 0.5, {"k": "w"}, 0, 0)  # not sampled: no exemplar
        deferred.drain()
    points = {point.attributes["k"]: point for point in _histogram_points(reader)}
    (exemplar,) = points["v"].exemplars
    assert (exemplar.trace_id, exemplar.span_id, exemplar.value) == (0x1234, 0x99, 0.25)
    assert points["w"].exemplars == []


def test_a_background_thread_drains_a_busy_queue() -> None:
    """Past wake_at waiting measurements, a background thread records them without any collection."""
    reader, histogram = _meter()
    deferred = DeferredMeasurements(wake_at=10)
    for index in range(25):
        deferred.add(histogram, float(index), {}, 0, 0)
    deadline = time.monotonic() + 10
    while deferred.recorded < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert deferred.recorded >= 10  # at least the batch that woke it; the rest may be below wake_at
    assert deferred._thread is not None and deferred._thread.name == "otel-kit-ai-metrics"
    deferred.drain()
    assert [point.count for point in _histogram_points(reader)] == [25]
    deferred.close()
    deferred._thread.join(5)
    assert not deferred._thread.is_alive()


def test_past_the_limit_the_caller_records_directly() -> None:
    """When the queue is full, the measurement goes straight to the SDK: bounded memory, nothing dropped."""
    reader, histogram = _meter()
    deferred = DeferredMeasurements(wake_at=1_000, limit=5)
    deferred._start_drainer = lambda: None  # type: ignore[method-assign]  # keep the queue full
    for index in range(8):
        deferred.add(histogram, float(index), {}, 0, 0)
    assert len(deferred) == 5
    assert [point.count for point in _histogram_points(reader)] == [3]
    deferred.drain()
    assert [point.count for point in _histogram_points(reader)] == [8]


def test_a_failing_record_is_reported_and_the_rest_recorded() -> None:
    """A histogram that raises is passed to on_error; drain never raises and records the others."""
    reader, histogram = _meter()
    errors: list[BaseException] = []

    class Broken:
        def record(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("boom")

    deferred = DeferredMeasurements(on_error=errors.append)
    deferred.add(Broken(), 1.0, {}, 0, 0)
    deferred.add(histogram, 2.0, {}, 0, 0)
    assert deferred.drain() == 2
    assert [type(error) for error in errors] == [RuntimeError]
    assert [point.sum for point in _histogram_points(reader)] == [2.0]


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="needs os.fork")
def test_a_forked_child_starts_empty() -> None:
    """The child of a fork does not record the parent's waiting measurements again."""
    _, histogram = _meter()
    deferred = DeferredMeasurements()
    deferred.add(histogram, 1.0, {}, 0, 0)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os._exit(0 if len(deferred) == 0 and deferred.drain() == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(deferred) == 1


def test_shutdown_stops_the_background_thread() -> None:
    """otel_kit.shutdown() ends the monitor's drain thread after the final collection."""
    with capture():
        monitor = ai.monitor()
        assert monitor is not None
        deferred = monitor._deferred
        deferred._wake_slots = 5  # one operation's measurements wake it
        with ai.operation("openai", "gpt-4o") as op:
            op.record(input_tokens=1, output_tokens=1)
        thread = deferred._thread
        assert thread is not None and thread.is_alive()
    thread.join(5)
    assert not thread.is_alive()


def test_concurrent_calls_collections_and_the_drainer_lose_nothing() -> None:
    """Threads taking measurements while a reader collects and the drainer runs: every one is counted once."""
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    histogram = meter.create_histogram("h")
    deferred = DeferredMeasurements(wake_at=50)

    def drain_at_collection(options: Any) -> list[Any]:
        deferred.drain()
        return []

    meter.create_observable_gauge("drains", callbacks=[drain_at_collection])
    done = threading.Event()
    collections = 0

    def collect() -> None:
        nonlocal collections
        while not done.is_set():
            _histogram_points(reader)
            collections += 1

    def call(thread: int) -> None:
        for index in range(3_000):
            deferred.add(histogram, float(index), {"thread": thread % 2}, 0, 0)

    collector = threading.Thread(target=collect)
    collector.start()
    callers = [threading.Thread(target=call, args=(n,)) for n in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    done.set()
    collector.join()
    deferred.drain()
    assert sum(point.count for point in _histogram_points(reader)) == 12_000
    assert deferred.recorded == 12_000 and len(deferred) == 0
    assert collections > 0
    deferred.close()
