"""The real openai client against the local fake server: every call form is one correct GenAI span."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pydantic
import pytest

from otel_kit.signals.ai.prices import library
from otel_kit.testing import Capture, capture
from otel_kit.testing_ai import FakeLLMServer

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
# FakeUsage defaults: prompt 120 (100 cached), completion 7 (3 reasoning).
GPT4O_MINI = (20 * 0.15 + 100 * 0.075 + 7 * 0.60) / 1e6


class Answer(pydantic.BaseModel):
    answer: str


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    assert library.wait(60), "genai-prices must be installed for these tests"
    with FakeLLMServer() as running:
        yield running


@pytest.fixture
def cap(server: FakeLLMServer) -> Iterator[Capture]:
    server.usage.__init__()  # type: ignore[misc]
    with capture() as captured:
        yield captured


def _client(server: FakeLLMServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=server.openai_url, max_retries=kwargs.pop("max_retries", 0), **kwargs)


def _async_client(server: FakeLLMServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="sk-test", base_url=server.openai_url, max_retries=0)


def _only(cap: Capture, name: str = "chat gpt-4o-mini") -> Any:
    return cap.span(name).attributes


def _tokens(cap: Capture, token_type: str) -> float:
    return sum(p.sum or 0 for p in cap.metric_points("gen_ai.client.token.usage") if p.attributes["gen_ai.token.type"] == token_type)


def test_chat_create_has_semconv_usage_and_cost(cap: Capture, server: FakeLLMServer) -> None:
    """A plain chat call: conventions' attributes, cached and reasoning tokens, server.port, cost from genai-prices."""
    response = _client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=50, temperature=0.2)
    assert response.choices[0].message.content == "Hello there"
    attributes = _only(cap)
    assert attributes["gen_ai.operation.name"] == "chat" and attributes["gen_ai.provider.name"] == "openai"
    assert attributes["server.address"] == "127.0.0.1" and attributes["server.port"] == server.port
    assert attributes["gen_ai.request.max_tokens"] == 50 and attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.stream"] is False
    assert attributes["gen_ai.usage.input_tokens"] == 120 and attributes["gen_ai.usage.cache_read.input_tokens"] == 100
    assert attributes["gen_ai.usage.output_tokens"] == 7 and attributes["gen_ai.usage.reasoning.output_tokens"] == 3
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",) and attributes["gen_ai.response.id"] == "chatcmpl-fake"
    assert attributes["otel_kit.ai.cost_usd"] == pytest.approx(GPT4O_MINI)
    assert attributes["otel_kit.ai.price.source"] == "genai-prices"
    assert "gen_ai.input.messages" not in attributes  # content is opt-in
    assert _tokens(cap, "input") == 120 and _tokens(cap, "output") == 7
    assert cap.metric_value("otel_kit.ai.cost") == pytest.approx(GPT4O_MINI)
    assert cap.metric_value("otel_kit.ai.tokens", otel_kit__ai__token__kind="cache_read") == 100
    assert cap.metric_value("otel_kit.ai.tokens", otel_kit__ai__token__kind="reasoning") == 3


def test_settings_not_given_are_not_attributes(cap: Capture, server: FakeLLMServer) -> None:
    """An explicit NOT_GIVEN / omit never becomes an attribute value."""
    _client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=openai.NOT_GIVEN, max_tokens=openai.omit, top_p=openai.NOT_GIVEN)
    attributes = _only(cap)
    assert not {"gen_ai.request.temperature", "gen_ai.request.max_tokens", "gen_ai.request.top_p"} & set(attributes)
    assert all(not type(value).__name__.lower().startswith(("notgiven", "omit")) for value in attributes.values())


def test_dated_response_model_is_priced_exactly(cap: Capture, server: FakeLLMServer) -> None:
    """gpt-4o answered by gpt-4o-2024-05-13 gets that snapshot's price, not gpt-4o's."""
    server.response_model["gpt-4o"] = "gpt-4o-2024-05-13"
    try:
        _client(server).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    finally:
        server.response_model.clear()
    attributes = _only(cap, "chat gpt-4o")
    assert attributes["gen_ai.response.model"] == "gpt-4o-2024-05-13"
    # That snapshot has no cached-input discount and costs $5 / $15 per million.
    assert attributes["otel_kit.ai.cost_usd"] == pytest.approx((120 * 5 + 7 * 15) / 1e6)


def test_async_chat(cap: Capture, server: FakeLLMServer) -> None:
    """Async non-streaming calls are one span with usage."""
    asyncio.run(_async_client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
    assert _only(cap)["gen_ai.usage.input_tokens"] == 120


def test_streams_sync_and_async_with_usage_and_first_chunk(cap: Capture, server: FakeLLMServer) -> None:
    """Streams record usage, gen_ai.request.stream and the time to the first chunk (attribute and metric)."""
    chunks = list(_client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None

    async def consume() -> int:
        stream = await _async_client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
        return len([chunk async for chunk in stream])

    assert asyncio.run(consume()) == len(chunks)
    spans = cap.spans_named("chat gpt-4o-mini")
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["gen_ai.request.stream"] is True and span.attributes["otel_kit.ai.stream.outcome"] == "completed"
        assert span.attributes["gen_ai.usage.output_tokens"] == 7 and span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
        assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert cap.metric_value("gen_ai.client.operation.time_to_first_chunk") == 2


def test_stream_without_usage_is_recorded_and_counted_unpriced(cap: Capture, server: FakeLLMServer) -> None:
    """A stream without include_usage still gives a span and duration; the missing cost is counted."""
    list(_client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    attributes = _only(cap)
    assert "gen_ai.usage.input_tokens" not in attributes and attributes["otel_kit.ai.stream.outcome"] == "completed"
    assert cap.metric_value("gen_ai.client.operation.duration") == 1
    assert cap.metric_value("otel_kit.ai.unpriced", otel_kit__ai__unpriced__reason="no_usage") == 1


def test_parse_and_stream_helper(cap: Capture, server: FakeLLMServer) -> None:
    """chat.completions.parse and the chat.completions.stream() helper are recorded with usage."""
    client = _client(server)
    parsed = client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Answer)
    assert parsed.choices[0].message.parsed == Answer(answer="42")
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES, stream_options={"include_usage": True}) as stream:
        assert stream.get_final_completion().choices[0].message.content == "Hello there"
    plain, streamed = cap.spans_named("chat gpt-4o-mini")
    assert plain.attributes["gen_ai.output.type"] == "json" and plain.attributes["gen_ai.usage.input_tokens"] == 120
    assert streamed.attributes["gen_ai.usage.input_tokens"] == 120 and streamed.attributes["otel_kit.ai.stream.outcome"] == "completed"


class Strict(pydantic.BaseModel):
    verdict: int


def test_a_parse_that_fails_after_the_answer_still_counts_its_tokens(cap: Capture, server: FakeLLMServer) -> None:
    """parse() raising on a billed answer (cut at max_tokens, or not fitting the schema): the client's error, and the tokens and cost."""
    client = _client(server)
    server.finish_reason = "length"
    with pytest.raises(openai.LengthFinishReasonError):
        client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Answer)
    server.finish_reason = "stop"
    with pytest.raises(pydantic.ValidationError):
        asyncio.run(_async_client(server).chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Strict))
    spans = cap.spans_named("chat gpt-4o-mini")
    assert [s.attributes["error.type"] for s in spans] == ["LengthFinishReasonError", "ValidationError"]
    for span in spans:
        assert span.attributes["gen_ai.usage.input_tokens"] == 120 and span.attributes["gen_ai.usage.output_tokens"] == 7
        assert span.attributes["otel_kit.ai.cost_usd"] == pytest.approx(GPT4O_MINI)
        assert span.attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert spans[0].attributes["gen_ai.response.finish_reasons"] == ("length",)


def test_responses_api_plain_streaming_and_helper(cap: Capture, server: FakeLLMServer) -> None:
    """responses.create (plain and stream=True) and responses.stream() record usage from the final event."""
    client = _client(server)
    assert client.responses.create(model="gpt-5", input="hi", instructions="be brief", max_output_tokens=99).output_text == "Hello there"
    events = list(client.responses.create(model="gpt-5", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    with client.responses.stream(model="gpt-5", input="hi") as stream:
        assert stream.get_final_response().output_text == "Hello there"
    spans = cap.spans_named("chat gpt-5")
    assert len(spans) == 3
    assert spans[0].attributes["gen_ai.request.max_tokens"] == 99
    for span in spans:
        assert span.attributes["gen_ai.usage.input_tokens"] == 120 and span.attributes["gen_ai.usage.cache_read.input_tokens"] == 100
        assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 3 and span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
        assert span.attributes["otel_kit.ai.cost_usd"] == pytest.approx((20 * 1.25 + 100 * 0.125 + 7 * 10) / 1e6)
    assert [s.attributes.get("otel_kit.ai.stream.outcome") for s in spans] == [None, "completed", "completed"]


def test_embeddings(cap: Capture, server: FakeLLMServer) -> None:
    """Embeddings are an "embeddings" operation with input tokens only."""
    result = _client(server).embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=8, encoding_format="float")
    assert len(result.data) == 2
    attributes = _only(cap, "embeddings text-embedding-3-small")
    assert attributes["gen_ai.operation.name"] == "embeddings" and attributes["gen_ai.usage.input_tokens"] == 20
    assert attributes["gen_ai.embeddings.dimension.count"] == 8 and attributes["gen_ai.request.encoding_formats"] == ("float",)
    assert "gen_ai.usage.output_tokens" not in attributes
    assert attributes["otel_kit.ai.cost_usd"] == pytest.approx(20 * 0.02 / 1e6)


def test_legacy_completions(cap: Capture, server: FakeLLMServer) -> None:
    """The legacy completions endpoint is a text_completion operation."""
    _client(server).completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", max_tokens=5)
    attributes = _only(cap, "text_completion gpt-3.5-turbo-instruct")
    assert attributes["gen_ai.usage.output_tokens"] == 7 and attributes["gen_ai.request.max_tokens"] == 5


def test_with_raw_response_keeps_usage(cap: Capture, server: FakeLLMServer) -> None:
    """with_raw_response: usage is read from the body; parse() still works for the application."""
    raw = _client(server).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.headers["x-request-id"] == "req_fake"
    attributes = _only(cap)
    assert attributes["gen_ai.usage.input_tokens"] == 120 and attributes["otel_kit.ai.cost_usd"] == pytest.approx(GPT4O_MINI)
    assert raw.parse().usage is not None


def test_with_streaming_response_parse_json_and_stream(cap: Capture, server: FakeLLMServer) -> None:
    """with_streaming_response: recorded when the body is parsed or read, and for an SSE body when it is iterated."""
    client = _client(server)
    with client.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES) as response:
        assert response.parse().choices[0].message.content == "Hello there"
    with client.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES) as response:
        assert response.json()["usage"]["prompt_tokens"] == 120
    with client.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}) as response:
        stream = response.parse()
        assert isinstance(stream, openai.Stream) and len(list(stream)) > 2
    spans = cap.spans_named("chat gpt-4o-mini")
    assert [s.attributes.get("gen_ai.usage.input_tokens") for s in spans] == [120, 120, 120]
    assert spans[2].attributes["otel_kit.ai.stream.outcome"] == "completed"


def test_async_raw_and_streaming_response(cap: Capture, server: FakeLLMServer) -> None:
    """The async raw variants are recorded too."""

    async def run() -> None:
        client = _async_client(server)
        raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        assert raw.parse().choices
        async with client.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES) as response:
            assert (await response.parse()).choices

    asyncio.run(run())
    assert [s.attributes.get("gen_ai.usage.input_tokens") for s in cap.spans_named("chat gpt-4o-mini")] == [120, 120]


def test_retries_are_events_and_429_counted(cap: Capture, server: FakeLLMServer) -> None:
    """A 429 then a 500 then success: one span, two retry events, one 429 counted, resend count 2."""
    server.fail(429)
    server.fail(500)
    _client(server, max_retries=2).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = cap.span("chat gpt-4o-mini")
    retries = [event for event in span.events if event.name == "otel_kit.ai.retry"]
    assert [event.attributes["http.response.status_code"] for event in retries] == [429, 500]
    assert span.attributes["http.request.resend_count"] == 2 and "error.type" not in span.attributes
    assert cap.metric_value("otel_kit.ai.rate_limited") == 1


def test_final_error_keeps_the_client_exception(cap: Capture, server: FakeLLMServer) -> None:
    """The application gets the client's own exception; the span and duration carry error.type."""
    server.fail(429)
    with pytest.raises(openai.RateLimitError) as raised:
        _client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raised.value.status_code == 429
    span = cap.span("chat gpt-4o-mini")
    assert span.attributes["error.type"] == "RateLimitError" and span.status.status_code.name == "ERROR"
    assert cap.metric_value("gen_ai.client.operation.duration", error__type="RateLimitError") == 1
    assert cap.metric_value("otel_kit.ai.rate_limited") == 1


def test_rate_limit_headers_drive_the_headroom(cap: Capture, server: FakeLLMServer) -> None:
    """remaining-requests: 0 from the provider reads as no headroom, not 0.99."""
    server.rate_limits = {"requests": (500, 0), "tokens": (1000, 900)}
    try:
        _client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        server.rate_limits = {"requests": (1000, 999), "tokens": (100_000, 99_000)}
    attributes = _only(cap)
    assert attributes["otel_kit.ai.rate_limit.headroom"] == 0.0 and attributes["otel_kit.ai.rate_limit.type"] == "requests"
    headroom = {p.attributes["otel_kit.ai.rate_limit.type"]: p.value for p in cap.metric_points("otel_kit.ai.rate_limit.headroom")}
    assert headroom == {"requests": 0.0, "tokens": pytest.approx(0.9)}
    assert cap.metric_value("otel_kit.ai.rate_limit.remaining", otel_kit__ai__rate_limit__type="requests") == 0
    assert cap.metric_value("otel_kit.ai.rate_limit.limit", otel_kit__ai__rate_limit__type="tokens") == 1000


def test_azure_client_is_reported_as_azure(cap: Capture, server: FakeLLMServer) -> None:
    """AzureOpenAI is provider azure.ai.openai (its deployment URL rewriting is untouched)."""
    client = openai.AzureOpenAI(api_key="k", api_version="2024-10-21", azure_endpoint=server.url, max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert _only(cap)["gen_ai.provider.name"] == "azure.ai.openai"
    assert server.requests[-1].path.startswith("/openai/deployments/gpt-4o-mini/chat/completions")


def test_service_tier_selects_the_tier_price(cap: Capture, server: FakeLLMServer) -> None:
    """The response's service_tier picks genai-prices' tier rates where it has them (flex is cheaper)."""
    client = _client(server)
    client.chat.completions.create(model="o3", messages=MESSAGES)
    server.service_tier = "flex"
    try:
        client.chat.completions.create(model="o3", messages=MESSAGES)
    finally:
        server.service_tier = None
    standard, flex = (span.attributes["otel_kit.ai.cost_usd"] for span in cap.spans_named("chat o3"))
    assert flex < standard


def test_no_setup_passes_straight_through(server: FakeLLMServer) -> None:
    """Without setup() the wrapped client behaves exactly as the bare one."""
    response = _client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert response.usage is not None and response.usage.prompt_tokens == 120
