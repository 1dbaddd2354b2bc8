"""The request guard: the security steps setup() hands to the integrations, so they never import the signal."""

from __future__ import annotations

import io
from typing import Any

from otel_kit.signals.security import taint
from otel_kit.signals.security.guard import RequestGuard
from otel_kit.testing import capture


def _environ(query: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/items", "QUERY_STRING": query, "SERVER_NAME": "t", "SERVER_PORT": "80",
        "REMOTE_ADDR": "203.0.113.9", "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http",
    }


def test_setup_gives_the_integrations_a_guard_only_with_security_on() -> None:
    """telemetry.guard wraps the security monitor; with security off there is none (the integrations skip it)."""
    with capture(security=True) as cap:
        guard = cap.telemetry.guard
        assert isinstance(guard, RequestGuard) and guard.monitor is cap.telemetry.security
    with capture(security=False) as cap:
        assert cap.telemetry.guard is None


def test_a_wsgi_request_is_inspected_once_and_its_values_tracked_until_the_end() -> None:
    """inspect_environ marks the environ, finds an attack, and tracks the request's values until end()."""
    with capture(security=True, security_enforce=True) as cap:
        guard = cap.telemetry.guard
        assert guard is not None
        environ = _environ("q=1%27%20OR%20%271%27%3D%271")
        assert not guard.inspected(environ)
        refuse, token = guard.inspect_environ(environ)
        assert refuse and guard.inspected(environ)
        assert taint.current() is not None
        guard.end(token)
        assert taint.current() is None
        refuse, token = guard.inspect_environ(_environ("q=lamp"))
        guard.end(token)
        assert not refuse


def test_the_asgi_step_wraps_the_app_with_the_guards_monitor() -> None:
    """asgi() puts the security middleware, bound to this setup's monitor, in front of the app."""
    with capture(security=True) as cap:
        guard = cap.telemetry.guard
        assert guard is not None

        async def app(scope: Any, receive: Any, send: Any) -> None:
            return None

        wrapped = guard.asgi(app)
        assert wrapped.app is app and wrapped._monitor is cap.telemetry.security
        assert guard.asgi(wrapped) is wrapped  # a rebuilt middleware stack is not wrapped twice
