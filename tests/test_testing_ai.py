"""The fake LLM server used by the AI tests and benchmark."""

from __future__ import annotations

import json

import httpx2

from otel_kit.testing_ai import FakeLLMServer


def test_answers_both_apis_with_rate_limit_headers() -> None:
    """OpenAI and Anthropic routes answer with usage and both families of rate-limit headers."""
    with FakeLLMServer() as server, httpx2.Client() as http:
        chat = http.post(f"{server.openai_url}/chat/completions", json={"model": "m", "messages": []})
        assert chat.json()["usage"]["prompt_tokens_details"]["cached_tokens"] == 100
        assert chat.headers["x-ratelimit-remaining-requests"] == "999" and chat.headers["anthropic-ratelimit-tokens-limit"] == "100000"
        message = http.post(f"{server.anthropic_url}/v1/messages", json={"model": "c", "messages": []})
        assert message.json()["usage"]["cache_creation_input_tokens"] == 50
        assert http.post(f"{server.url}/v1/nothing", json={}).status_code == 404
        assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/messages", "/v1/nothing"]


def test_failures_and_streams() -> None:
    """fail() answers the next requests with the provider's error body; streams are SSE ending as each API ends."""
    with FakeLLMServer() as server, httpx2.Client() as http:
        server.fail(529, times=2)
        for _ in range(2):
            failed = http.post(f"{server.anthropic_url}/v1/messages", json={})
            assert failed.status_code == 529 and failed.json()["error"]["type"] == "overloaded_error" and failed.headers["retry-after-ms"] == "1"
        stream = http.post(f"{server.openai_url}/chat/completions", json={"model": "m", "stream": True})
        lines = [line for line in stream.text.splitlines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]" and json.loads(lines[1][6:])["choices"][0]["delta"]["content"]
        events = http.post(f"{server.anthropic_url}/v1/messages", json={"model": "c", "stream": True}).text
        assert events.rstrip().endswith('data: {"type": "message_stop"}')
