"""Logging integration: correlation fields, JSON/console formats, rotating file, no feedback loop."""

from __future__ import annotations

import json
import logging
import logging.config
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# --- server logs: uvicorn and gunicorn ---------------------------------------------------------


@pytest.fixture
def server_loggers() -> Iterator[None]:
    """Restore the server loggers' handlers, filters, levels and propagation after the test."""
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn", "gunicorn.error", "gunicorn.access")
    saved = {name: (list(lg.handlers), list(lg.filters), lg.level, lg.propagate, lg.disabled) for name in names for lg in [logging.getLogger(name)]}
    yield
    for name, (handlers, filters, level, propagate, disabled) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:] = handlers
        lg.filters[:] = filters
        lg.setLevel(level)
        lg.propagate = propagate
        lg.disabled = disabled


def _bodies(cap: Any, text: str) -> list[Any]:
    return [r for r in cap.log_records() if text in str(r.body)]


def test_uvicorn_error_log_exported_and_correlated_access_log_not(server_loggers: None) -> None:
    """With uvicorn's logging config (no propagation), its error log reaches the bridge once, with the trace; its access log does not."""
    import uvicorn.config

    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    with capture() as cap:
        with trace.get_tracer("t").start_as_current_span("request") as span:
            logging.getLogger("uvicorn.error").error("worker failed while serving")
            logging.getLogger("uvicorn.access").info('127.0.0.1:5000 - "GET /orders HTTP/1.1" 200')
        logging.getLogger("uvicorn.error").info("Application startup complete.")
        (record,) = _bodies(cap, "worker failed")
        assert record.trace_id == span.get_span_context().trace_id and record.severity_text == "ERROR"
        assert len(_bodies(cap, "Application startup complete.")) == 1
        assert not _bodies(cap, "GET /orders")


def test_tap_survives_server_configuring_logging_after_setup(server_loggers: None) -> None:
    """setup() first, then uvicorn's dictConfig (as `uvicorn.run(app)` after setup does): records still arrive, once."""
    import uvicorn.config

    with capture() as cap:
        logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
        logging.getLogger("uvicorn.error").warning("late configured")
        assert len(_bodies(cap, "late configured")) == 1


def test_propagating_server_log_not_duplicated(server_loggers: None) -> None:
    """uvicorn with log_config=None propagates to root: the root bridge exports it and the tap stays out of the way; access stays out."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    with capture() as cap:
        logging.getLogger("uvicorn.error").warning("propagated once")
        logging.getLogger("uvicorn.access").warning('"GET /x HTTP/1.1" 200')
        assert len(_bodies(cap, "propagated once")) == 1
        assert not _bodies(cap, "GET /x")


def test_gunicorn_error_log_exported_access_log_not(server_loggers: None) -> None:
    """gunicorn's own logger setup (propagate off, its handlers): error records are exported, access records are not."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    with capture() as cap:
        Logger(Config())
        logging.getLogger("gunicorn.error").error("Worker (pid:42) was sent SIGKILL")
        logging.getLogger("gunicorn.access").info('"GET / HTTP/1.1" 200 2')
        assert len(_bodies(cap, "was sent SIGKILL")) == 1
        assert not _bodies(cap, "GET / HTTP")


def test_shutdown_removes_server_taps(server_loggers: None) -> None:
    """After shutdown no tap is left on the server loggers, so nothing is forwarded to a closed pipeline."""
    from otel_kit.instrumentation.logging import SERVER_LOGGERS, ServerLogTap

    with capture():
        assert all(any(isinstance(f, ServerLogTap) for f in logging.getLogger(n).filters) for n in SERVER_LOGGERS)
    assert not [f for n in SERVER_LOGGERS for f in logging.getLogger(n).filters if isinstance(f, ServerLogTap)]


def test_real_uvicorn_server_logs_reach_pipeline(server_loggers: None) -> None:
    """A real uvicorn server: a record logged inside a request carries its trace; the ASGI error is exported; access lines are not."""
    import socket as socket_module

    import httpx
    import uvicorn
    from fastapi import FastAPI

    with capture() as cap:
        app = FastAPI()

        @app.get("/inside")
        def inside() -> dict[str, str]:
            logging.getLogger("uvicorn.error").warning("logged inside the request")
            return {"ok": "yes"}

        @app.get("/boom")
        def boom() -> None:
            raise RuntimeError("handler exploded")

        with socket_module.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            for _ in range(200):
                if server.started:
                    break
                threading.Event().wait(0.05)
            assert server.started
            assert httpx.get(f"http://127.0.0.1:{port}/inside").status_code == 200
            assert httpx.get(f"http://127.0.0.1:{port}/boom").status_code == 500
        finally:
            server.should_exit = True
            thread.join(10)
        (inside_record,) = _bodies(cap, "logged inside the request")
        (server_span,) = [s for s in cap.spans if s.name == "GET /inside"]
        assert inside_record.trace_id == server_span.context.trace_id
        assert _bodies(cap, "Exception in ASGI application")
        assert not _bodies(cap, "GET /inside HTTP")
