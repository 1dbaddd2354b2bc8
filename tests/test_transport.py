"""Transports: one attempt per send over gRPC and HTTP, classified as sent, retry or rejected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_kit.export import transport
from otel_kit.export.transport import Outcome
from otel_kit.receiver import Receiver

PAYLOAD = ExportTraceServiceRequest().SerializeToString()


@pytest.fixture(params=["grpc", "http"])
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    with Receiver(request.param) as running:
        yield running


def _transport(receiver: Receiver, headers: dict[str, str] | None = None) -> transport.Transport:
    endpoint = receiver.endpoint if receiver.protocol == "grpc" else receiver.endpoint + "/v1/traces"
    protocol = "grpc" if receiver.protocol == "grpc" else "http/protobuf"
    built: transport.Transport = transport.factory(endpoint, protocol, "TRACES", headers=headers or {}, insecure=None)()
    return built


def test_sent_when_the_receiver_accepts(receiver: Receiver) -> None:
    """A healthy receiver gets the bytes exactly as encoded."""
    sender = _transport(receiver, {"X-Api-Key": "k"})
    assert sender.send(b"\x0a\x00", 5).outcome is Outcome.SENT
    assert receiver.payloads == [("traces", b"\x0a\x00")]
    sender.close()


@pytest.mark.parametrize("mode", ["closed", "unavailable", "blackhole"])
def test_outages_are_retryable(receiver: Receiver, mode: str) -> None:
    """Refused, unavailable and unanswered sends all say 'retry', each within its timeout."""
    sender = _transport(receiver)
    receiver.set_mode(mode)
    result = sender.send(PAYLOAD, 0.3)
    assert result.outcome is Outcome.RETRY and result.detail
    receiver.set_mode("accept")
    sender.close()


def test_http_client_errors_are_rejected() -> None:
    """An HTTP 4xx other than 408/429 is permanent: the batch would never be accepted."""
    with Receiver("http") as receiver:
        sender = transport.factory(receiver.endpoint + "/v1/nowhere", "http/protobuf", "TRACES", headers={}, insecure=None)()
        assert sender.send(PAYLOAD, 5).outcome is Outcome.REJECTED


def test_gzip_compression_from_environment(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    """OTEL_EXPORTER_OTLP_COMPRESSION=gzip compresses, and the receiver reads the same bytes."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    sender = _transport(receiver)
    assert sender.send(b"\x0a\x00" * 100, 5).outcome is Outcome.SENT
    assert receiver.payloads[-1][1] == b"\x0a\x00" * 100


def test_invalid_compression_warns_and_sends_plain(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An unknown compression value warns once and falls back to none."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "brotli")
    assert transport.compression_for("TRACES") is None
    assert "brotli" in caplog.text


def test_grpc_recovers_at_once_after_a_long_outage() -> None:
    """After many refused attempts, the first send once the collector is back goes through (no channel backoff)."""
    with Receiver("grpc") as receiver:
        sender = _transport(receiver)
        receiver.set_mode("closed")
        for _ in range(8):
            assert sender.send(PAYLOAD, 0.5).outcome is Outcome.RETRY
        receiver.set_mode("accept")
        assert sender.send(PAYLOAD, 2).outcome is Outcome.SENT
        sender.close()
