"""The shared client hooks: telemetry never changes what the client returns or raises, and is installed once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

from otel_kit.signals.ai import wrappers
from otel_kit.signals.ai.wrappers import common
from otel_kit.testing import Capture, capture
from otel_kit.testing_ai import FakeLLMServer

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as running:
        yield running


@pytest.fixture
def cap() -> Iterator[Capture]:
    with capture() as captured:
        yield captured


def _client(server: FakeLLMServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="k", base_url=server.openai_url, max_retries=0, **kwargs)


def _bare(function: Any) -> Any:
    """Run ``function`` against the unwrapped client, then put the hooks back."""
    wrappers.uninstall()
    try:
        return function()
    finally:
        wrappers.install()


def test_results_are_identical_to_the_bare_client(cap: Capture, server: FakeLLMServer) -> None:
    """Plain, streamed and raw results equal what the unwrapped client gives."""

    def run() -> tuple[Any, ...]:
        client = _client(server)
        plain = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).model_dump()
        chunks = [chunk.model_dump() for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)]
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES).parse().model_dump()
        return plain, chunks, raw

    assert run() == _bare(run)
    # GenAI spans only: the httpx instrumentation adds an HTTP client span under each call.
    assert len([s for s in cap.spans if not s.instrumentation_scope or s.instrumentation_scope.name != "opentelemetry.instrumentation.httpx"]) == 3


def test_errors_are_the_clients_own(cap: Capture, server: FakeLLMServer) -> None:
    """A transport failure raises the same exception type and message with or without the hooks."""

    def run() -> tuple[type, str]:
        def refuse(request: httpx2.Request) -> httpx2.Response:
            raise httpx2.ConnectError("refused", request=request)

        client = _client(server, http_client=httpx2.Client(transport=httpx2.MockTransport(refuse)))
        with pytest.raises(openai.APIConnectionError) as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return type(raised.value), str(raised.value)

    assert run() == _bare(run)
    assert cap.span("chat gpt-4o-mini").attributes["error.type"] == "APIConnectionError"


@pytest.mark.parametrize("stage", ["begin", "response", "stream_event"])
def test_hook_failures_are_swallowed_and_counted(cap: Capture, server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    """A failure inside any hook is counted; the call still returns the client's result."""

    def broken(*args: object, **kwargs: object) -> Any:
        raise RuntimeError("instrumentation bug")

    if stage == "begin":
        monkeypatch.setattr(common, "_begin", broken)
    elif stage == "response":
        monkeypatch.setattr(common, "facts_from_response", broken)
    else:
        monkeypatch.setattr("otel_kit.signals.ai.usage.ChatAccumulator.item", broken)
    client = _client(server)
    assert client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices[0].message.content == "Hello there"
    assert "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) if c.choices) == "Hello there"
    assert cap.metric_value("otel_kit.ai.instrumentation.errors", otel_kit__ai__stage=stage) >= 1


def test_install_is_idempotent(cap: Capture, server: FakeLLMServer) -> None:
    """Installing the hooks again (another setup()) never wraps twice: one span per call."""
    wrappers.install()
    wrappers.install()
    _client(server).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(cap.spans_named("chat gpt-4o-mini")) == 1


def test_cancelled_request_is_not_an_error(cap: Capture, server: FakeLLMServer) -> None:
    """A caller that gives up (asyncio timeout) gets its own TimeoutError; the span is "cancelled", not an error."""
    import asyncio

    server.response_delay = 0.5
    try:

        async def ask() -> None:
            client = openai.AsyncOpenAI(api_key="k", base_url=server.openai_url, max_retries=0)
            await asyncio.wait_for(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES), timeout=0.05)

        with pytest.raises(asyncio.TimeoutError):
            asyncio.run(ask())
    finally:
        server.response_delay = 0.0
    span = cap.span("chat gpt-4o-mini")
    assert span.attributes["otel_kit.ai.outcome"] == "cancelled" and span.status.status_code.name == "UNSET"
    assert "error.type" not in span.attributes
    assert cap.metric_value("otel_kit.ai.unpriced") == 0


def test_set_provider_reaches_clients_already_used(cap: Capture, server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that has made calls reports its next calls under a name given later with set_provider."""
    from otel_kit.signals import ai
    from otel_kit.signals.ai import endpoints

    monkeypatch.setattr(endpoints, "_NAMED", {})
    client = _client(server)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    try:
        ai.set_provider(server.openai_url, "sglang")
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        endpoints.endpoint.cache_clear()
    assert [s.attributes["gen_ai.provider.name"] for s in cap.spans_named("chat gpt-4o-mini")] == ["openai", "sglang"]
