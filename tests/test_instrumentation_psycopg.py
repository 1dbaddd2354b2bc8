"""psycopg (3) on a real PostgreSQL: statement spans, N+1 on a loop, taint check, SQLAlchemy once, psycopg_pool metrics."""

from __future__ import annotations

import asyncio
import threading

import flask
import psycopg
import pytest
from _servers import Postgres
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from otel_kit.testing import Capture, capture


def _db_spans(cap: Capture) -> list:
    return [s for s in cap.spans if s.kind is SpanKind.CLIENT and (s.attributes or {}).get("db.system.name") == "postgresql"]


@pytest.fixture
def shop(postgres: Postgres) -> Postgres:
    with psycopg.connect(postgres.dsn) as connection:
        connection.execute("CREATE TABLE customers (id int PRIMARY KEY, name text)")
        connection.execute("CREATE TABLE orders (id serial PRIMARY KEY, customer int, total numeric)")
        connection.execute("INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 12) g")
    return postgres


def test_connection_opened_before_setup_is_traced(shop: Postgres) -> None:
    """A connection opened before setup(): one CLIENT span per statement, child of the current span, semconv attributes."""
    connection = psycopg.connect(shop.dsn)
    try:
        with capture() as cap:
            with trace.get_tracer("t").start_as_current_span("checkout") as parent:
                connection.execute("SELECT name FROM customers WHERE id = %s AND name <> 'x'", (3,)).fetchall()
                with connection.cursor() as cursor:
                    cursor.executemany("INSERT INTO orders (customer, total) VALUES (%s, %s)", [(1, 5), (2, 7)])
            select, insert = _db_spans(cap)
            assert select.name == "SELECT customers" and select.parent.span_id == parent.get_span_context().span_id
            assert select.attributes["db.query.text"] == "SELECT name FROM customers WHERE id = %s AND name <> ?"
            assert select.attributes["db.namespace"] == shop.database and select.attributes["server.port"] == shop.port
            assert select.attributes["db.response.returned_rows"] == 1
            assert insert.name == "INSERT orders" and insert.attributes["db.operation.batch.size"] == 2
    finally:
        connection.close()


def test_failed_statement_and_async_cursor(shop: Postgres) -> None:
    """A failing statement is an error span with error.type; async cursors are traced the same way."""

    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(shop.dsn) as connection:
            await connection.execute("SELECT count(*) FROM orders")

    with capture() as cap, psycopg.connect(shop.dsn) as connection:
        with pytest.raises(psycopg.errors.UndefinedTable):
            connection.execute("SELECT * FROM missing_table")
        asyncio.run(run())
        failed, counted = _db_spans(cap)
        assert failed.status.status_code is StatusCode.ERROR and failed.attributes["error.type"] == "UndefinedTable"
        assert counted.name == "SELECT orders" and counted.status.status_code is StatusCode.UNSET


def test_n_plus_one_on_a_loop_in_a_request(shop: Postgres) -> None:
    """A Flask view querying once per customer: the N+1 is detected on the request with its route."""
    app = flask.Flask("shop")

    @app.get("/customers")
    def customers() -> dict[str, list[int]]:
        with psycopg.connect(shop.dsn) as connection:
            ids = [row[0] for row in connection.execute("SELECT id FROM customers")]
            counts = [connection.execute("SELECT count(*) FROM orders WHERE customer = %s", (i,)).fetchone()[0] for i in ids]
        return {"counts": counts}

    with capture(n_plus_one_threshold=10) as cap:
        assert len(app.test_client().get("/customers").json["counts"]) == 12
        (suspect,) = cap.telemetry.slow_queries.report()["n_plus_one"]
        assert suspect["fingerprint"] == "select count(*) from orders where customer = ?" and suspect["route"] == "/customers"
        server = next(s for s in cap.spans if s.kind is SpanKind.SERVER)
        assert [e.name for e in server.events] == ["db.query.n_plus_one"] and server.attributes["otel_kit.n_plus_one"] is True


def test_request_value_concatenated_into_sql_is_a_finding(shop: Postgres) -> None:
    """Taint check on the raw driver: a request value pasted into the SQL text is an unparameterized_input finding."""
    app = flask.Flask("shop")

    @app.get("/search")
    def search() -> dict[str, int]:
        term = flask.request.args["q"]
        with psycopg.connect(shop.dsn) as connection:
            rows = connection.execute(f"SELECT id FROM customers WHERE name = '{term}'").fetchall()  # the bug under test
        return {"found": len(rows)}

    with capture(security=True) as cap:
        assert app.test_client().get("/search", query_string={"q": "c3 rd"}).json == {"found": 0}
        server = next(s for s in cap.spans if s.kind is SpanKind.SERVER)
        events = [e for e in server.events if e.name == "security.attack.sql_injection"]
        assert len(events) == 1 and events[0].attributes["security.attack.pattern"] == "unparameterized_input"
        assert events[0].attributes["db.query.fingerprint"] == "select id from customers where name = ?"


def test_sqlalchemy_over_psycopg_is_one_span_per_statement(shop: Postgres) -> None:
    """Through SQLAlchemy the statement is traced once (SQLAlchemy's span); connection set-up queries are not traced."""
    from sqlalchemy import create_engine, text

    engine = create_engine(shop.url.replace("postgresql://", "postgresql+psycopg://"))
    with capture() as cap:
        with engine.connect() as connection:
            connection.execute(text("SELECT id FROM customers WHERE id = :id"), {"id": 2}).all()
        spans = _db_spans(cap)
        assert [s.instrumentation_scope.name for s in spans] == ["otel_kit.sqlalchemy"]
    engine.dispose()


def test_pool_metrics_follow_the_semantic_conventions(shop: Postgres) -> None:
    """psycopg_pool: connection count by state, max, wait time and a timeout when the pool is exhausted."""
    from psycopg_pool import ConnectionPool, PoolTimeout

    with capture() as cap:
        pool = ConnectionPool(shop.dsn, min_size=1, max_size=1, name="orders-pool", open=True)
        try:
            held = pool.getconn()
            used = {p.attributes["db.client.connection.state"]: p.value for p in cap.metric_points("db.client.connection.count")}
            assert used == {"idle": 0, "used": 1}
            with pytest.raises(PoolTimeout):
                pool.getconn(timeout=0.2)
            pool.putconn(held)
            with pool.connection() as connection:
                connection.execute("SELECT 1")
            name = {"db.client.connection.pool.name": "orders-pool"}
            assert cap.metric_value("db.client.connection.timeouts", db__client__connection__pool__name="orders-pool") == 1
            (wait,) = [p for p in cap.metric_points("db.client.connection.wait_time") if p.attributes == name]
            assert wait.count == 2 and wait.unit == "s"
            (maximum,) = [p for p in cap.metric_points("db.client.connection.max") if p.attributes == name]
            assert maximum.value == 1
        finally:
            pool.close()


def test_threads_share_no_span_state(shop: Postgres) -> None:
    """Statements from concurrent threads each get their own span under their own parent."""
    with capture() as cap:

        def work(index: int) -> None:
            with trace.get_tracer("t").start_as_current_span(f"job-{index}"), psycopg.connect(shop.dsn) as connection:
                for _ in range(5):
                    connection.execute("SELECT 1")

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        jobs = {s.context.span_id: s.name for s in cap.spans if s.name.startswith("job-")}
        by_parent: dict[str, int] = {}
        for span in _db_spans(cap):
            by_parent[jobs[span.parent.span_id]] = by_parent.get(jobs[span.parent.span_id], 0) + 1
        assert by_parent == {f"job-{i}": 5 for i in range(4)}
