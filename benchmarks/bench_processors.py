"""Per-span cost of otel-kit's analysis processor (health + slow queries), against the bare SDK.

Three tracer providers, built once and warmed up: bare (no processor), control (one no-op
processor: the SDK's own dispatch cost) and otel-kit (the processor setup() installs). Spans are
a server span with one database client span inside, in short batches; every round runs one batch
per provider in a shuffled order, and the cost is the median over rounds of (otel-kit - control)
measured side by side, so drifts in machine speed cancel out. Goal: <= 5 µs per span.

    python benchmarks/bench_processors.py [--spans 2000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import random
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
    """µs per span for ``spans`` spans (half server, half database client)."""
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    for index in range(spans // 2):
        with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER, attributes=SERVER):
            with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT, attributes={"db.system.name": "postgresql", "db.namespace": "shop", "db.query.text": QUERIES[index % 50]}):
                pass
    return (time.perf_counter() - started) / spans * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=2000, help="spans per batch")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    control = TracerProvider()
    control.add_span_processor(SpanProcessor())
    kit = TracerProvider()
    kit.add_span_processor(AnalysisProcessor(HealthMonitor(), SlowQueryAnalyzer(n_plus_one_threshold=10_000)))
    providers = {"bare": TracerProvider(), "control": control, "kit": kit}
    for provider in providers.values():
        run(provider, 4 * args.spans)  # warm-up: caches, fingerprints, windows
    times: dict[str, list[float]] = {name: [] for name in providers}
    names = list(providers)
    for _ in range(args.rounds):
        random.shuffle(names)
        for name in names:
            times[name].append(run(providers[name], args.spans))
    own = [k - c for k, c in zip(times["kit"], times["control"], strict=True)]
    vs_bare = [k - b for k, b in zip(times["kit"], times["bare"], strict=True)]
    quartiles = statistics.quantiles(own, n=4)
    b, c, k = (statistics.median(times[name]) for name in ("bare", "control", "kit"))
    print(f"{args.rounds} rounds x {args.spans} spans per provider (half server, half DB client), medians")
    print(f"  bare SDK span start+end            {b:6.2f} µs/span")
    print(f"  + one no-op processor (control)    {c:6.2f} µs/span")
    print(f"  + otel-kit analysis processor      {k:6.2f} µs/span  (health + slow queries)")
    print(f"  processors' own cost (paired, vs control) {statistics.median(own):5.2f} µs/span, "
          f"interquartile {quartiles[0]:.2f}..{quartiles[2]:.2f} (goal <= 5)")
    print(f"  vs bare SDK {statistics.median(vs_bare):.2f} µs/span, ratio {k / b:.2f}x")


if __name__ == "__main__":
    main()
