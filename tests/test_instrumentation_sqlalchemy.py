"""SQLAlchemy integration: DB client spans on 2.0 and 2.1, engines before/after setup, errors."""

from __future__ import annotations

import pytest
import sqlalchemy
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import create_engine, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

import otel_kit
from otel_kit.testing import capture

pytestmark = pytest.mark.compat


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)


def _db_spans(cap: object) -> list:
    return [s for s in cap.spans if s.kind is SpanKind.CLIENT and "db.system.name" in (s.attributes or {})]  # type: ignore[attr-defined]


def test_engine_before_and_after_setup() -> None:
    """Engines created before and after setup() both produce spans, with semconv attributes."""
    before = create_engine("sqlite://")
    with capture() as cap:
        after = create_engine("sqlite://")
        for engine in (before, after):
            with engine.connect() as connection:
                connection.execute(text("CREATE TABLE users (id INTEGER, name TEXT)"))
                connection.execute(text("SELECT name FROM users WHERE name = 'O''Brien' AND id = 42"))
        spans = _db_spans(cap)
        assert len(spans) == 4
        select = spans[1]
        assert select.name == "SELECT users"
        assert select.attributes["db.operation.name"] == "SELECT"
        assert select.attributes["db.collection.name"] == "users"
        # literals never leave the process unless capture_query_text=True
        assert select.attributes["db.query.text"] == "SELECT name FROM users WHERE name = ? AND id = ?"
    print(f"sqlalchemy {sqlalchemy.__version__}: {len(spans)} spans")


def test_child_of_current_span() -> None:
    """A query inside a span becomes its child."""
    engine = create_engine("sqlite://")
    with capture() as cap:
        with trace.get_tracer("t").start_as_current_span("parent") as parent:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        (span,) = _db_spans(cap)
        assert span.parent.span_id == parent.get_span_context().span_id


def test_failed_query_is_an_error_span() -> None:
    """A failing statement ends its span with ERROR status and error.type."""
    engine = create_engine("sqlite://")
    with capture() as cap:
        with pytest.raises(sqlalchemy.exc.OperationalError), engine.connect() as connection:
            connection.execute(text("SELECT * FROM missing_table"))
        (span,) = _db_spans(cap)
        assert span.status.status_code.name == "ERROR"
        assert span.attributes["error.type"] == "OperationalError"


def test_capture_query_text_opt_in() -> None:
    """capture_query_text=True keeps the statement as written."""
    engine = create_engine("sqlite://")
    with capture(capture_query_text=True) as cap:
        with engine.connect() as connection:
            connection.execute(text("SELECT 42"))
        assert _db_spans(cap)[0].attributes["db.query.text"] == "SELECT 42"


def test_disabled_integration_records_nothing() -> None:
    """instrument=[...] without sqlalchemy leaves queries untraced."""
    engine = create_engine("sqlite://")
    with capture(instrument=["logging"]) as cap:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert _db_spans(cap) == []


def test_explicit_instrument_sqlalchemy_returns_engine() -> None:
    """instrument_sqlalchemy(engine) is accepted and returns the engine."""
    engine = create_engine("sqlite://")
    with capture():
        assert otel_kit.instrument_sqlalchemy(engine) is engine


def test_orm_session_queries() -> None:
    """ORM sessions go through the same events."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with capture() as cap:
        with Session(engine) as session:
            session.add(Item(id=1))
            session.commit()
            assert session.get(Item, 1) is not None
        names = [s.name for s in _db_spans(cap)]
        assert "INSERT items" in names and "SELECT items" in names


def test_pool_metrics_and_timeouts() -> None:
    """A QueuePool of one: count by state, max, wait time, and a timeout counted when it is exhausted."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout
    from sqlalchemy.pool import QueuePool

    engine = create_engine("sqlite:///file:pooltest?mode=memory&uri=true", poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=0.1)
    with capture() as cap:
        held = engine.connect()
        states = {p.attributes["db.client.connection.state"]: p.value for p in cap.metric_points("db.client.connection.count")}
        assert states == {"idle": 0, "used": 1}
        with pytest.raises(PoolTimeout):
            engine.connect()
        held.close()
        (name,) = {p.attributes["db.client.connection.pool.name"] for p in cap.metric_points("db.client.connection.max")}
        assert name == "sqlite:///file:pooltest"
        assert [p.value for p in cap.metric_points("db.client.connection.max")] == [1]
        assert cap.metric_value("db.client.connection.timeouts") == 1
        (wait,) = cap.metric_points("db.client.connection.wait_time")
        assert wait.count == 1 and wait.unit == "s"
    engine.dispose()
