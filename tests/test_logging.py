"""Logging integration: correlation fields, JSON/console formats, rotating file, no feedback loop."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from opentelemetry import trace

from otel_kit.instrumentation.logging import CorrelationFilter, JsonFormatter, LoopBreaker
from otel_kit.testing import capture


def test_json_records_carry_trace_ids(tmp_path: Path) -> None:
    """JSON log lines in the log file carry trace_id, span_id and service.name."""
    path = tmp_path / "app.log"
    with capture("json-svc", log_format="json", log_file=str(path)):
        with trace.get_tracer("t").start_as_current_span("work") as span:
            logging.getLogger("shop").warning("paid %s", 10, extra={"order_id": "o-1"})
            trace_id = format(span.get_span_context().trace_id, "032x")
    line = json.loads(path.read_text().strip().splitlines()[-1])
    assert line["message"] == "paid 10" and line["trace_id"] == trace_id and len(line["span_id"]) == 16
    assert line["service.name"] == "json-svc" and line["order_id"] == "o-1" and line["level"] == "warning"


def test_console_format_has_trace_id(capsys: pytest.CaptureFixture[str]) -> None:
    """The console format prints the trace id next to the message."""
    with capture("console-svc", log_format="console"):
        with trace.get_tracer("t").start_as_current_span("work") as span:
            logging.getLogger("shop").warning("hello console")
            trace_id = format(span.get_span_context().trace_id, "032x")
    err = capsys.readouterr().err
    assert "hello console" in err and f"trace_id={trace_id}" in err


def test_records_bridged_without_duplicated_correlation_attributes() -> None:
    """Bridged log records carry the trace context natively, not as duplicate attributes."""
    with capture(log_format="json") as cap:
        with trace.get_tracer("t").start_as_current_span("work"):
            logging.getLogger("shop").error("bridged")
        (record,) = [r for r in cap.log_records() if r.body == "bridged"]
        assert record.trace_id != 0 and "trace_id" not in (record.attributes or {})


def test_internal_loggers_never_exported() -> None:
    """Records of the SDK, exporters and otel-kit itself are not exported (no feedback loop)."""
    with capture() as cap:
        for name in ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.grpc.exporter", "otel_kit.export", "grpc._channel"):
            logging.getLogger(name).error("internal failure")
        logging.getLogger("otel_kit_user_app").error("user record")
        bodies = [r.body for r in cap.log_records()]
        assert "internal failure" not in bodies and "user record" in bodies


def test_export_threads_never_exported() -> None:
    """Anything logged from an export thread is kept out of the pipeline."""
    breaker = LoopBreaker()
    record = logging.makeLogRecord({"name": "urllib3.util", "msg": "retry"})
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(breaker.filter(record)), name="OtelBatchSpanRecordProcessor")
    thread.start()
    thread.join()
    assert result == [False] and breaker.filter(record) is True


def test_correlation_filter_outside_span() -> None:
    """Outside a span the correlation fields are empty strings."""
    record = logging.makeLogRecord({"msg": "x"})
    CorrelationFilter("svc").filter(record)
    assert record.trace_id == "" and record.service_name == "svc"
    assert json.loads(JsonFormatter().format(record))["trace_id"] == ""


def test_shutdown_detaches_handlers() -> None:
    """After shutdown the root logger has the handlers it had before setup()."""
    before = list(logging.getLogger().handlers)
    with capture(log_format="console"):
        assert len(logging.getLogger().handlers) > len(before)
    assert logging.getLogger().handlers == before
