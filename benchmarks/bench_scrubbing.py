"""Secret scrubbing: time for 100 KB adversarial inputs (linear-time check), typical values and a typical span pair.

Each adversarial input repeats one rule's trigger (a driver-error mark, a URL with credentials, an
unclosed quote, ...) to 100 KB. A pattern or scan with quadratic behaviour takes seconds on these;
linear ones take milliseconds. Reported, not asserted.

    python benchmarks/bench_scrubbing.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from otel_kit.redaction.scrubbing import Scrubber, scrub_text

UNITS = [
    "a", "'", "@", "://", "a://b:c@", "x://" + "a" * 300 + "@", "[SQL: ", "[SQL: x]\n[parameters: (", "]\n(Background on this error at: ",
    "[parameters: ", "[parameters: (", "[parameters: {'", "((((", "DETAIL: ", "DETAIL:  Key (a)=(", ")=(", "contains (", "LINE 1: ",
    "CONTEXT:  JSON data, line 1: ", 'invalid input syntax: "', 'value "', "Duplicate entry '", "Incorrect integer value: '",
    "The duplicate key value is (", "?code=", "&key=x", "?a=b", "password=", 'password: "', '\\"', "Authorization: ", "cookie",
    "token ", "bearer ", "eyJ", "sk-", "hf_a", "github_pat_a_", "SG.aaaaaaaaaaaaaaaaaaaaaaaa", "AIza_-", "r8_", "xai-",
    "4", "4 ", "[a ", "\n\n",
]
TYPICAL = [
    "/api/v1/orders/123",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "http://localhost:8000/api/v1/orders?page=2",
    "ValueError: invalid literal for int() with base 10: 'abc'",
]
SQLALCHEMY_ERROR = (
    '(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "users_email_key"\n'
    "DETAIL:  Key (email)=(alice@example.com) already exists.\n"
    "[SQL: INSERT INTO users (email, password_hash) VALUES (%(email)s::VARCHAR, %(password_hash)s::VARCHAR) RETURNING users.id]\n"
    "[parameters: {'email': 'alice@example.com', 'password_hash': '$2b$12$abcdefghijklmnopqrstuv'}]\n"
    "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
)


def best_ms(function: Callable[[Any], Any], value: Any, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function(value)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def per_call_us(function: Callable[[Any], Any], value: Any, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        function(value)
    return (time.perf_counter() - started) / calls * 1e6


def typical_spans(tracer: Any) -> list[ReadableSpan]:
    spans = []
    with tracer.start_as_current_span("GET /api/v1/orders/{order_id}", attributes={
        "http.request.method": "GET", "url.path": "/api/v1/orders/123", "url.scheme": "http", "url.query": "page=2&sort=desc",
        "http.route": "/api/v1/orders/{order_id}", "http.response.status_code": 200, "server.address": "localhost", "server.port": 8000,
        "user_agent.original": TYPICAL[1], "client.address": "127.0.0.1", "network.protocol.version": "1.1",
    }) as span:
        spans.append(span)
    with tracer.start_as_current_span("SELECT shop", attributes={
        "db.system.name": "postgresql", "db.query.text": "SELECT orders.id, orders.total FROM orders WHERE orders.id = %(id_1)s",
        "db.namespace": "shop", "db.operation.name": "SELECT", "db.collection.name": "orders", "server.address": "db", "server.port": 5432,
    }) as span:
        spans.append(span)
    return spans


def main() -> None:
    print("scrub_text on 100 KB adversarial inputs, best of 3 (ms):")
    worst = 0.0
    for unit in UNITS:
        elapsed = best_ms(scrub_text, unit * (100_000 // len(unit)))
        worst = max(worst, elapsed)
        print(f"  {unit[:32]!r:36} {elapsed:8.2f}")
    print(f"  worst: {worst:.1f} ms for 100 KB")
    print("typical values (µs per scrub_text call):")
    for value in [*TYPICAL, SQLALCHEMY_ERROR]:
        print(f"  {len(value):5d} chars {value[:40]!r:44} {per_call_us(scrub_text, value, 20_000):7.2f}")
    scrubber = Scrubber()
    tracer = TracerProvider().get_tracer("bench")
    batches = [typical_spans(tracer) for _ in range(2_000)]
    rounds = []
    for index in range(5):
        chunk = batches[index * 400:(index + 1) * 400]
        started = time.perf_counter()
        for spans in chunk:
            scrubber.spans(spans)
        rounds.append((time.perf_counter() - started) / (2 * len(chunk)) * 1e6)
    print(f"Scrubber.spans on a clean HTTP+DB span pair: {statistics.median(rounds):.2f} µs per span (median of 5 rounds of 800 spans)")


if __name__ == "__main__":
    main()
