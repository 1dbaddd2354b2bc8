"""OTLP exporters over the wire: scrubbed, encoded, queued; outages lose nothing; shutdown is bounded and accounted."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

import otel_kit
from otel_kit.export.otlp import OtlpSpanExporter, RateLimitedWarning
from otel_kit.export.outbox import ByteBudget, ExportStats, Outbox
from otel_kit.receiver import Receiver
from otel_kit.redaction.scrubbing import Scrubber


def _spans(n: int) -> list[Any]:
    tracer = TracerProvider().get_tracer("t")
    spans = []
    for i in range(n):
        with tracer.start_as_current_span(f"s{i}") as span:
            span.set_attribute("password", "hunter2-secret")
        spans.append(span)
    return spans


@pytest.fixture(params=["grpc", "http/protobuf"])
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    with Receiver("grpc" if request.param == "grpc" else "http") as running:
        yield running


def _setup(receiver: Receiver, **settings: Any) -> otel_kit.Telemetry:
    protocol = "grpc" if receiver.protocol == "grpc" else "http/protobuf"
    defaults: dict[str, Any] = {
        "endpoint": receiver.endpoint, "protocol": protocol, "log_format": "none", "system_metrics": False, "metric_interval": 0.2,
        "shutdown_timeout": 3.0,
    }
    defaults.update(settings)
    return otel_kit.setup("wire-svc", **defaults)


def test_exporter_scrubs_before_encoding() -> None:
    """The bytes handed to the outbox are encoded OTLP with secrets already redacted."""
    received: list[bytes] = []

    class Capture:
        def send(self, payload: bytes, timeout: float) -> Any:
            from otel_kit.export.transport import Outcome, Result

            received.append(payload)
            return Result(Outcome.SENT)

        def close(self) -> None:
            return None

    outbox = Outbox("spans", "capture", Capture, ExportStats(), export_timeout=1, budget=ByteBudget(1 << 20))
    exporter = OtlpSpanExporter(outbox, Scrubber())
    assert exporter.export(_spans(3)) is SpanExportResult.SUCCESS
    assert exporter.force_flush(5000)
    assert received and b"hunter2-secret" not in b"".join(received) and b"[REDACTED]" in received[0]
    assert outbox.stats.exported == 3


def test_unencodable_batch_is_dropped_not_raised() -> None:
    """A batch that cannot be scrubbed or encoded is counted as dropped; export() never raises."""

    class Broken(Scrubber):
        def spans(self, spans: Any) -> None:
            raise RuntimeError("boom")

    outbox = Outbox("spans", "x", lambda: None, ExportStats(), export_timeout=1, budget=ByteBudget(1 << 20))  # type: ignore[arg-type, return-value]
    exporter = OtlpSpanExporter(outbox, Broken())
    assert exporter.export(_spans(2)) is SpanExportResult.FAILURE
    assert outbox.stats.dropped == 2


def test_outage_loses_nothing_and_sends_no_duplicates(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans, logs and metrics recorded while the collector is down all arrive, once each, when it is back."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "50")
    monkeypatch.setattr("otel_kit.export.outbox.BACKOFF_MAX", 0.3)
    telemetry = _setup(receiver)
    counter = telemetry.meter.create_counter("wire.requests")
    log = logging.getLogger("wire")

    def burst(tag: str, n: int) -> None:
        for index in range(n):
            with telemetry.tracer.start_as_current_span(f"{tag}-{index}"):
                log.warning("request %s-%d", tag, index)
                counter.add(1, {"phase": tag})

    burst("before", 30)
    assert receiver.wait_for_spans(30)
    receiver.set_mode("closed")
    burst("during", 300)
    # Reopen only after a send has failed: a queued batch alone proves nothing was retried.
    assert receiver.wait_for(lambda: telemetry.stats["spans"].retried > 0 and telemetry.pending()["spans"] > 0)
    receiver.set_mode("accept")
    burst("after", 30)
    assert receiver.wait_for(lambda: len(receiver.spans()) >= 360 and len(receiver.log_records()) >= 360, timeout=20)
    names = [span.name for span in receiver.spans()]
    assert len(names) == len(set(names)) == 360
    bodies = [record["body"] for record in receiver.log_records()]
    assert len(bodies) == len(set(bodies)) == 360
    assert receiver.wait_for(lambda: "wire.requests" in receiver.metric_names()), (telemetry.stats["metrics"].as_dict(), telemetry.pending())
    assert telemetry.dropped() == {"spans": 0, "metrics": 0, "logs": 0}


def test_shutdown_exports_the_final_metrics(receiver: Receiver) -> None:
    """Metrics recorded just before shutdown (well inside the export interval) are exported by it."""
    telemetry = _setup(receiver, metric_interval=3600)
    telemetry.meter.create_counter("wire.final").add(5)
    assert telemetry.shutdown()
    points = [point for name, point in receiver.metric_points() if name == "wire.final"]
    assert points and points[-1].as_int == 5


def test_final_collection_includes_system_metrics(receiver: Receiver) -> None:
    """The system metrics are still registered when shutdown takes the last collection."""
    telemetry = _setup(receiver, metric_interval=3600, system_metrics=True)
    assert telemetry.shutdown()
    assert "process.uptime" in receiver.metric_names()


def test_shutdown_counts_what_it_abandons(receiver: Receiver) -> None:
    """With the collector gone, shutdown gives up and every unsent span is counted in dropped()."""
    telemetry = _setup(receiver, shutdown_timeout=1.0)
    receiver.set_mode("closed")
    for index in range(600):
        with telemetry.tracer.start_as_current_span(f"s{index}"):
            pass
    telemetry.shutdown()
    assert telemetry.dropped()["spans"] == 600
    assert telemetry.pending()["spans"] == 0


def test_blackholed_collector_does_not_hold_shutdown(receiver: Receiver) -> None:
    """A collector that accepts connections and never answers cannot keep shutdown() waiting past its budget."""
    telemetry = _setup(receiver, shutdown_timeout=1.0, export_timeout=30.0)
    receiver.set_mode("blackhole")
    with telemetry.tracer.start_as_current_span("stuck"):
        pass
    started = time.monotonic()
    telemetry.shutdown()
    # Not a speed assertion: without the delivery deadline this waits the 30 s export timeout.
    assert time.monotonic() - started < 15
    assert telemetry.dropped()["spans"] == 1


def test_spool_directory_carries_data_across_processes(tmp_path: Any, receiver: Receiver) -> None:
    """Spans unsent at shutdown are spooled and delivered by the next setup() on the same directory."""
    telemetry = _setup(receiver, export_spool_dir=str(tmp_path), shutdown_timeout=1.0)
    receiver.set_mode("closed")
    with telemetry.tracer.start_as_current_span("kept-on-disk"):
        pass
    telemetry.shutdown()
    assert telemetry.dropped()["spans"] == 0 and telemetry.stats["spans"].spooled == 1
    receiver.set_mode("accept")
    _setup(receiver, export_spool_dir=str(tmp_path))
    assert receiver.wait_for(lambda: "kept-on-disk" in [s.name for s in receiver.spans()])


def test_rate_limited_warning_reports_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    """The next warning after the interval says how many were suppressed."""
    warning = RateLimitedWarning(interval=0.0)
    with caplog.at_level(logging.WARNING, logger="otel_kit.export"):
        assert warning.warn("first")
        assert warning.warn("second")
    limited = RateLimitedWarning(interval=3600)
    assert limited.warn("a") and not limited.warn("b") and not limited.warn("c")


def test_export_health_is_a_metric(receiver: Receiver) -> None:
    """Drops and waiting items are exported as otel_kit.export.* metrics, delivered once the collector is back."""
    telemetry = _setup(receiver, export_buffer_mb=0.1, shutdown_timeout=2.0)
    receiver.set_mode("closed")
    for index in range(300):
        with telemetry.tracer.start_as_current_span(f"overflow-{index}", attributes={"pad": "x" * 400}):
            pass
    assert receiver.wait_for(lambda: telemetry.dropped()["spans"] > 0)
    receiver.set_mode("accept")
    telemetry.force_flush(10)

    def dropped_points() -> list[int]:
        return [
            p.as_int for n, p in receiver.metric_points()
            if n == "otel_kit.export.items" and {kv.key: kv.value.string_value for kv in p.attributes} == {"otel_kit.signal": "spans", "otel_kit.outcome": "dropped"}
        ]

    assert receiver.wait_for(lambda: any(v > 0 for v in dropped_points()), timeout=15)
    assert "otel_kit.export.pending" in receiver.metric_names()
