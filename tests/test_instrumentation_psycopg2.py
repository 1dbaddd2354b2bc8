"""psycopg2 on a real PostgreSQL: the contrib instrumentor's spans carry the stable attributes and feed the N+1 analysis."""

from __future__ import annotations

import psycopg2
from _servers import Postgres
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_kit.testing import capture


def test_statement_spans_and_n_plus_one(postgres: Postgres) -> None:
    """A loop of parameterised queries: CLIENT spans with db.system.name/db.query.text under the job, one N+1."""
    with capture(n_plus_one_threshold=5) as cap:
        connection = psycopg2.connect(postgres.dsn)
        try:
            with trace.get_tracer("t").start_as_current_span("nightly-report") as parent:
                with connection.cursor() as cursor:
                    for index in range(6):
                        cursor.execute("SELECT %s::int + 1", (index,))
                        assert cursor.fetchone() == (index + 1,)
        finally:
            connection.close()
        spans = [s for s in cap.spans if s.kind is SpanKind.CLIENT]
        assert len(spans) == 6 and all(s.parent.span_id == parent.get_span_context().span_id for s in spans)
        assert spans[0].attributes["db.system.name"] == "postgresql" and spans[0].attributes["db.query.text"] == "SELECT %s::int + 1"
        (suspect,) = cap.telemetry.slow_queries.report()["n_plus_one"]
        assert suspect["fingerprint"] == "select ?::int + ?" and suspect["route"] == "nightly-report"


def test_under_sqlalchemy_the_driver_span_is_suppressed(postgres: Postgres) -> None:
    """SQLAlchemy on psycopg2: one span per statement (SQLAlchemy's), none from the driver, none for connection set-up."""
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres.url.replace("postgresql://", "postgresql+psycopg2://"))
    with capture() as cap:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1")).all()
        scopes = [s.instrumentation_scope.name for s in cap.spans if s.kind is SpanKind.CLIENT]
        assert scopes == ["otel_kit.sqlalchemy"]
    engine.dispose()
