"""Streams stay the clients' own objects; the AI span is never left current; early stops are not errors."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import openai
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from opentelemetry import trace

from otel_kit.testing import Capture, capture
from otel_kit.testing_ai import FakeLLMServer

MESSAGES = [{"role": "user", "content": "hi"}]
USAGE = {"include_usage": True}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as running:
        yield running


@pytest.fixture
def cap(server: FakeLLMServer) -> Iterator[Capture]:
    server.stream_chunks, server.chunk_delay, server.cut_after = 3, 0.0, None
    with capture() as captured:
        yield captured


def _openai(server: FakeLLMServer) -> openai.OpenAI:
    return openai.OpenAI(api_key="k", base_url=server.openai_url, max_retries=0)


def _async_openai(server: FakeLLMServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="k", base_url=server.openai_url, max_retries=0)


def _anthropic(server: FakeLLMServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=server.anthropic_url, max_retries=0, open_telemetry=False)


def _outcome(cap: Capture, name: str = "chat gpt-4o-mini") -> Any:
    span = cap.span(name)
    assert span.status.status_code.name != "ERROR" or span.attributes.get("otel_kit.ai.stream.outcome") == "failed"
    return span.attributes.get("otel_kit.ai.stream.outcome")


def test_streams_keep_their_type_and_protocols(cap: Capture, server: FakeLLMServer) -> None:
    """isinstance, type, next(), .response and iteration after next() all behave as on the bare client."""
    stream = _openai(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE)
    assert type(stream) is openai.Stream and isinstance(stream, openai.Stream)
    first = next(stream)
    assert first.choices[0].delta.role == "assistant"
    assert stream.response.status_code == 200
    rest = list(stream)
    assert rest[-1].usage is not None
    assert _outcome(cap) == "completed"
    claude = _anthropic(server).messages.create(model="claude-opus-4-5", max_tokens=5, messages=MESSAGES, stream=True)
    assert type(claude) is anthropic.Stream and next(claude).type == "message_start"
    claude.close()


def test_async_stream_anext_and_aclose(cap: Capture, server: FakeLLMServer) -> None:
    """anext() works and `await stream.close()` closes the HTTP response; an early close is "stopped", not an error."""

    async def run() -> bool:
        stream = await _async_openai(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        assert isinstance(stream, openai.AsyncStream)
        await anext(stream)
        await stream.close()
        return stream.response.is_closed

    assert asyncio.run(run())
    span = cap.span("chat gpt-4o-mini")
    assert span.attributes["otel_kit.ai.stream.outcome"] == "stopped"
    assert span.status.status_code.name == "UNSET" and "error.type" not in span.attributes
    assert cap.metric_value("gen_ai.client.operation.duration", error__type="GeneratorExit") == 0


def test_async_context_manager_and_aclose_alias(cap: Capture, server: FakeLLMServer) -> None:
    """`async with` and aclose() behave as on the bare client."""

    async def run() -> None:
        client = _async_openai(server)
        async with await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream:
            await anext(stream)
        second = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        await second.aclose()

    asyncio.run(run())
    assert [s.attributes["otel_kit.ai.stream.outcome"] for s in cap.spans_named("chat gpt-4o-mini")] == ["stopped", "stopped"]


def test_break_inside_with_is_stopped(cap: Capture, server: FakeLLMServer) -> None:
    """Breaking out of `with stream:` ends the operation as stopped, with the status unset."""
    server.stream_chunks = 50
    with _openai(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream:
        for _ in stream:
            break
    assert stream.response.is_closed
    assert _outcome(cap) == "stopped"


def test_fully_read_then_closed_is_completed(cap: Capture, server: FakeLLMServer) -> None:
    """Closing a stream that was read to the end does not turn it into "stopped"."""
    with _openai(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE) as stream:
        list(stream)
    assert _outcome(cap) == "completed"
    assert cap.span("chat gpt-4o-mini").attributes["gen_ai.usage.output_tokens"] == 7


def test_dropped_streams_end_as_dropped(cap: Capture, server: FakeLLMServer) -> None:
    """A stream let go unclosed (read in part, or never read) ends as dropped once collected."""
    client = _openai(server)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    next(stream)
    del stream
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    gc.collect()
    assert [s.attributes["otel_kit.ai.stream.outcome"] for s in cap.spans_named("chat gpt-4o-mini")] == ["dropped", "dropped"]
    assert all(s.status.status_code.name == "UNSET" for s in cap.spans)


def test_helper_streams_closed_early(cap: Capture, server: FakeLLMServer) -> None:
    """Leaving the chat.completions.stream() and messages.stream() helpers early is "stopped" for both."""
    server.stream_chunks = 50
    with _openai(server).chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as helper:
        next(iter(helper))
    with _anthropic(server).messages.stream(model="claude-opus-4-5", max_tokens=5, messages=MESSAGES) as claude:
        next(iter(claude))
    assert _outcome(cap) == "stopped" and _outcome(cap, "chat claude-opus-4-5") == "stopped"


def test_connection_lost_mid_stream_is_an_error(cap: Capture, server: FakeLLMServer) -> None:
    """The client's own error reaches the application; the span records it."""
    server.cut_after = 2
    stream = _openai(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIConnectionError):
        list(stream)
    span = cap.span("chat gpt-4o-mini")
    assert span.attributes["error.type"] == "APIConnectionError" and span.status.status_code.name == "ERROR"
    assert span.attributes["otel_kit.ai.stream.outcome"] == "failed"


def test_cancelled_consumer_is_not_an_error(cap: Capture, server: FakeLLMServer) -> None:
    """A task cancelled while reading a stream leaves the status unset (the caller stopped, nothing failed)."""
    server.stream_chunks, server.chunk_delay = 40, 0.02

    async def run() -> None:
        stream = await _async_openai(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        started = asyncio.Event()

        async def consume() -> None:
            async for _ in stream:
                started.set()

        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    span = cap.span("chat gpt-4o-mini")
    assert span.attributes["otel_kit.ai.stream.outcome"] == "cancelled" and span.status.status_code.name == "UNSET"


def test_ai_span_is_never_left_current(cap: Capture, server: FakeLLMServer) -> None:
    """After create(stream=True) returns, the caller's span is current again; later spans are not the AI span's children."""
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("handler") as handler:
        stream = _openai(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        assert trace.get_current_span() is handler
        with tracer.start_as_current_span("unrelated"):
            pass
        list(stream)
    ai = cap.span("chat gpt-4o-mini")
    assert ai.parent is not None and ai.parent.span_id == handler.get_span_context().span_id
    unrelated = cap.span("unrelated")
    assert unrelated.parent is not None and unrelated.parent.span_id == handler.get_span_context().span_id


def test_stream_read_in_another_thread(cap: Capture, server: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    """A stream created in one thread and read in another is recorded, without context errors."""
    stream = _openai(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE)
    chunks: list[Any] = []
    with caplog.at_level(logging.ERROR):
        worker = threading.Thread(target=lambda: chunks.extend(stream))
        worker.start()
        worker.join(30)
    assert chunks and _outcome(cap) == "completed"
    assert not [r for r in caplog.records if "detach" in r.getMessage()]


def test_fastapi_streaming_response_relay(server: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    """Relaying async and sync streams through StreamingResponse: AI spans under the request span, no "Failed to detach context"."""
    app = FastAPI()
    async_client = _async_openai(server)
    sync_client = _openai(server)

    @app.get("/async")
    async def relay_async() -> StreamingResponse:
        stream = await async_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE)

        async def body() -> AsyncIterator[str]:
            async for chunk in stream:
                yield "".join(choice.delta.content or "" for choice in chunk.choices)

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/sync")
    def relay_sync() -> StreamingResponse:
        stream = sync_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE)
        return StreamingResponse(("".join(c.delta.content or "" for c in chunk.choices) for chunk in stream), media_type="text/plain")

    with capture() as cap, caplog.at_level(logging.ERROR), TestClient(app) as http:
        for path in ("/async", "/sync", "/async", "/sync"):
            assert http.get(path).text == "Hello there"
        ai_spans = cap.spans_named("chat gpt-4o-mini")
        servers = {s.context.span_id: s for s in cap.spans if s.kind == trace.SpanKind.SERVER}
    assert not [r for r in caplog.records if "Failed to detach context" in r.getMessage()]
    assert len(ai_spans) == 4
    assert all(s.attributes["otel_kit.ai.stream.outcome"] == "completed" and s.attributes["gen_ai.usage.output_tokens"] == 7 for s in ai_spans)
    assert all(s.parent is not None and s.parent.span_id in servers for s in ai_spans)
