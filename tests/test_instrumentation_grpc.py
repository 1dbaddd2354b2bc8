"""gRPC: client and server spans through the registry (one name for the four contrib instrumentors); server health by RPC."""

from __future__ import annotations

from concurrent import futures

import grpc
from opentelemetry.trace import SpanKind

from otel_kit.testing import capture

METHOD = "/shop.Catalog/Lookup"


def _server() -> tuple[grpc.Server, int]:
    def lookup(request: bytes, context: grpc.ServicerContext) -> bytes:
        if request == b"fail":
            context.abort(grpc.StatusCode.INTERNAL, "lookup failed")
        return request.upper()

    handler = grpc.method_handlers_generic_handler(
        "shop.Catalog", {"Lookup": grpc.unary_unary_rpc_method_handler(lookup, request_deserializer=None, response_serializer=None)},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def test_client_and_server_spans_and_health_by_rpc() -> None:
    """A unary call: the SERVER span is the CLIENT span's child; the health report lists the RPC and counts its failure."""
    with capture() as cap:
        server, port = _server()
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary(METHOD)
                assert call(b"shoe", timeout=10) == b"SHOE"
                try:
                    call(b"fail", timeout=10)
                except grpc.RpcError as error:
                    assert error.code() is grpc.StatusCode.INTERNAL
        finally:
            server.stop(None)
        servers = [s for s in cap.spans if s.kind is SpanKind.SERVER]
        clients = [s for s in cap.spans if s.kind is SpanKind.CLIENT]
        assert len(servers) == 2 and len(clients) == 2
        assert servers[0].parent.span_id == clients[0].context.span_id
        (target,) = [t for t in cap.telemetry.health.targets() if t.kind == "route"]
        assert target.name == servers[0].name and target.requests == 2 and target.errors == 1
        assert "grpc" in cap.telemetry.instrumented


def test_otlp_export_rpcs_are_never_traced() -> None:
    """An OTLP/gRPC receiver in the process and otel-kit exporting to it: no span for the Export RPCs."""
    from otel_kit.receiver import Receiver

    with capture():
        with Receiver("grpc") as receiver:  # its server is created after setup(): instrumented
            import otel_kit

            otel_kit.shutdown()
            telemetry = otel_kit.setup("wire", endpoint=receiver.endpoint, protocol="grpc", log_format="none", system_metrics=False)
            with telemetry.tracer.start_as_current_span("work"):
                pass
            assert telemetry.force_flush(10)
            telemetry.shutdown()
            assert [span.name for span in receiver.spans()] == ["work"]
