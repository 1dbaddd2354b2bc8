"""Django adapter for request inspection: the same findings, events and enforcement as the ASGI
middleware. ``setup()`` inspects every request already (inside the server span, before the
view); ``SecurityMiddleware`` is the same inspection as a Django middleware, for projects that
want it at a chosen place in ``MIDDLEWARE`` (a request is never inspected twice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_kit.providers import active
from otel_kit.signals.security import taint
from otel_kit.signals.security.monitor import SecurityMonitor
from otel_kit.signals.security.wsgi import FORBIDDEN_BODY, INSPECTED_KEY, content_length, environ_headers, inspect_request, read_prefix


def _peek_body(request: Any) -> bytes:
    """The body's first bytes, read from Django's stream and replayed to the view."""
    meta = request.META
    length = content_length(meta)
    stream = getattr(request, "_stream", None)
    if not length or stream is None or getattr(request, "_read_started", False) or hasattr(request, "_body"):
        return getattr(request, "_body", b"")[:8192] if hasattr(request, "_body") else b""
    try:
        prefix, request._stream = read_prefix(stream, length)
        return prefix
    except Exception:  # noqa: BLE001 - a broken stream is the view's to report
        return b""


def inspect(monitor: SecurityMonitor, request: Any, values: taint.RequestValues) -> bool:
    """Inspect one Django request; True when it must be refused. Never raises."""
    try:
        meta = request.META
        meta[INSPECTED_KEY] = True
        return inspect_request(
            monitor, values, path=request.path_info or "/", query=str(meta.get("QUERY_STRING", "")), headers=environ_headers(meta),
            ip=meta.get("REMOTE_ADDR") or None, body=_peek_body(request), content_type=str(meta.get("CONTENT_TYPE", "")),
        )
    except Exception:  # noqa: BLE001 - inspection must never fail a request
        return False


def forbidden() -> Any:
    from django.http import HttpResponse

    return HttpResponse(FORBIDDEN_BODY, status=403, content_type="application/json")


def _active() -> SecurityMonitor | None:
    state = active.current()
    return state.security if state is not None else None


class SecurityMiddleware:
    """``"otel_kit.signals.security.django.SecurityMiddleware"`` in ``MIDDLEWARE`` (sync views)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        monitor = _active()
        if monitor is None or request.META.get(INSPECTED_KEY):
            return self.get_response(request)
        values, token = taint.begin(None)
        try:
            if inspect(monitor, request, values):
                return forbidden()
            return self.get_response(request)
        finally:
            taint.end(token)
