"""httpx and requests: the contrib instrumentors, when both library and instrumentor are installed.

A library without its instrumentor is not silently skipped: ``install`` raises ``MissingDependency``
naming the extra, and ``setup()`` reports it (one warning, and in ``describe()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_kit.instrumentation._registry import Integration, contrib_requirement
from otel_kit.instrumentation._support import MissingDependency, installed

if TYPE_CHECKING:
    from otel_kit.telemetry import Telemetry

_INSTRUMENTORS = {
    "httpx": ("httpx", "opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
    "requests": ("requests", "opentelemetry.instrumentation.requests", "RequestsInstrumentor"),
}
_active: dict[str, Any] = {}


def integration(name: str, requirement: str) -> Integration:
    """The record of client library ``name`` (its extra is named alike); ``requirement`` pins the library."""
    _, module, cls = _INSTRUMENTORS[name]

    def _install(telemetry: Telemetry) -> None:
        install(name, telemetry.tracer_provider, telemetry.meter_provider)

    return Integration(
        name=name,
        library=name,
        extra=name,
        requires=(requirement, contrib_requirement(name)),
        instrumentor=f"{module}:{cls}",
        install=_install,
        uninstall=lambda: uninstall(name),
        summary="CLIENT span per request, trace context propagated, client duration metric",
    )


def install(name: str, tracer_provider: Any, meter_provider: Any) -> bool:
    """Instrument one client library; False when it is not installed, ``MissingDependency`` when
    the library is installed but its instrumentor (the ``otel-kit[name]`` extra) is not."""
    library, module, cls = _INSTRUMENTORS[name]
    if name in _active:
        return True
    if not installed(library):
        return False
    if not installed(module):
        raise MissingDependency(f"{name} is installed but not its instrumentation: pip install 'otel-kit[{name}]'")
    import importlib

    instrumentor = getattr(importlib.import_module(module), cls)()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    _active[name] = instrumentor
    return True


def uninstall(name: str) -> None:
    instrumentor = _active.pop(name, None)
    if instrumentor is not None:
        try:
            instrumentor.uninstrument()
        except Exception:  # noqa: BLE001
            pass


def uninstall_all() -> None:
    for instrumentor in _active.values():
        try:
            instrumentor.uninstrument()
        except Exception:  # noqa: BLE001
            pass
    _active.clear()
