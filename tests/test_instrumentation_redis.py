"""Redis on a real server: command spans (sync and asyncio), timed by the slow-query analysis but never an N+1."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio
from _servers import Redis
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_kit.testing import capture


def test_commands_are_client_spans_under_the_request(redis_server: Redis) -> None:
    """GET/SET are CLIENT spans with db.system.name=redis and no values, children of the current span."""
    client = redis.Redis(host=redis_server.host, port=redis_server.port, db=3)
    with capture() as cap:
        with trace.get_tracer("t").start_as_current_span("request") as parent:
            client.set("session:42", "secret-value")
            assert client.get("session:42") == b"secret-value"
        commands = [s for s in cap.spans if s.kind is SpanKind.CLIENT]
        assert [s.name for s in commands] == ["SET", "GET"]
        for span in commands:
            assert span.parent.span_id == parent.get_span_context().span_id
            assert span.attributes["db.system.name"] == "redis"
            assert "secret-value" not in str(dict(span.attributes))
    client.close()


def test_many_commands_are_timed_but_not_an_n_plus_one(redis_server: Redis) -> None:
    """Twenty GETs in one trace: the report counts them, no N+1 is raised; the health report lists the dependency."""
    client = redis.Redis(host=redis_server.host, port=redis_server.port, db=3)
    with capture(n_plus_one_threshold=5) as cap:
        with trace.get_tracer("t").start_as_current_span("GET /cart"):
            for index in range(20):
                client.get(f"item:{index}")
        report = cap.telemetry.slow_queries.report()
        (row,) = [r for r in report["fingerprints"] if r["fingerprint"].startswith("get")]
        assert row["calls"] == 20 and report["n_plus_one"] == []
        names = [t.name for t in cap.telemetry.health.targets()]
        assert any(name.startswith("db redis") for name in names)
    client.close()


def test_asyncio_client(redis_server: Redis) -> None:
    """The asyncio client is traced the same way."""

    async def run() -> None:
        client = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port, db=3)
        await client.set("k", "v")
        await client.aclose()

    with capture() as cap:
        asyncio.run(run())
        assert [s.name for s in cap.spans if s.kind is SpanKind.CLIENT] == ["SET"]
