"""FastAPI: exactly one server span per request, whichever telemetry path is chosen.

Two paths, chosen by ``fastapi_telemetry``:

- ``contrib`` (default): the opentelemetry-instrumentation-fastapi middleware, with the ASGI
  send/receive sub-spans off. FastAPI >= 0.142 sees that middleware and turns its own telemetry
  off, so there is one server span. Works on every FastAPI version.
- ``native``: FastAPI's built-in telemetry (>= 0.142), with its per-request operation spans off
  by default (``fastapi_operation_spans=True`` turns them on). Older FastAPI falls back to contrib.

Apps are caught by patching ``FastAPI.build_middleware_stack`` at class level, which FastAPI calls
on an app's first request: apps created before or after ``setup()`` are both covered, however
``FastAPI`` was imported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, MutableMapping
from typing import Any

from otel_kit.instrumentation._registry import Integration, contrib_requirement
from otel_kit.instrumentation._support import require
from otel_kit.providers import active

_log = logging.getLogger("otel_kit.instrumentation.fastapi")

_original_build: Callable[..., Any] | None = None
_SKIP = "_otel_kit_skip"


def has_native_telemetry() -> bool:
    try:
        import fastapi.telemetry  # noqa: F401
    except ImportError:
        return False
    return True


def _excluded(paths: tuple[str, ...]) -> Callable[[str], bool]:
    exact = frozenset(paths)
    prefixes = tuple(p.rstrip("/") + "/" for p in paths)
    return lambda path: path in exact or path.startswith(prefixes)


def _excluded_urls_regex(paths: tuple[str, ...]) -> str:
    # contrib matches these regexes with re.search against the full URL
    return ",".join(re.escape(p) + r"(/.*)?(\?.*)?$" for p in paths)


class FlushOnShutdown:
    """Flush telemetry when the ASGI server shuts the app down (lifespan ``shutdown``).

    uvicorn handles SIGTERM itself, shuts down gracefully, then restores the default handler and
    re-raises the signal: the process dies without running ``atexit``. Flushing here, off the
    event loop and within ``shutdown_timeout``, exports what the last requests recorded.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        if scope.get("type") != "lifespan":
            await self.app(scope, receive, send)
            return

        async def sending(message: MutableMapping[str, Any]) -> None:
            if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await _flush_off_loop()
            await send(message)

        await self.app(scope, receive, sending)


async def _flush_off_loop() -> None:
    state = active.current()
    if state is None:
        return
    try:
        import anyio.to_thread

        await anyio.to_thread.run_sync(state.force_flush)
    except Exception:  # noqa: BLE001 - shutting down must not fail because of telemetry
        _log.debug("otel-kit: flush at lifespan shutdown failed", exc_info=True)


def _wrap_inner(app: Any, stack: Any) -> Any:
    """Put otel-kit's request middleware (security inspection) inside the server span."""
    state = active.current()
    if state is None:
        return stack
    # Inside ServerErrorMiddleware (which passes lifespan through): contrib insists on finding
    # that class at the top of the stack.
    inner = getattr(stack, "app", None)
    if inner is not None and not isinstance(inner, FlushOnShutdown):
        stack.app = FlushOnShutdown(inner)
    return _with_security(state, stack)


def _with_security(state: Any, stack: Any) -> Any:
    guard = state.guard
    inner = getattr(stack, "app", None)
    if guard is not None and inner is not None:
        stack.app = guard.asgi(inner)
    return stack


def _build_middleware_stack(self: Any) -> Any:
    assert _original_build is not None
    state = active.current()
    if state is None or getattr(self, _SKIP, False):
        return _original_build(self)
    if getattr(self, "_is_instrumented_by_opentelemetry", False):
        # Second pass, from inside contrib's per-app wrapper: build the real stack.
        return _wrap_inner(self, _original_build(self))
    if _mode(state.settings.fastapi_telemetry) == "native":
        _configure_native(self, state.settings.excluded_urls, state.fastapi_operation_spans)
        return _wrap_inner(self, _original_build(self))
    _instrument_contrib(self, state)
    return self.build_middleware_stack()


def _mode(requested: str) -> str:
    if requested == "native" and not has_native_telemetry():
        _log.warning(
            "otel-kit: fastapi_telemetry='native' needs FastAPI >= 0.142 with built-in telemetry; using 'contrib'"
        )
        return "contrib"
    return requested


def _instrument_contrib(app: Any, state: Any) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=state.tracer_provider,
        meter_provider=state.meter_provider,
        excluded_urls=_excluded_urls_regex(state.settings.excluded_urls),
        exclude_spans=["send", "receive"],
    )


def _configure_native(app: Any, excluded_paths: tuple[str, ...], operation_spans: bool) -> None:
    config: MutableMapping[str, Any] | None = getattr(app, "_telemetry", None)
    if config is None:
        return
    is_excluded = _excluded(excluded_paths)
    user_exclude = config.get("exclude")

    def exclude(scope: MutableMapping[str, Any]) -> bool:
        if is_excluded(scope.get("path", "")):
            return True
        return bool(user_exclude(scope)) if user_exclude is not None else False

    config["exclude"] = exclude
    config["operation_spans"] = operation_spans
    # Exporters come from setup(); FastAPI adding its own from OTEL_* would duplicate every span.
    config["auto_configure"] = False


def install() -> None:
    """Patch FastAPI once per process so every app gets instrumented on its first request."""
    global _original_build
    fastapi = require("fastapi", "fastapi")
    require("opentelemetry.instrumentation.fastapi", "fastapi")
    if _original_build is not None:
        return
    _original_build = fastapi.FastAPI.build_middleware_stack
    fastapi.FastAPI.build_middleware_stack = _build_middleware_stack


def uninstall() -> None:
    global _original_build
    if _original_build is None:
        return
    import fastapi

    fastapi.FastAPI.build_middleware_stack = _original_build  # type: ignore[method-assign]
    _original_build = None


def instrument_app(app: Any) -> Any:
    """Instrument one app explicitly (also works after it has served requests); returns the app."""
    install()
    if getattr(app, _SKIP, False):
        setattr(app, _SKIP, False)
    # Rebuild on the next request so the instrumented stack replaces an already built one.
    app.middleware_stack = None
    return app


def exclude_app(app: Any) -> Any:
    """Keep one app out of automatic instrumentation."""
    setattr(app, _SKIP, True)
    return app


INTEGRATION = Integration(
    name="fastapi",
    library="fastapi",
    extra="fastapi",
    requires=("fastapi>=0.100", contrib_requirement("fastapi"), contrib_requirement("asgi")),
    instrumentor="opentelemetry.instrumentation.fastapi:FastAPIInstrumentor",
    install=lambda telemetry: install(),
    uninstall=uninstall,
    replaces=("asgi",),
    summary="one SERVER span per request (contrib or FastAPI's native telemetry), security inspection, health",
)
