"""sqlite3: connections opened after setup() are traced; the slow-query analysis groups their statements."""

from __future__ import annotations

import sqlite3

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_kit.testing import capture


def test_statements_are_spans_and_an_n_plus_one() -> None:
    """A query per row in a loop: CLIENT spans with db.system.name=sqlite and an N+1 on the job."""
    with capture(n_plus_one_threshold=10) as cap:
        connection = sqlite3.connect(":memory:")
        # through a cursor: the contrib proxy traces cursors, not the Connection.execute shortcut
        cursor = connection.cursor()
        cursor.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        cursor.executemany("INSERT INTO items (name) VALUES (?)", [(f"n{i}",) for i in range(10)])
        with trace.get_tracer("t").start_as_current_span("export"):
            for index in range(1, 11):
                cursor.execute("SELECT name FROM items WHERE id = ?", (index,)).fetchone()
        connection.close()
        spans = [s for s in cap.spans if s.kind is SpanKind.CLIENT]
        assert {s.attributes["db.system.name"] for s in spans} == {"sqlite"}
        (suspect,) = cap.telemetry.slow_queries.report()["n_plus_one"]
        assert suspect["fingerprint"] == "select name from items where id = ?" and suspect["count"] == 10
