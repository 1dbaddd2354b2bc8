"""asyncpg on a real PostgreSQL: spans with $1 placeholders, grouped by one fingerprint."""

from __future__ import annotations

import asyncio

import asyncpg
from _servers import Postgres
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_kit.testing import capture


def test_dollar_placeholders_group_into_one_fingerprint(postgres: Postgres) -> None:
    """Queries with $1 and a ::uuid cast are CLIENT spans under the current span and share one fingerprint."""

    async def run() -> None:
        connection = await asyncpg.connect(host=postgres.host, port=postgres.port, user=postgres.user, database=postgres.database)
        try:
            with trace.get_tracer("t").start_as_current_span("sync-job"):
                for value in ("8c1a3b4e-0000-4000-8000-000000000001", "8c1a3b4e-0000-4000-8000-000000000002"):
                    await connection.fetchval("SELECT $1::uuid", value)
        finally:
            await connection.close()

    with capture() as cap:
        asyncio.run(run())
        spans = [s for s in cap.spans if s.kind is SpanKind.CLIENT and (s.attributes or {}).get("db.system.name") == "postgresql"]
        assert len(spans) == 2 and spans[0].attributes["db.query.text"] == "SELECT $1::uuid"
        job = next(s for s in cap.spans if s.name == "sync-job")
        assert all(s.parent.span_id == job.context.span_id for s in spans)
        (row,) = cap.telemetry.slow_queries.report()["fingerprints"]
        assert row["fingerprint"] == "select ?::uuid" and row["calls"] == 2


def test_async_sqlalchemy_over_asyncpg_is_one_span_per_statement(postgres: Postgres) -> None:
    """AsyncEngine on asyncpg: SQLAlchemy's spans only; neither the driver's copy nor the pool's reset ROLLBACK."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(postgres.url.replace("postgresql://", "postgresql+asyncpg://"))
        async with engine.connect() as connection:
            for index in range(3):
                await connection.execute(text("SELECT CAST(:x AS int)"), {"x": index})
        await engine.dispose()

    with capture() as cap:
        asyncio.run(run())
        assert [(s.name, s.instrumentation_scope.name) for s in cap.spans] == [("SELECT", "otel_kit.sqlalchemy")] * 3
