"""The ``openai`` client (1.x to 3.x): chat completions, Responses, embeddings and legacy completions.

The entry hook is ``request``: ``options.url`` is still the API path there (Azure OpenAI adds its
``/deployments/{model}`` prefix later, per attempt).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from otel_kit.signals.ai.wrappers.common import Sdk, entry_hook, process_hook, retry_hook

__all__ = ["patch"]

_ROUTES = {"/chat/completions": "chat", "/responses": "responses", "/embeddings": "embeddings", "/completions": "completions"}
_AZURE_CLASSES = frozenset({"AzureOpenAI", "AsyncAzureOpenAI"})


def _route(options: Any) -> str | None:
    if options.method != "post":
        return None
    return _ROUTES.get(options.url)


def _default_provider(client: Any) -> str:
    if any(cls.__name__ in _AZURE_CLASSES for cls in type(client).__mro__):
        return "azure.ai.openai"
    return "openai"


def patch(base: ModuleType, replace: Any) -> None:
    """Wrap ``openai._base_client``'s sync and async clients; ``replace(cls, name, factory)`` does the patching."""
    streaming = sys.modules.get("openai._streaming") or __import__("openai._streaming", fromlist=["Stream"])
    sdk = Sdk("openai", _route, _default_provider, (streaming.Stream, streaming.AsyncStream))
    for class_name, is_async in (("SyncAPIClient", False), ("AsyncAPIClient", True)):
        cls = getattr(base, class_name, None)
        if cls is None:
            continue
        replace(cls, "request", lambda original, a=is_async: entry_hook(sdk, original, a))
        replace(cls, "_process_response", lambda original, a=is_async: process_hook(sdk, original, a))
        replace(cls, "_sleep_for_retry", lambda original, a=is_async: retry_hook(sdk, original, a))
