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

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

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


class Discard:
    """The shared exporter: accepts and drops everything."""

    def export(self, batch: Any, *args: Any, **kwargs: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        return None

    def force_flush(self, *args: Any, **kwargs: Any) -> bool:
        return True


def configure(variant: str) -> Any:
    if variant == "uninstrumented":
        return build_app()[0]
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    exporter: SpanExporter = Discard()  # type: ignore[assignment]
    if variant == "bare_otel":
        from opentelemetry import metrics, trace
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider())
        app, engine = build_app()
        # skip_dep_check: 0.66b1 refuses SQLAlchemy 2.1 otherwise and records nothing
        SQLAlchemyInstrumentor().instrument(engine=engine, skip_dep_check=True)
        FastAPIInstrumentor.instrument_app(app)
        return app
    import otel_kit

    options: dict[str, Any] = {"exporter": "none", "log_format": "none", "system_metrics": False, "additional_span_processors": [BatchSpanProcessor(exporter)]}
    if variant == "otel_kit_native":
        options["fastapi_telemetry"] = "native"
    if variant == "otel_kit_core":
        options.update(security=False, health=False, slow_queries=False)
    otel_kit.setup("bench", **options)
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


def child(variant: str, requests: int) -> None:
    import psutil

    before = psutil.Process().memory_info().rss
    app = configure(variant)
    micros = asyncio.run(drive(app, requests))
    after = psutil.Process().memory_info().rss
    print(json.dumps({"variant": variant, "us": micros, "rss_mb": (after - before) / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.requests)
        return
    results: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    for round_ in range(args.rounds):
        for variant in VARIANTS:
            out = subprocess.run([sys.executable, __file__, "--child", variant, "--requests", str(args.requests)], capture_output=True, text=True, check=True)
            results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    median = {v: statistics.median(r["us"] for r in results[v]) for v in VARIANTS}
    rss = {v: statistics.median(r["rss_mb"] for r in results[v]) for v in VARIANTS}
    base = median["uninstrumented"]
    bare = median["bare_otel"]
    print(f"{args.requests} requests x {args.rounds} rounds, median per variant (python {sys.version.split()[0]})")
    print(f"{'variant':18} {'µs/request':>11} {'overhead µs':>12} {'vs bare OTel':>13} {'RSS growth MB':>14}")
    for variant in VARIANTS:
        print(f"{variant:18} {median[variant]:11.1f} {median[variant] - base:12.1f} {median[variant] / bare:12.2f}x {rss[variant]:14.1f}")
    print(f"\notel-kit / bare OTel = {median['otel_kit'] / bare:.2f}x (goal <= 1.0x); native path {median['otel_kit_native'] / bare:.2f}x; "
          f"overhead ratio (instrumented - uninstrumented) {(median['otel_kit'] - base) / (bare - base):.2f}x")


if __name__ == "__main__":
    main()
