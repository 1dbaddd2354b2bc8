"""pymongo: the contrib listener captures the command document; analysis groups by command shape, export drops values.

No MongoDB server ships in Debian, so the commands are driven through the listener pymongo would call.
"""

from __future__ import annotations

from types import SimpleNamespace

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_kit.redaction.scrubbing import Scrubber
from otel_kit.testing import capture


def _listener() -> object:
    from pymongo import monitoring

    listeners = monitoring._LISTENERS.command_listeners
    return next(item for item in listeners if type(item).__name__ == "CommandTracer" and item.is_enabled)


def _command(listener: object, request_id: int, status: str) -> None:
    event = SimpleNamespace(
        command_name="find", database_name="shop", command={"find": "orders", "filter": {"status": status, "qty": {"$lt": 30}}},
        request_id=request_id, operation_id=request_id, connection_id=("127.0.0.1", 27017), duration_micros=1200,
    )
    listener.started(event)  # type: ignore[attr-defined]
    listener.succeeded(event)  # type: ignore[attr-defined]


def test_commands_group_by_shape_and_export_without_values() -> None:
    """Three finds with other values: one fingerprint 'find orders {status: ?, qty: {$lt: ?}}', an N+1, no value exported."""
    with capture(n_plus_one_threshold=3) as cap:
        listener = _listener()
        with trace.get_tracer("t").start_as_current_span("GET /orders"):
            for index, status in enumerate(("A", "B", "C")):
                _command(listener, index + 1, status)
        spans = [s for s in cap.spans if s.kind is SpanKind.CLIENT]
        assert len(spans) == 3 and spans[0].attributes["db.system.name"] == "mongodb"
        (row,) = cap.telemetry.slow_queries.report()["fingerprints"]
        assert row["fingerprint"] == "find orders {status: ?, qty: {$lt: ?}}" and row["calls"] == 3
        assert cap.telemetry.slow_queries.report()["n_plus_one"][0]["count"] == 3
        exported = Scrubber().value("db.query.text", spans[0].attributes["db.query.text"])
        assert exported == "find {status: ?, qty: {$lt: ?}}"
