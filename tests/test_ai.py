"""AI signals: GenAI spans and metrics, cost, headroom, and the real openai/anthropic clients wrapped."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

import otel_kit
from otel_kit.signals import ai
from otel_kit.testing import Capture, capture

OPENAI_RESPONSE = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
}
ANTHROPIC_RESPONSE = {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 20, "output_tokens": 7},
}


def _openai_stream() -> bytes:
    chunks = [
        {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}},
    ]
    return b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"


def _anthropic_stream() -> bytes:
    events = [
        ("message_start", {"type": "message_start", "message": {**ANTHROPIC_RESPONSE, "content": [], "stop_reason": None, "usage": {"input_tokens": 15, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 4}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


def _handler(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content or b"{}")
    if body.get("model") == "broken":
        return httpx.Response(500, json={"error": {"message": "boom", "type": "server_error"}})
    if request.url.path.endswith("/chat/completions"):
        if body.get("stream"):
            return httpx.Response(200, content=_openai_stream(), headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=OPENAI_RESPONSE)
    if request.url.path.endswith("/messages"):
        if body.get("stream"):
            return httpx.Response(200, content=_anthropic_stream(), headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=ANTHROPIC_RESPONSE)
    return httpx.Response(404)


def _openai() -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url="http://llm.local/v1", max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(_handler)))


def _async_openai() -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="sk-test", base_url="http://llm.local/v1", max_retries=0, http_client=httpx.AsyncClient(transport=httpx.MockTransport(_handler)))


def _handler2(request: httpx2.Request) -> httpx2.Response:
    """The same fake server for SDKs built on httpx2 (anthropic >= 2)."""
    response = _handler(httpx.Request(request.method, str(request.url), content=request.read(), headers=dict(request.headers)))
    return httpx2.Response(response.status_code, content=response.content, headers=dict(response.headers))


def _anthropic() -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test", base_url="http://llm.local", max_retries=0, http_client=httpx2.Client(transport=httpx2.MockTransport(_handler2)))


def _tokens(cap: Capture, token_type: str) -> float:
    return sum(p.sum or 0 for p in cap.metric_points("gen_ai.client.token.usage") if p.attributes["gen_ai.token.type"] == token_type)


def test_openai_chat_is_traced_with_semconv() -> None:
    """A real openai client call gives a GenAI span, token and duration metrics and a cost."""
    with capture() as cap:
        response = _openai().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=50)
        assert response.choices[0].message.content == "Hello there"
        span = cap.span("chat gpt-4o-mini")
        attributes = span.attributes
        assert attributes["gen_ai.operation.name"] == "chat" and attributes["gen_ai.provider.name"] == "openai"
        assert attributes["gen_ai.request.model"] == "gpt-4o-mini" and attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
        assert attributes["gen_ai.usage.input_tokens"] == 12 and attributes["gen_ai.usage.output_tokens"] == 5
        assert attributes["gen_ai.response.finish_reasons"] == ("stop",) and attributes["gen_ai.request.max_tokens"] == 50
        assert attributes["server.address"] == "llm.local"
        assert attributes["gen_ai.usage.cost_usd"] == pytest.approx((12 * 0.15 + 5 * 0.60) / 1e6)
        assert "gen_ai.input.messages" not in attributes  # content is opt-in
        assert _tokens(cap, "input") == 12 and _tokens(cap, "output") == 5
        assert cap.metric_value("gen_ai.client.operation.duration") == 1
        assert cap.metric_value("gen_ai.client.cost") == pytest.approx((12 * 0.15 + 5 * 0.60) / 1e6)


def test_openai_streaming_sync_and_async() -> None:
    """Streaming calls (sync and async) are traced when the stream is consumed, with streamed usage."""
    with capture() as cap:
        chunks = list(_openai().chat.completions.create(model="gpt-4o-mini", messages=[], stream=True, stream_options={"include_usage": True}))
        assert len(chunks) == 3

        async def consume() -> int:
            stream = await _async_openai().chat.completions.create(model="gpt-4o-mini", messages=[], stream=True)
            return len([chunk async for chunk in stream])

        assert asyncio.run(consume()) == 3
        spans = cap.spans_named("chat gpt-4o-mini")
        assert len(spans) == 2
        assert all(s.attributes["gen_ai.usage.output_tokens"] == 2 and s.attributes["gen_ai.response.finish_reasons"] == ("stop",) for s in spans)


def test_openai_async_non_streaming() -> None:
    """Async non-streaming calls are traced."""
    with capture() as cap:
        asyncio.run(_async_openai().chat.completions.create(model="gpt-4o-mini", messages=[]))
        assert cap.span("chat gpt-4o-mini").attributes["gen_ai.usage.input_tokens"] == 12


def test_openai_error_recorded() -> None:
    """A failing call records error.type on the span and the duration metric, and still raises."""
    with capture() as cap:
        with pytest.raises(openai.InternalServerError):
            _openai().chat.completions.create(model="broken", messages=[])
        span = cap.span("chat broken")
        assert span.attributes["error.type"] == "InternalServerError" and span.status.status_code.name == "ERROR"
        assert cap.metric_value("gen_ai.client.operation.duration", error__type="InternalServerError") == 1


def test_anthropic_messages_and_stream() -> None:
    """The real anthropic client is traced, plain and streaming."""
    with capture() as cap:
        client = _anthropic()
        client.messages.create(model="claude-sonnet-4-20250514", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
        with client.messages.create(model="claude-sonnet-4-20250514", max_tokens=100, messages=[], stream=True) as stream:
            events = list(stream)
        assert events[0].type == "message_start"
        plain, streamed = cap.spans_named("chat claude-sonnet-4-20250514")
        assert plain.attributes["gen_ai.provider.name"] == "anthropic" and plain.attributes["gen_ai.usage.output_tokens"] == 7
        assert plain.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
        assert streamed.attributes["gen_ai.usage.input_tokens"] == 15 and streamed.attributes["gen_ai.usage.output_tokens"] == 4
        assert plain.attributes["gen_ai.usage.cost_usd"] == pytest.approx((20 * 3 + 7 * 15) / 1e6)


def test_content_capture_is_opt_in() -> None:
    """Prompts and completions are recorded only with ai_capture_content=True."""
    with capture(ai_capture_content=True) as cap:
        with ai.operation("openai", "gpt-4o", input_messages=[{"role": "user", "content": "secret plan"}]) as op:
            assert op is not None
            op.record(input_tokens=3, output_tokens=2, output_messages=[{"role": "assistant", "content": "ok"}])
        attributes = cap.span("chat gpt-4o").attributes
        assert "secret plan" in attributes["gen_ai.input.messages"] and "ok" in attributes["gen_ai.output.messages"]


def test_unknown_model_counts_tokens_without_cost(caplog: pytest.LogCaptureFixture) -> None:
    """An unknown model counts tokens but no cost, with one warning."""
    with capture() as cap, caplog.at_level(logging.WARNING, logger="otel_kit.ai"):
        for _ in range(3):
            with ai.operation("acme", "mystery-1") as op:
                assert op is not None
                op.record(input_tokens=10, output_tokens=10)
        assert _tokens(cap, "input") == 30 and cap.metric_points("gen_ai.client.cost") == []
        assert "gen_ai.usage.cost_usd" not in cap.spans[0].attributes
        assert len([r for r in caplog.records if "mystery-1" in r.getMessage()]) == 1


def test_price_override_and_validation() -> None:
    """set_price overrides the table (longest prefix wins); invalid prices raise ConfigError."""
    with capture() as cap:
        ai.set_price("mystery", input_per_million=1.0, output_per_million=2.0)
        with ai.operation("acme", "mystery-2") as op:
            assert op is not None
            op.record(input_tokens=1_000_000, output_tokens=1_000_000)
        assert cap.metric_value("gen_ai.client.cost") == pytest.approx(3.0)
        with pytest.raises(otel_kit.ConfigError, match="input_per_million"):
            ai.set_price("x", input_per_million=-1, output_per_million=0)


def test_rate_limit_headroom_gauges() -> None:
    """Requests/tokens per minute and headroom against configured limits are exported per model."""
    with capture() as cap:
        ai.set_rate_limit("gpt-4o", requests_per_minute=10, tokens_per_minute=1000)
        for _ in range(4):
            with ai.operation("openai", "gpt-4o") as op:
                assert op is not None
                op.record(input_tokens=50, output_tokens=50)
        headroom = {p.attributes["gen_ai.rate_limit.type"]: p.value for p in cap.metric_points("gen_ai.client.rate_limit.headroom")}
        assert headroom == {"requests": pytest.approx(0.6), "tokens": pytest.approx(0.6)}
        assert cap.metric_value("gen_ai.client.requests_per_minute") == 4
        with pytest.raises(otel_kit.ConfigError):
            ai.set_rate_limit("gpt-4o", requests_per_minute=0)


def test_decorator_form() -> None:
    """traced_operation wraps any client function and extracts usage from its result."""

    @ai.traced_operation("local", "llama-3", extract=lambda r: {"input_tokens": r["in"], "output_tokens": r["out"]})
    def generate(prompt: str) -> dict[str, Any]:
        return {"in": len(prompt), "out": 4}

    with capture() as cap:
        generate("hello")
        assert cap.span("chat llama-3").attributes["gen_ai.usage.input_tokens"] == 5


def test_before_setup_is_a_no_op() -> None:
    """Without setup(), operation() yields None and client calls pass straight through."""
    with ai.operation("openai", "gpt-4o") as op:
        assert op is None
    assert _openai().chat.completions.create(model="gpt-4o-mini", messages=[]).usage.prompt_tokens == 12
