"""examples/backoffice.py, as `make demo` runs it: the Flask back office under gunicorn and a Celery worker on Redis."""

from __future__ import annotations

import sys
from pathlib import Path

from _servers import Redis

from otel_kit.receiver import Receiver

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_invoice_trace_runs_from_the_flask_request_into_the_worker(tmp_path: Path, redis_server: Redis) -> None:
    """Every back-office request answers; an invoice is one trace from the Flask SERVER span to the worker's task."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import backoffice
    finally:
        sys.path.remove(str(EXAMPLES))
    database_url = f"sqlite:///{tmp_path / 'shop.db'}"
    backoffice.seed(database_url)
    with Receiver("grpc") as receiver:
        result = backoffice.run(receiver.endpoint, "bo", database_url, redis_server.url(3), tmp_path)
        assert result["sent"]["invoices (Celery)"] == 20 and result["invoiced"] == 20
        assert result["health_status"] == 200
        assert receiver.wait_for(lambda: any(s.name.startswith("run/") for s in receiver.spans()), timeout=20)
    spans = receiver.spans()
    server = next(s for s in spans if s.name == "POST /orders/<int:order_id>/invoice")
    produced = next(s for s in spans if s.trace_id == server.trace_id and s.name.startswith("apply_async/"))
    consumed = next(s for s in spans if s.trace_id == server.trace_id and s.name.startswith("run/"))
    assert server.service == "bo-backoffice" and consumed.service == "bo-worker"
    assert produced.parent_span_id == server.span_id and consumed.parent_span_id == produced.span_id
    assert any(s.parent_span_id == consumed.span_id and s.attributes.get("db.system.name") == "sqlite" for s in spans)
    assert not any("could not instrument" in line for line in (tmp_path / "gunicorn.log").read_text().splitlines())
