"""gen_ai.provider.name, server.address and server.port from a client's base URL."""

from __future__ import annotations

import pytest

import otel_kit
from otel_kit.signals.ai import endpoints
from otel_kit.signals.ai.endpoints import endpoint, set_provider


def _provider(url: str, default: str = "openai") -> str:
    import httpx2

    parsed = httpx2.URL(url)
    return endpoint(default, url, parsed.scheme, parsed.host, parsed.port).provider


def test_hosted_openai_compatible_endpoints() -> None:
    """Azure OpenAI, OpenRouter and other hosted APIs are told apart by host."""
    assert _provider("https://myres.openai.azure.com/openai/") == "azure.ai.openai"
    assert _provider("https://openrouter.ai/api/v1") == "openrouter"
    assert _provider("https://api.groq.com/openai/v1") == "groq"
    assert _provider("https://api.openai.com/v1") == "openai"


def test_self_hosted_by_port_or_name() -> None:
    """Ollama (11434) and vLLM (8000) by their default ports or host names; other hosts keep the client's provider."""
    assert _provider("http://localhost:11434/v1") == "ollama"
    assert _provider("http://gpu-1:8000/v1") == "vllm"
    assert _provider("http://vllm.internal/v1") == "vllm"
    assert _provider("http://llm.local/v1") == "openai"
    assert _provider("https://gateway.example/", default="aws.bedrock") == "aws.bedrock"


def test_address_and_default_port() -> None:
    """server.port is the URL's port or the scheme's default."""
    import httpx2

    for url, port in (("https://api.openai.com/v1", 443), ("http://127.0.0.1:5555/v1", 5555), ("http://x/v1", 80)):
        parsed = httpx2.URL(url)
        found = endpoint("openai", url, parsed.scheme, parsed.host, parsed.port)
        assert found.address == parsed.host and found.port == port


def test_set_provider_names_a_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """otel_kit.ai.set_provider wins for that base URL; bad arguments raise ConfigError."""
    monkeypatch.setattr(endpoints, "_NAMED", {})
    set_provider("http://gpu-box:9000/v1/", "sglang")
    assert _provider("http://gpu-box:9000/v1") == "sglang"
    with pytest.raises(otel_kit.ConfigError, match="base_url"):
        set_provider("gpu-box", "x")
    with pytest.raises(otel_kit.ConfigError, match="provider_name"):
        set_provider("http://gpu-box", " ")
    endpoint.cache_clear()
