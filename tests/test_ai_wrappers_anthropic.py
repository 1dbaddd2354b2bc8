"""The real anthropic client against the local fake server: one span per call, usage with cache tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from otel_kit.signals.ai.prices import library
from otel_kit.signals.ai.wrappers.anthropic import _default_provider
from otel_kit.testing import Capture, capture
from otel_kit.testing_ai import FakeLLMServer

MODEL = "claude-opus-4-5"
MESSAGES = [{"role": "user", "content": "hi"}]
# FakeUsage: 20 uncached + 100 cache read + 50 cache write = 170 input, 7 output. Opus 4.5: $5 / $25, read $0.50, write $6.25.
COST = (20 * 5 + 100 * 0.5 + 50 * 6.25 + 7 * 25) / 1e6
OWN_SPAN = "anthropic.messages.create"
# The httpx instrumentation adds an HTTP client span under each call; these tests count GenAI spans.
HTTPX_SCOPE = "opentelemetry.instrumentation.httpx"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    assert library.wait(60), "genai-prices must be installed for these tests"
    with FakeLLMServer() as running:
        yield running


@pytest.fixture
def cap(server: FakeLLMServer) -> Iterator[Capture]:
    with capture() as captured:
        yield captured


def _client(server: FakeLLMServer, **kwargs: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test", base_url=server.anthropic_url, max_retries=kwargs.pop("max_retries", 0), **kwargs)


def _async_client(server: FakeLLMServer) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="test", base_url=server.anthropic_url, max_retries=0)


def _input_tokens(cap: Capture) -> float:
    return sum(p.sum or 0 for p in cap.metric_points("gen_ai.client.token.usage") if p.attributes["gen_ai.token.type"] == "input")


def test_client_span_is_adopted_not_doubled(cap: Capture, server: FakeLLMServer) -> None:
    """anthropic traces itself: the call is its one span, with otel-kit's cost on it, and tokens counted once."""
    _client(server).messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
    # The httpx instrumentation's HTTP client span (a child) is not a GenAI span: only one of those.
    genai = [span for span in cap.spans if not span.instrumentation_scope or span.instrumentation_scope.name != HTTPX_SCOPE]
    assert [span.name for span in genai] == [OWN_SPAN]
    attributes = genai[0].attributes
    assert genai[0].instrumentation_scope.name == "com.anthropic.sdk.python"
    assert attributes["gen_ai.usage.input_tokens"] == 170 and attributes["gen_ai.usage.output_tokens"] == 7
    # the conventions' names for the cache breakdown, whatever the client calls them
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 100 and attributes["gen_ai.usage.cache_creation.input_tokens"] == 50
    assert attributes["otel_kit.ai.cost_usd"] == pytest.approx(COST)
    assert attributes["otel_kit.ai.rate_limit.headroom"] == pytest.approx(0.99, abs=0.01)
    assert _input_tokens(cap) == 170
    assert cap.metric_value("otel_kit.ai.tokens", otel_kit__ai__token__kind="cache_creation") == 50
    assert cap.metric_value("otel_kit.ai.cost") == pytest.approx(COST)


def test_own_span_when_client_tracing_is_off(cap: Capture, server: FakeLLMServer) -> None:
    """With the client's tracing off, otel-kit's chat span carries the conventions' usage (cache tokens included)."""
    _client(server, open_telemetry=False).messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stop_sequences=["END"])
    span = cap.span(f"chat {MODEL}")
    attributes = span.attributes
    assert attributes["gen_ai.provider.name"] == "anthropic" and attributes["gen_ai.request.max_tokens"] == 100
    assert attributes["gen_ai.request.stop_sequences"] == ("END",) and attributes["server.port"] == server.port
    assert attributes["gen_ai.usage.input_tokens"] == 170
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 100 and attributes["gen_ai.usage.cache_creation.input_tokens"] == 50
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attributes["otel_kit.ai.cost_usd"] == pytest.approx(COST)
    assert [s.name for s in cap.spans if not s.instrumentation_scope or s.instrumentation_scope.name != HTTPX_SCOPE] == [f"chat {MODEL}"]


def test_stream_create_and_helper_sync(cap: Capture, server: FakeLLMServer) -> None:
    """create(stream=True) and messages.stream() record the split usage of message_start and message_delta."""
    client = _client(server)
    with client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES, stream=True) as stream:
        assert isinstance(stream, anthropic.Stream)
        events = [event.type for event in stream]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as helper:
        assert helper.get_final_text() == "Hello there"
    spans = cap.spans_named(OWN_SPAN)
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["gen_ai.usage.input_tokens"] == 170 and span.attributes["gen_ai.usage.output_tokens"] == 7
        assert span.attributes["otel_kit.ai.stream.outcome"] == "completed" and span.attributes["otel_kit.ai.cost_usd"] == pytest.approx(COST)
    assert _input_tokens(cap) == 340
    assert cap.metric_value("gen_ai.client.operation.time_to_first_chunk") == 2


def test_async_plain_stream_and_helper(cap: Capture, server: FakeLLMServer) -> None:
    """The async client: plain, stream=True and the stream() helper."""

    async def run() -> str:
        client = _async_client(server)
        await client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
        stream = await client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True)
        async for _ in stream:
            pass
        async with client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as helper:
            return await helper.get_final_text()

    assert asyncio.run(run()) == "Hello there"
    assert [s.attributes["otel_kit.ai.cost_usd"] for s in cap.spans_named(OWN_SPAN)] == [pytest.approx(COST)] * 3
    assert cap.metric_value("gen_ai.client.operation.duration") == 3


def test_beta_messages(cap: Capture, server: FakeLLMServer) -> None:
    """beta.messages.create and beta.messages.stream are recorded like messages."""
    client = _client(server)
    client.beta.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    with client.beta.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as helper:
        assert "Beta" in type(helper.get_final_message()).__name__
    assert [s.attributes["otel_kit.ai.cost_usd"] for s in cap.spans_named(OWN_SPAN)] == [pytest.approx(COST)] * 2


def test_raw_response_variants(cap: Capture, server: FakeLLMServer) -> None:
    """with_raw_response and with_streaming_response keep their usage."""
    client = _client(server, open_telemetry=False)
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    assert raw.parse().content[0].text == "Hello there"
    with client.messages.with_streaming_response.create(model=MODEL, max_tokens=10, messages=MESSAGES) as response:
        assert json.loads(response.read())["usage"]["input_tokens"] == 20
    assert [s.attributes.get("gen_ai.usage.input_tokens") for s in cap.spans_named(f"chat {MODEL}")] == [170, 170]


def test_overloaded_retry_and_final_429(cap: Capture, server: FakeLLMServer) -> None:
    """A 529 retried is a span event; a final 429 raises the client's RateLimitError and is counted."""
    server.fail(529)
    _client(server, max_retries=1).messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    server.fail(429)
    with pytest.raises(anthropic.RateLimitError):
        _client(server).messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    retried, failed = cap.spans_named(OWN_SPAN)
    assert [e.attributes["http.response.status_code"] for e in retried.events if e.name == "otel_kit.ai.retry"] == [529]
    assert failed.status.status_code.name == "ERROR"
    assert cap.metric_value("gen_ai.client.operation.duration", error__type="RateLimitError") == 1
    assert cap.metric_value("otel_kit.ai.rate_limited") == 1


def test_content_on_the_adopted_span_when_the_client_records_none(server: FakeLLMServer) -> None:
    """ai_capture_content=True adds system instructions, input and output to the client's span (its content mode is off)."""
    with capture(ai_capture_content=True) as cap:
        _client(server).messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, system="be brief")
        attributes = cap.span(OWN_SPAN).attributes
    assert json.loads(attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "be brief"}]
    assert json.loads(attributes["gen_ai.input.messages"]) == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    assert json.loads(attributes["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": "Hello there"}]


def test_provider_from_the_client_class() -> None:
    """Bedrock and Vertex clients name their provider; a plain client is anthropic."""

    class Bedrock:
        _gen_ai_provider_name = "aws.bedrock"

    assert _default_provider(Bedrock()) == "aws.bedrock" and _default_provider(object()) == "anthropic"
