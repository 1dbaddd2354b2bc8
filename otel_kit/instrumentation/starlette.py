"""Plain Starlette apps: one SERVER span per request (the contrib ASGI middleware with Starlette's
route templates), security inspection, health.

``Starlette.build_middleware_stack`` is patched at class level, as for FastAPI, so apps created
before or after ``setup()`` are covered. FastAPI builds its own stack (its own integration), and
the contrib Starlette instrumentor is never activated (this record replaces it): it swaps the ``Starlette`` class, and a
FastAPI imported after it would get a second server span.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from otel_kit.instrumentation._registry import Integration, contrib_requirement
from otel_kit.providers import active

if TYPE_CHECKING:
    from otel_kit.telemetry import Telemetry

_MARK = "_otel_kit_starlette"
_original_build: Callable[..., Any] | None = None


def _build_middleware_stack(self: Any) -> Any:
    assert _original_build is not None
    from otel_kit.instrumentation import fastapi as shared

    state = active.current()
    if state is None or getattr(self, shared._SKIP, False) or "starlette" not in state.settings.instrument:
        return _original_build(self)
    if getattr(self, _MARK, False):
        return _inside_the_span(state, _original_build(self))
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    self.add_middleware(
        OpenTelemetryMiddleware,
        excluded_urls=shared._excluded_urls_regex(state.settings.excluded_urls),
        default_span_details=_span_details,
        tracer=state.tracer_provider.get_tracer("otel_kit.starlette") if state.tracer_provider is not None else None,
        meter=state.meter_provider.get_meter("otel_kit.starlette") if state.meter_provider is not None else None,
        exclude_spans=["send", "receive"],
    )
    setattr(self, _MARK, True)
    return _build_middleware_stack(self)


def _inside_the_span(state: Any, stack: Any) -> Any:
    """Flush on lifespan shutdown, and inspect requests inside the server span (so findings land on it)."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    from otel_kit.instrumentation.fastapi import FlushOnShutdown

    middleware = getattr(stack, "app", None)
    if isinstance(middleware, OpenTelemetryMiddleware):
        inner = middleware.app
        if not isinstance(inner, FlushOnShutdown):
            inner = FlushOnShutdown(inner)
        if state.guard is not None:
            inner = state.guard.asgi(inner)
        middleware.app = inner
    return stack


def _span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Span name and ``http.route`` from the first route that fully matches (``/items/{id:int}``)."""
    from starlette.routing import Match

    method = str(scope.get("method", "")).upper() or "HTTP"
    app = scope.get("app")
    for route in getattr(app, "routes", ()):
        try:
            match, _ = route.matches(scope)
        except Exception:  # noqa: BLE001
            continue
        if match is Match.FULL:
            path = getattr(route, "path", None)
            if path:
                return f"{method} {path}", {"http.route": path}
            break
    return method, {}


def install(telemetry: Telemetry) -> None:
    global _original_build
    import starlette.applications

    if _original_build is not None:
        return
    _original_build = starlette.applications.Starlette.build_middleware_stack
    starlette.applications.Starlette.build_middleware_stack = _build_middleware_stack  # type: ignore[method-assign]


def uninstall() -> None:
    global _original_build
    if _original_build is None:
        return
    import starlette.applications

    starlette.applications.Starlette.build_middleware_stack = _original_build  # type: ignore[method-assign]
    _original_build = None


INTEGRATION = Integration(
    name="starlette",
    library="starlette",
    extra="starlette",
    requires=("starlette>=0.27", contrib_requirement("asgi")),
    # otel-kit's own route lookup with the contrib ASGI middleware (what the fastapi extra brings)
    instrumentor="opentelemetry.instrumentation.asgi:OpenTelemetryMiddleware",
    install=install,
    uninstall=uninstall,
    replaces=("starlette",),
    summary="SERVER span per request for plain Starlette apps (before or after setup()), security inspection, health",
)
