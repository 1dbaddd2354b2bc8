"""Per-request overhead of a FastAPI + SQLAlchemy endpoint, measured in one run, in µs/request:

  uninstrumented | bare OpenTelemetry (SDK + FastAPIInstrumentor + SQLAlchemyInstrumentor) |
  otel-kit setup() (contrib FastAPI path, the default) | otel-kit with FastAPI's native telemetry |
  otel-kit core only (security/health/slow-query analysis off)

Every instrumented variant exports to the same discarding exporter through a BatchSpanProcessor,
so the network is not measured. Each variant runs in its own process (instrumentation is global);
variants are interleaved over several rounds and the median is reported, with RSS growth.

    python benchmarks/bench_overhead.py [--requests 3000] [--rounds 3]
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from _common import discard_processor, install_bare_sdk, measure, setup_kit

VARIANTS = ["uninstrumented", "bare_otel", "otel_kit", "otel_kit_native", "otel_kit_core"]


def build_app() -> Any:
    from fastapi import FastAPI
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import StaticPool

    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)"))
        connection.execute(text("INSERT INTO items VALUES (1, 'widget')"))
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT id, name FROM items WHERE id = :id"), {"id": item_id}).first()
        return {"id": row[0], "name": row[1]} if row else {}

    return app, engine


def configure(variant: str) -> Any:
    if variant == "uninstrumented":
        return build_app()[0]
    processor = discard_processor()
    if variant == "bare_otel":
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        install_bare_sdk(processor)
        app, engine = build_app()
        # skip_dep_check: 0.66b1 refuses SQLAlchemy 2.1 otherwise and records nothing
        SQLAlchemyInstrumentor().instrument(engine=engine, skip_dep_check=True)
        FastAPIInstrumentor.instrument_app(app)
        return app
    setup_kit(variant, processor, **({"fastapi_telemetry": "native"} if variant == "otel_kit_native" else {}))
    return build_app()[0]


async def drive(app: Any, requests: int) -> float:
    scope_base = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/items/1", "raw_path": b"/items/1", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"bench"), (b"user-agent", b"bench/1.0")], "client": ("127.0.0.1", 5000), "server": ("bench", 80),
    }
    lifespan_done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"status {message['status']}")

    del lifespan_done
    for _ in range(200):  # warm-up: builds the middleware stack, fills caches
        await app(dict(scope_base), receive, send)
    started = time.perf_counter()
    for _ in range(requests):
        await app(dict(scope_base), receive, send)
    return (time.perf_counter() - started) / requests * 1e6


def child(variant: str, requests: int) -> dict[str, float]:
    import psutil

    before = psutil.Process().memory_info().rss
    app = configure(variant)
    micros = asyncio.run(drive(app, requests))
    after = psutil.Process().memory_info().rss
    return {"us": micros, "rss_mb": (after - before) / 2**20}


def main() -> None:
    measured = measure(__doc__, __file__, VARIANTS, child, requests=3000, rounds=3)
    if measured is None:
        return  # a child: it printed its measurement
    median, rss = measured.median("us"), measured.median("rss_mb")
    base = median["uninstrumented"]
    bare = median["bare_otel"]
    print(measured.title())
    print(f"{'variant':18} {'µs/request':>11} {'overhead µs':>12} {'vs bare OTel':>13} {'RSS growth MB':>14}")
    for variant in VARIANTS:
        print(f"{variant:18} {median[variant]:11.1f} {median[variant] - base:12.1f} {median[variant] / bare:12.2f}x {rss[variant]:14.1f}")
    print(f"\notel-kit / bare OTel = {median['otel_kit'] / bare:.2f}x (goal <= 1.0x); native path {median['otel_kit_native'] / bare:.2f}x; "
          f"overhead ratio (instrumented - uninstrumented) {(median['otel_kit'] - base) / (bare - base):.2f}x")


if __name__ == "__main__":
    main()
