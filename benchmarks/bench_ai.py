"""Per-call overhead of otel-kit's AI hooks on the real openai and anthropic clients, against the bare clients.

Both talk to the same local fake LLM server (``otel_kit.testing_ai``), run in a child process so its
threads do not compete for this process's GIL. otel-kit is set up as in production (batch span
processor, a metric reader, genai-prices loaded); "bare" is the same process with the client hooks
removed (``wrappers.uninstall()``), so the only difference is otel-kit's per-call work. Every round
runs one batch of calls per (case, mode) in a shuffled order; the overhead is the median over
rounds of (otel-kit - bare) measured side by side, so drifts in machine speed cancel out (small
batches, many rounds: on a shared machine the speed drifts within seconds).
Streaming cases read the whole stream (``--chunks`` text chunks, 4 by default, usage included); a run
with many chunks shows the cost per chunk. Goal: <= 150 µs per call.
otel-kit takes its histogram measurements on the call path and hands them to the SDK when a metric
reader collects (``otel_kit.signals.ai.measurements``): after every otel-kit batch the benchmark
drains them itself, outside the timed calls, and reports that cost per call on its own line, so the
total CPU spent per call is the overhead plus that figure.

    python benchmarks/bench_ai.py [--calls 10] [--rounds 300] [--chunks 4]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import anthropic
import openai
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import otel_kit
from otel_kit.signals.ai import wrappers
from otel_kit.signals.ai.prices import library
from otel_kit.testing_ai import FakeLLMServer

MESSAGES: Any = [{"role": "user", "content": "hi"}]


class _Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _serve(connection: Connection, chunks: int) -> None:
    server = FakeLLMServer()
    server.stream_chunks = chunks
    server.start()
    connection.send(server.url)
    connection.recv()  # until the parent says stop
    server.stop()


def _cases(url: str, loop: asyncio.AbstractEventLoop) -> dict[str, Callable[[int], None]]:
    sync_openai = openai.OpenAI(api_key="k", base_url=f"{url}/v1", max_retries=0)
    async_openai = openai.AsyncOpenAI(api_key="k", base_url=f"{url}/v1", max_retries=0)
    sync_claude = anthropic.Anthropic(api_key="k", base_url=url, max_retries=0, open_telemetry=False)
    usage: Any = {"include_usage": True}

    def openai_sync(calls: int) -> None:
        for _ in range(calls):
            sync_openai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=50)

    def openai_stream(calls: int) -> None:
        for _ in range(calls):
            for _chunk in sync_openai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=usage):
                pass

    def openai_async(calls: int) -> None:
        async def batch() -> None:
            for _ in range(calls):
                await async_openai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

        loop.run_until_complete(batch())

    def openai_async_stream(calls: int) -> None:
        async def batch() -> None:
            for _ in range(calls):
                async for _chunk in await async_openai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=usage):
                    pass

        loop.run_until_complete(batch())

    def anthropic_sync(calls: int) -> None:
        for _ in range(calls):
            sync_claude.messages.create(model="claude-opus-4-5", max_tokens=50, messages=MESSAGES)

    def anthropic_stream(calls: int) -> None:
        for _ in range(calls):
            with sync_claude.messages.stream(model="claude-opus-4-5", max_tokens=50, messages=MESSAGES) as stream:
                stream.until_done()

    return {
        "openai chat": openai_sync, "openai chat stream": openai_stream, "openai async": openai_async,
        "openai async stream": openai_async_stream, "anthropic messages": anthropic_sync, "anthropic stream()": anthropic_stream,
    }


def _timed(function: Callable[[int], None], calls: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per call. CPU time is this process's only (the server is another process), so
    it is the clients' and otel-kit's own work, without the scheduling noise of waiting on the server."""
    cpu, wall = time.process_time(), time.perf_counter()
    function(calls)
    return (time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6


def _collection_cost(calls: int) -> float:
    """µs per call that a metric collection spends handing the batch's histogram measurements to the SDK
    (otel-kit takes them on the call path and records them when a reader collects)."""
    monitor = otel_kit.ai.monitor()
    assert monitor is not None
    started = time.perf_counter()
    monitor._deferred.drain()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10, help="calls per batch")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--chunks", type=int, default=4, help="text chunks per streamed answer")
    args = parser.parse_args()
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child, args.chunks), daemon=True)
    process.start()
    url = parent.recv()
    otel_kit.setup(
        "bench-ai", exporter="none", log_format="none", system_metrics=False,
        additional_span_processors=[BatchSpanProcessor(_Discard())], additional_metric_readers=[InMemoryMetricReader()],
    )
    assert library.wait(60), "pip install genai-prices"
    loop = asyncio.new_event_loop()
    cases = _cases(url, loop)
    modes = {"bare": wrappers.uninstall, "kit": wrappers.install}
    for warm_up in cases.values():  # connections, price rates, pydantic caches
        for switch in modes.values():
            switch()
            warm_up(args.calls)
    times: dict[tuple[str, str], list[tuple[float, float]]] = {(case, mode): [] for case in cases for mode in modes}
    collection: dict[str, list[float]] = {case: [] for case in cases}
    order = list(times)
    for _ in range(args.rounds):
        random.shuffle(order)
        for case, mode in order:
            modes[mode]()
            times[(case, mode)].append(_timed(cases[case], args.calls))
            if mode == "kit":
                collection[case].append(_collection_cost(args.calls))
    wrappers.install()
    otel_kit.shutdown()
    parent.send("stop")
    process.join(5)
    print(f"{args.rounds} rounds x {args.calls} calls per case and mode, {args.chunks} chunks per stream; µs per call, medians; overhead = otel-kit - bare, paired per round")
    for index, label in ((0, "CPU time of the client process"), (1, "wall time")):
        print(f"  {label}")
        print(f"    {'case':22} {'bare':>7} {'otel-kit':>9} {'overhead':>9} {'IQR':>13} {'ratio':>6}")
        for case in cases:
            bare = [sample[index] for sample in times[(case, "bare")]]
            kit = [sample[index] for sample in times[(case, "kit")]]
            own = [k - b for k, b in zip(kit, bare, strict=True)]
            low, _, high = statistics.quantiles(own, n=4)
            print(f"    {case:22} {statistics.median(bare):7.0f} {statistics.median(kit):9.0f} {statistics.median(own):9.0f} "
                  f"{low:6.0f}..{high:<6.0f} {statistics.median(kit) / statistics.median(bare):6.2f}x")
    print("  off the call path: µs per call when a metric reader collects (the histogram measurements handed to the SDK)")
    for case in cases:
        print(f"    {case:22} {statistics.median(collection[case]):7.0f}")
    print("  goal: overhead <= 150 µs per call")
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


if __name__ == "__main__":
    main()
