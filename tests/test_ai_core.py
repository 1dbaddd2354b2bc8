"""The monitor: one record per operation, errors versus cancellations, internal failures counted."""

from __future__ import annotations

import asyncio
import threading

import pytest

from otel_kit.signals import ai
from otel_kit.testing import capture


def test_finish_records_once_across_threads() -> None:
    """Concurrent finish() calls record one duration point and end the span once."""
    with capture() as cap:
        monitor = ai.monitor()
        assert monitor is not None
        op = monitor.start("openai", "gpt-4o", "chat")
        threads = [threading.Thread(target=op.finish) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert cap.metric_value("gen_ai.client.operation.duration") == 1 and len(cap.spans) == 1


def test_exception_is_recorded_and_reraised() -> None:
    """An Exception sets error.type and ERROR; the same exception reaches the caller."""
    boom = ValueError("boom")
    with capture() as cap:
        with pytest.raises(ValueError) as raised, ai.operation("openai", "gpt-4o"):
            raise boom
        assert raised.value is boom
        span = cap.span("chat gpt-4o")
        assert span.attributes["error.type"] == "ValueError" and span.status.status_code.name == "ERROR"
        assert cap.metric_value("gen_ai.client.operation.duration", error__type="ValueError") == 1


def test_cancellation_is_not_an_error() -> None:
    """A cancelled call leaves the status unset and no error.type (the caller gave up)."""

    async def call() -> None:
        with ai.operation("openai", "gpt-4o"):
            await asyncio.sleep(10)

    async def run() -> None:
        task = asyncio.create_task(call())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with capture() as cap:
        asyncio.run(run())
        span = cap.span("chat gpt-4o")
        assert span.status.status_code.name == "UNSET" and "error.type" not in span.attributes
        assert span.attributes["otel_kit.ai.outcome"] == "cancelled"


def test_recording_failures_are_counted_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while recording is counted in otel_kit.ai.instrumentation.errors; the span still ends."""
    with capture() as cap:
        monitor = ai.monitor()
        assert monitor is not None

        def broken(*args: object) -> None:
            raise RuntimeError("bad price data")

        monkeypatch.setattr(monitor, "_record_usage", broken)
        with ai.operation("openai", "gpt-4o") as op:
            assert op is not None
            op.record(input_tokens=1, output_tokens=1)
        assert len(cap.spans) == 1
        assert cap.metric_value("otel_kit.ai.instrumentation.errors", otel_kit__ai__stage="finish") == 1


def test_token_breakdown_partitions_the_totals() -> None:
    """otel_kit.ai.tokens splits input into regular/cache_read/cache_creation and output into regular/reasoning."""
    with capture() as cap:
        with ai.operation("openai", "gpt-4o") as op:
            assert op is not None
            op.record(input_tokens=100, cache_read_tokens=60, cache_creation_tokens=30, output_tokens=20, reasoning_tokens=15)
        kinds = {(p.attributes["gen_ai.token.type"], p.attributes["otel_kit.ai.token.kind"]): p.value for p in cap.metric_points("otel_kit.ai.tokens")}
        assert kinds == {("input", "regular"): 10, ("input", "cache_read"): 60, ("input", "cache_creation"): 30, ("output", "regular"): 5, ("output", "reasoning"): 15}


def test_token_breakdown_series_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the series bound, the breakdown of further models is summed into one otel.metric.overflow series."""
    from otel_kit.signals.ai import core

    monkeypatch.setattr(core._Series, "MAX_CACHED", 2)
    with capture() as cap:
        for index in range(5):
            with ai.operation("openai", f"model-{index}") as op:
                assert op is not None
                op.record(input_tokens=10, output_tokens=1)
        points = cap.metric_points("otel_kit.ai.tokens")
        models = {p.attributes.get("gen_ai.request.model") for p in points}
        overflow = {p.attributes["gen_ai.token.type"]: p.value for p in points if p.attributes.get("otel.metric.overflow")}
        assert models == {"model-0", "model-1", None} and overflow == {"input": 30, "output": 3}
        assert cap.metric_value("gen_ai.client.token.usage", gen_ai__request__model="model-4") == 2


def test_calls_priced_once_genai_prices_has_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call finished while genai-prices is still importing gets its cost once it has loaded, not "unpriced"."""
    from otel_kit.signals.ai import core, prices

    assert prices.library.wait(60)
    loading = prices._Library()
    loading._started = True
    monkeypatch.setattr(prices, "library", loading)
    monkeypatch.setattr(core, "library", loading)
    with capture() as cap:
        with ai.operation("openai", "gpt-4o-mini") as op:
            assert op is not None
            op.record(input_tokens=1_000_000, output_tokens=0)
        assert cap.metric_points("otel_kit.ai.cost") == [] and cap.metric_points("otel_kit.ai.unpriced") == []
        loading.module = __import__("genai_prices")
        loading._ready.set()
        assert cap.metric_value("otel_kit.ai.cost") == pytest.approx(0.15)
        assert cap.metric_points("otel_kit.ai.unpriced") == []
