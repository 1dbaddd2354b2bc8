"""What the per-request benchmarks (bench_flask, bench_overhead) share: the discarding exporter,
the bare-SDK and otel-kit set-ups they compare, and the rounds of one child process per variant.

Nothing here imports OpenTelemetry or otel-kit at import time: the uninstrumented variant must not
pay for them (in time or in RSS).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class Discard:
    """The shared exporter: accepts and drops everything."""

    def export(self, batch: Any, *args: Any, **kwargs: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        return None

    def force_flush(self, *args: Any, **kwargs: Any) -> bool:
        return True


def discard_processor() -> Any:
    """A BatchSpanProcessor into ``Discard``: every instrumented variant exports alike, and the network is not measured."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(Discard())  # type: ignore[arg-type]


def install_bare_sdk(processor: Any) -> None:
    """Bare OpenTelemetry: the SDK's tracer provider with ``processor``, and its meter provider."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider())


def setup_kit(variant: str, processor: Any, **options: Any) -> None:
    """``otel_kit.setup()`` exporting only to ``processor``; variant ``otel_kit_core`` turns security,
    health and slow-query analysis off."""
    import otel_kit

    settings: dict[str, Any] = {"exporter": "none", "log_format": "none", "system_metrics": False, "additional_span_processors": [processor], **options}
    if variant == "otel_kit_core":
        settings.update(security=False, health=False, slow_queries=False)
    otel_kit.setup("bench", **settings)


@dataclass
class Rounds:
    """What each variant's child process printed, round after round."""

    requests: int
    rounds: int
    results: dict[str, list[dict[str, float]]]

    def median(self, key: str) -> dict[str, float]:
        return {variant: statistics.median(row[key] for row in rows) for variant, rows in self.results.items()}

    def title(self) -> str:
        return f"{self.requests} requests x {self.rounds} rounds, median per variant (python {sys.version.split()[0]})"


def measure(
    doc: str | None, script: str, variants: list[str], child: Callable[[str, int], dict[str, float]], *, requests: int, rounds: int,
) -> Rounds | None:
    """Run ``script``'s variants, each in a process of its own (instrumentation is global),
    interleaved over the rounds. In a child (``--child VARIANT``): print ``child(VARIANT, requests)``
    as JSON and return None."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=requests)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        print(json.dumps({"variant": args.child, **child(args.child, args.requests)}))
        return None
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for round_ in range(args.rounds):
        for variant in variants:
            out = subprocess.run([sys.executable, script, "--child", variant, "--requests", str(args.requests)], capture_output=True, text=True, check=True)
            results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    return Rounds(args.requests, args.rounds, results)
