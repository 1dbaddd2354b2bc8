"""The ``anthropic`` client: ``messages`` and ``beta.messages`` (create, stream, the ``stream()`` helper, parse).

anthropic >= 2 traces its own calls: ``request`` starts an ``anthropic.messages.create`` span with
the GenAI attributes and hands it to ``_request`` as ``call``. otel-kit hooks ``_request``, so it
runs inside that span and records the call *on it* instead of adding a second span with a second
set of token counts. With the client's tracing off (``open_telemetry=False`` or
``ANTHROPIC_OPEN_TELEMETRY=false``), otel-kit makes its own ``chat {model}`` span.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from otel_kit.signals.ai.wrappers.common import Sdk, entry_hook, process_hook, retry_hook

__all__ = ["patch"]


def _route(options: Any) -> str | None:
    if options.method != "post" or options.url != "/v1/messages":
        return None
    return "messages"


def _default_provider(client: Any) -> str:
    name = getattr(client, "_gen_ai_provider_name", None)
    return name if isinstance(name, str) and name else "anthropic"


def _records_content(client: Any) -> bool:
    try:
        return bool(client._otel.records_content)
    except Exception:  # noqa: BLE001 - a client without its own tracing
        return False


def patch(base: ModuleType, replace: Any) -> None:
    streaming = sys.modules.get("anthropic._streaming") or __import__("anthropic._streaming", fromlist=["Stream"])
    sdk = Sdk("anthropic", _route, _default_provider, (streaming.Stream, streaming.AsyncStream), _records_content)
    for class_name, is_async in (("SyncAPIClient", False), ("AsyncAPIClient", True)):
        cls = getattr(base, class_name, None)
        if cls is None:
            continue
        entry = "_request" if hasattr(cls, "_request") else "request"
        replace(cls, entry, lambda original, a=is_async: entry_hook(sdk, original, a))
        replace(cls, "_process_response", lambda original, a=is_async: process_hook(sdk, original, a))
        replace(cls, "_sleep_for_retry", lambda original, a=is_async: retry_hook(sdk, original, a))
