"""httpx and requests: the contrib instrumentors, when both library and instrumentor are installed."""

from __future__ import annotations

import logging
from typing import Any

from otel_kit.instrumentation._support import available

_log = logging.getLogger("otel_kit.instrumentation")

_INSTRUMENTORS = {
    "httpx": ("httpx", "opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
    "requests": ("requests", "opentelemetry.instrumentation.requests", "RequestsInstrumentor"),
}
_active: dict[str, Any] = {}


def install(name: str, tracer_provider: Any, meter_provider: Any) -> bool:
    """Instrument one client library; False (and a debug line) when it is not installed."""
    library, module, cls = _INSTRUMENTORS[name]
    if name in _active:
        return True
    if not available(library) or not available(module):
        _log.debug("otel-kit: %s not instrumented (pip install 'otel-kit[%s]')", name, name)
        return False
    import importlib

    instrumentor = getattr(importlib.import_module(module), cls)()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    _active[name] = instrumentor
    return True


def uninstall_all() -> None:
    for instrumentor in _active.values():
        try:
            instrumentor.uninstrument()
        except Exception:  # noqa: BLE001
            pass
    _active.clear()
