"""Unparameterized input reaching SQL: request values found verbatim in an executed statement."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import StaticPool

from otel_kit.signals.security import taint
from otel_kit.signals.security.fields import SEGMENT, VALUE, Field
from otel_kit.testing import Capture, capture

MARKER = "Kx9widgetMARK"


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"))
        connection.execute(text("INSERT INTO items (name) VALUES ('lamp'), ('desk')"))
    yield engine
    engine.dispose()


def _app(engine: Engine) -> FastAPI:
    app = FastAPI()

    @app.get("/vulnerable")
    def vulnerable(name: str) -> list[int]:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text(f"SELECT id FROM items WHERE name = '{name}'"))]

    @app.get("/safe")
    def safe(name: str) -> list[int]:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT id FROM items WHERE name = :name"), {"name": name})]

    @app.post("/items/{item_id}/rename")
    async def rename(item_id: int, body: dict[str, str]) -> dict[str, bool]:
        with engine.begin() as connection:
            connection.execute(text(f"UPDATE items SET name = '{body['name']}' WHERE id = {item_id}"))
        return {"ok": True}

    return app


def _findings(cap: Capture) -> list[dict[str, object]]:
    return [dict(r.attributes) for r in cap.log_records("security.attack.sql_injection") if r.attributes.get("security.attack.pattern") == "unparameterized_input"]


def test_f_string_query_is_reported_with_route_and_fingerprint(engine: Engine) -> None:
    """A query parameter concatenated into text() is a high finding with route and fingerprint, and no value."""
    with capture() as cap:
        assert TestClient(_app(engine)).get("/vulnerable", params={"name": MARKER}).status_code == 200
        (finding,) = _findings(cap)
        assert finding["security.severity"] == "high"
        assert finding["security.attack.location"] == "query.name"
        assert finding["http.route"] == "/vulnerable"
        assert finding["db.query.fingerprint"] == "select id from items where name = ?"
        # The request's own url.query is the HTTP span's business; security output never repeats the value.
        assert MARKER not in repr([e.attributes for s in cap.spans for e in s.events])
        assert MARKER not in repr([(r.body, r.attributes) for r in cap.log_records()])
        server = next(s for s in cap.spans if (s.attributes or {}).get("http.route") == "/vulnerable")
        assert any(e.name == "security.attack.sql_injection" for e in server.events)


def test_json_body_value_concatenated_is_reported(engine: Engine) -> None:
    """A JSON body value concatenated into an UPDATE is reported at its body location."""
    with capture() as cap:
        TestClient(_app(engine)).post("/items/1/rename", json={"name": "brass lamp"})
        assert [f["security.attack.location"] for f in _findings(cap)] == ["body.name"]


def test_bound_parameters_are_not_reported(engine: Engine) -> None:
    """The same request through a bound parameter raises nothing."""
    with capture() as cap:
        TestClient(_app(engine)).get("/safe", params={"name": MARKER})
        assert _findings(cap) == []


def test_short_values_numbers_and_identifiers_outside_literals_are_ignored(engine: Engine) -> None:
    """Values under four characters, plain numbers and bare words used as identifiers are not evidence."""
    with capture() as cap:
        client = TestClient(_app(engine))
        client.get("/vulnerable", params={"name": "abc"})
        client.post("/items/12345/rename", json={"name": "x"})
        assert _findings(cap) == []
    values = taint.RequestValues()
    values.add([Field("query.sort", "items", VALUE), Field("query.n", "123456", VALUE), Field("path", "rename", SEGMENT)])
    assert [v for _, v in values.values] == ["items", "rename"]
    assert taint.findings_for("SELECT id FROM items ORDER BY name", values) == []
    assert len(taint.findings_for("SELECT id FROM t WHERE name = 'items'", values)) == 1


def test_reports_once_per_location_and_statement() -> None:
    """A loop running the same concatenated statement reports it once; the number of reports is bounded."""
    values = taint.RequestValues()
    values.add([Field("query.q", "needle value", VALUE)])
    statement = "SELECT 1 FROM t WHERE a = 'needle value'"
    assert len(taint.findings_for(statement, values)) == 1
    assert taint.findings_for(statement, values) == []
    many = taint.RequestValues()
    many.add([Field(f"query.p{i}", f"value {i}", VALUE) for i in range(taint.MAX_VALUES + 10)])
    assert len(many.values) == taint.MAX_VALUES
    assert len(taint.findings_for(" ".join(f"'value {i}'" for i in range(40)), many)) <= taint.MAX_REPORTS


def test_values_live_only_for_the_request() -> None:
    """Outside a request there are no values; begin/end restore the previous state."""
    assert taint.current() is None
    values, token = taint.begin()
    assert taint.current() is values
    taint.end(token)
    assert taint.current() is None
