"""Per-span cost of otel-kit's analysis processors (health + slow queries), against the bare SDK.

Creates and ends spans with a bare TracerProvider (no processors), with one no-op processor (the
SDK's own dispatch cost, the control) and with the processor setup() installs (health and slow
queries in one), in the same run, for server spans and database client spans.
Goal: <= 5 µs per span for the two analyses together.

    python benchmarks/bench_processors.py [--spans 50000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind

from otel_kit.analysis.health import HealthMonitor
from otel_kit.analysis.processor import AnalysisProcessor
from otel_kit.analysis.slow_queries import SlowQueryAnalyzer

SERVER = {"http.request.method": "GET", "http.route": "/orders/{id}", "http.response.status_code": 200}
QUERIES = [f"SELECT * FROM orders WHERE id = {i} AND status IN (1, 2, 3)" for i in range(50)]


def run(provider: TracerProvider, spans: int) -> float:
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    for index in range(spans // 2):
        with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER, attributes=SERVER):
            with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT, attributes={"db.system.name": "postgresql", "db.namespace": "shop", "db.query.text": QUERIES[index % 50]}):
                pass
    return (time.perf_counter() - started) / spans * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    bare, noop, kit = [], [], []
    for _ in range(args.rounds):  # interleaved, so drift affects all variants alike
        bare.append(run(TracerProvider(), args.spans))
        control = TracerProvider()
        control.add_span_processor(SpanProcessor())
        noop.append(run(control, args.spans))
        provider = TracerProvider()
        provider.add_span_processor(AnalysisProcessor(HealthMonitor(), SlowQueryAnalyzer(n_plus_one_threshold=10_000)))
        kit.append(run(provider, args.spans))
    b, n, k = statistics.median(bare), statistics.median(noop), statistics.median(kit)
    print(f"{args.spans} spans x {args.rounds} rounds (half server, half DB client), median")
    print(f"  bare SDK span start+end            {b:6.2f} µs/span")
    print(f"  + one no-op processor (control)    {n:6.2f} µs/span  (the SDK's dispatch cost: {n - b:.2f})")
    print(f"  + otel-kit analysis processor      {k:6.2f} µs/span  (health + slow queries)")
    print(f"  processors' own cost (vs control)  {k - n:6.2f} µs/span (goal <= 5); vs bare SDK {k - b:.2f} µs, ratio {k / b:.2f}x")


if __name__ == "__main__":
    main()
