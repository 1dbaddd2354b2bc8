"""Per-request cost of a Flask endpoint, measured in one run, in µs/request:

  uninstrumented | bare OpenTelemetry (SDK + the contrib FlaskInstrumentor) |
  otel-kit core (its own WSGI instrumentation; security/health/slow-query analysis off: the same
  work as the contrib instrumentor: a SERVER span, the duration histogram, active requests) |
  otel-kit setup() with its defaults (security inspection, health and slow-query analysis on)

Every instrumented variant exports to the same discarding exporter through a BatchSpanProcessor,
so the network is not measured. Requests are WSGI calls straight into the app (the response body
is read and closed, as a server does). Each variant runs in its own process (instrumentation is
global); variants are interleaved over several rounds and the median is reported.

    python benchmarks/bench_flask.py [--requests 5000] [--rounds 5]
"""

from __future__ import annotations

import io
import sys
import time
from typing import Any

from _common import discard_processor, install_bare_sdk, measure, setup_kit

VARIANTS = ["uninstrumented", "bare_contrib", "otel_kit_core", "otel_kit"]


def build_app() -> Any:
    import flask

    app = flask.Flask("bench")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "name": "widget"}

    return app


def configure(variant: str) -> Any:
    import os

    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    if variant == "uninstrumented":
        return build_app()
    processor = discard_processor()
    if variant == "bare_contrib":
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        install_bare_sdk(processor)
        app = build_app()
        FlaskInstrumentor.instrument_app(app)
        return app
    setup_kit(variant, processor, instrument=["flask", "logging"])
    return build_app()


def drive(app: Any, requests: int) -> float:
    base = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/items/1", "QUERY_STRING": "", "SERVER_NAME": "bench", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "bench", "HTTP_USER_AGENT": "bench/1.0",
        "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.errors": sys.stderr, "wsgi.multithread": False,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return None

    def one() -> None:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(b"")
        body = app(environ, start_response)
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    for _ in range(300):  # warm-up
        one()
    statuses.clear()
    started = time.perf_counter()
    for _ in range(requests):
        one()
    elapsed = time.perf_counter() - started
    if set(statuses) != {"200 OK"}:
        raise RuntimeError(f"unexpected statuses {set(statuses)}")
    return elapsed / requests * 1e6


def child(variant: str, requests: int) -> dict[str, float]:
    app = configure(variant)
    return {"us": drive(app, requests)}


def main() -> None:
    measured = measure(__doc__, __file__, VARIANTS, child, requests=5000, rounds=5)
    if measured is None:
        return  # a child: it printed its measurement
    median = measured.median("us")
    base, bare = median["uninstrumented"], median["bare_contrib"]
    print(measured.title())
    print(f"{'variant':16} {'µs/request':>11} {'overhead µs':>12} {'vs contrib':>11}")
    for variant in VARIANTS:
        print(f"{variant:16} {median[variant]:11.1f} {median[variant] - base:12.1f} {median[variant] / bare:10.2f}x")
    core_ratio = (median["otel_kit_core"] - base) / (bare - base)
    full_ratio = (median["otel_kit"] - base) / (bare - base)
    print(f"\nFlask overhead, otel-kit / bare contrib Flask instrumentor, equal work: {core_ratio:.2f}x (goal <= 1.0x); "
          f"with security, health and slow-query analysis on: {full_ratio:.2f}x")


if __name__ == "__main__":
    main()
