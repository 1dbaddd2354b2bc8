"""``gen_ai.provider.name``, ``server.address`` and ``server.port`` from a client's base URL.

OpenAI-compatible endpoints are told apart by host (Azure OpenAI, OpenRouter and other hosted
APIs), by the default port of a self-hosted server (Ollama 11434, vLLM 8000) or by a name the
application gave with ``otel_kit.ai.set_provider``. Anything else keeps the client's own provider.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["Endpoint", "endpoint", "set_provider"]

# Exact hosts, then host suffixes. Names are the conventions' values where they define one.
_HOSTS: dict[str, str] = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "openrouter.ai": "openrouter",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "x_ai",
    "api.mistral.ai": "mistral_ai",
    "api.perplexity.ai": "perplexity",
    "api.together.xyz": "together_ai",
    "api.fireworks.ai": "fireworks",
    "generativelanguage.googleapis.com": "gcp.gemini",
}
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".openai.azure.com", "azure.ai.openai"),
    (".cognitiveservices.azure.com", "azure.ai.openai"),
    (".services.ai.azure.com", "azure.ai.inference"),
    (".openrouter.ai", "openrouter"),
    (".aiplatform.googleapis.com", "gcp.vertex_ai"),
)
_PORTS: dict[int, str] = {11434: "ollama", 8000: "vllm"}
_NAMED: dict[str, str] = {}
"""Base URLs (without a trailing slash) the application named with ``set_provider``."""
NAMING = [0]
"""How many times ``set_provider`` has been called."""


class Endpoint(tuple[str, str | None, int | None]):
    __slots__ = ()

    @property
    def provider(self) -> str:
        return self[0]

    @property
    def address(self) -> str | None:
        return self[1]

    @property
    def port(self) -> int | None:
        return self[2]


def set_provider(base_url: str, provider_name: str) -> None:
    """Report calls to ``base_url`` (an OpenAI-compatible server) under ``provider_name``."""
    from otel_kit.config.settings import ConfigError

    if not isinstance(base_url, str) or "://" not in base_url:
        raise ConfigError("base_url", base_url, "an absolute URL such as 'http://gpu-box:8000/v1'")
    if not isinstance(provider_name, str) or not provider_name.strip():
        raise ConfigError("provider_name", provider_name, "a non-empty provider name such as 'vllm'")
    _NAMED[base_url.rstrip("/")] = provider_name.strip()
    endpoint.cache_clear()
    # Callers that keep endpoints per client compare this to know theirs may be out of date.
    NAMING[0] += 1


@lru_cache(maxsize=256)
def endpoint(default: str, base_url: str, scheme: str, host: str, port: int | None) -> Endpoint:
    """The provider, address and port of calls to ``base_url`` from a client whose own provider is ``default``."""
    resolved_port = port if port is not None else (443 if scheme == "https" else 80 if scheme == "http" else None)
    named = _NAMED.get(base_url.rstrip("/"))
    if named is not None:
        return Endpoint((named, host or None, resolved_port))
    host = host.lower()
    provider = _HOSTS.get(host)
    if provider is None:
        for suffix, name in _SUFFIXES:
            if host.endswith(suffix):
                provider = name
                break
    if provider is None and ("ollama" in host or (port is not None and _PORTS.get(port) == "ollama")):
        provider = "ollama"
    if provider is None and ("vllm" in host or (port is not None and _PORTS.get(port) == "vllm")):
        provider = "vllm"
    # An unknown host keeps the client's own provider, which a client class that names one (AzureOpenAI,
    # AnthropicBedrock...) gives: a gateway in front of Azure still bills as Azure.
    return Endpoint((provider or default, host or None, resolved_port))
