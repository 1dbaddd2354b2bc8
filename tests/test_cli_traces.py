"""`otel-kit traces` / `otel-kit trace`: listing and waterfalls from Jaeger's trace JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from otel_kit.cli import backends, main, traces

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(autouse=True)
def _own_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No default stack saved with other ports can change the Jaeger URL these tests expect."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))


def _span(span_id: str, name: str, start: int, duration: int, parent: str | None = None, tags: dict[str, Any] | None = None, events: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "traceID": TRACE_ID, "spanID": span_id, "operationName": name, "startTime": start, "duration": duration, "processID": "p1",
        "references": [{"refType": "CHILD_OF", "traceID": TRACE_ID, "spanID": parent}] if parent else [],
        "tags": [{"key": k, "type": "string", "value": v} for k, v in (tags or {}).items()],
        "logs": [{"timestamp": start, "fields": [{"key": "event", "type": "string", "value": e}]} for e in events],
    }


def _trace() -> dict[str, Any]:
    base = 1_700_000_000_000_000
    return {
        "traceID": TRACE_ID,
        "processes": {"p1": {"serviceName": "shop", "tags": []}},
        "spans": [  # deliberately out of order, as Jaeger may return them
            _span("b", "SELECT shop", base + 50_000, 600_000, "a", {"span.kind": "client", "db.query.text": "SELECT *\nFROM orders\nWHERE id = ?"}, ["db.query.slow"]),
            _span("a", "GET /orders/{id}", base, 800_000, None, {"span.kind": "server", "server.address": "shop.local", "http.response.status_code": 500, "otel.status_code": "ERROR"}),
            _span("c", "render", base + 700_000, 100_000, "a", {"span.kind": "internal"}),
            _span("d", "orphan", base + 10_000, 5_000, "missing", {"span.kind": "client", "server.address": "api.example.com"}),
        ],
    }


def test_waterfall_nests_orders_and_marks() -> None:
    """Children are indented under their parent in start order, with errors, events and details shown."""
    lines = traces.render(_trace(), width=20).splitlines()
    assert lines[0] == f"trace {TRACE_ID}  shop  4 spans  800.0 ms  1 error"
    root, query, render, orphan = lines[1:]
    assert root == "     0.0 ms  GET /orders/{id}  server  |####################|    800.00 ms  ERROR http 500"
    assert query == "    50.0 ms    SELECT shop     client  | ###############    |    600.00 ms  [db.query.slow] SELECT * FROM orders WHERE id = ?"
    assert render.startswith("   700.0 ms    render          intern  |" + " " * 17 + "##")
    assert orphan.split("|")[1].startswith("#") and orphan.endswith("5.00 ms  api.example.com")  # parent missing: shown as a root


def test_summary_counts_spans_errors_and_events() -> None:
    """A trace's one-line summary: root, duration, spans, errors and analysis events."""
    summary = traces.summarize(_trace())
    assert summary == {"trace_id": TRACE_ID, "root": "GET /orders/{id}", "start_us": 1_700_000_000_000_000, "duration_ms": 800.0, "spans": 4, "errors": 1, "events": ["db.query.slow"]}


def test_trace_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`otel-kit trace ID` prints the waterfall, or says the trace is not there and exits 1."""
    found: dict[str, Any] = {TRACE_ID: _trace()}
    monkeypatch.setattr(backends, "jaeger_trace", lambda base, trace_id: found.get(trace_id))
    assert main.main(["trace", TRACE_ID]) == 0
    assert "[db.query.slow]" in capsys.readouterr().out
    assert main.main(["trace", "abc"]) == 1
    assert "trace abc not found" in capsys.readouterr().out
    assert main.main(["trace", TRACE_ID, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["traceID"] == TRACE_ID
    with pytest.raises(SystemExit, match="invalid trace id 'not-hex'"):
        main.main(["trace", "not-hex"])


def test_traces_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`otel-kit traces` lists newest first, filters by errors, and validates its options."""
    ok = {**_trace(), "traceID": "1" * 32, "spans": [{**_span("x", "GET /ok", 1_800_000_000_000_000, 1000), "traceID": "1" * 32}]}
    asked: list[Any] = []

    def fake(base: str, service: str, lookback: str, limit: int, tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
        asked.append((tags, limit))
        return [] if tags else [_trace(), ok]  # like the memory store: its error filter misses OTel status

    monkeypatch.setattr(backends, "jaeger_traces", fake)
    assert main.main(["traces", "--service", "shop"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("2 traces of 'shop'") and "1" * 32 in out[1] and TRACE_ID in out[2]
    assert "1 errors  [db.query.slow]" in out[2] and out[-1] == f"one of them in full: otel-kit trace {'1' * 32} --jaeger http://127.0.0.1:16686"
    assert main.main(["traces", "--service", "shop", "--errors", "--json"]) == 0
    assert [row["trace_id"] for row in json.loads(capsys.readouterr().out)] == [TRACE_ID]
    assert asked == [(None, 20), ({"error": "true"}, 20), (None, 1000)]  # Jaeger's filter first, then a wider scan here
    with pytest.raises(SystemExit, match="invalid --lookback '1 hour'"):
        main.main(["traces", "--service", "shop", "--lookback", "1 hour"])
    with pytest.raises(SystemExit, match="invalid --limit 0"):
        main.main(["traces", "--service", "shop", "--limit", "0"])
