"""What the framework and database integrations ask of the security signal, in one object.

The integrations sit a layer below the signals and do not import them: ``setup()`` hands them a
``RequestGuard`` (``telemetry.guard``) when the security signal is on, and an integration calls it,
or does nothing when there is none. Each method is the whole security step of one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from contextvars import Token
from typing import Any

from otel_kit.signals.security import django, taint, wsgi
from otel_kit.signals.security.middleware import SecurityMiddleware
from otel_kit.signals.security.monitor import SecurityMonitor

__all__ = ["RequestGuard"]

INSPECTED_KEY = wsgi.INSPECTED_KEY


class RequestGuard:
    """The security steps of one ``setup()``'s monitor, as the integrations call them."""

    __slots__ = ("monitor",)

    def __init__(self, monitor: SecurityMonitor) -> None:
        self.monitor = monitor

    # --- databases ---------------------------------------------------------------------------------

    def check_statement(self, statement: str) -> None:
        """Before a SQL statement runs: a request value pasted into it is an injection finding."""
        taint.check_statement(statement, self.monitor)

    # --- WSGI (Flask) and Django -------------------------------------------------------------------

    def inspected(self, environ: MutableMapping[str, Any]) -> bool:
        """Whether this request was already inspected (a security middleware of the app's own ran first)."""
        return bool(environ.get(INSPECTED_KEY))

    def inspect_environ(self, environ: MutableMapping[str, Any]) -> tuple[bool, Token[taint.RequestValues | None]]:
        """Inspect a WSGI request: (refuse it, the token that ends its taint tracking with ``end``)."""
        environ[INSPECTED_KEY] = True
        values, token = taint.begin(None)
        return wsgi.inspect_environ(self.monitor, environ, values), token

    def forbid(self, start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer a refused WSGI request with 403."""
        return wsgi.forbid(start_response)

    def inspect_django(self, request: Any) -> tuple[bool, Token[taint.RequestValues | None]]:
        """Inspect a Django request: (refuse it, the token that ends its taint tracking with ``end``)."""
        values, token = taint.begin(None)
        return django.inspect(self.monitor, request, values), token

    def django_forbidden(self) -> Any:
        """Django's 403 response for a refused request."""
        return django.forbidden()

    def end(self, token: Token[taint.RequestValues | None]) -> None:
        """The request is answered: stop tracking its values."""
        taint.end(token)

    # --- ASGI (Starlette, FastAPI) -----------------------------------------------------------------

    def asgi(self, app: Any) -> Any:
        """``app`` behind the ASGI security middleware (once: an app that already is one is returned as it is)."""
        if isinstance(app, SecurityMiddleware):
            return app
        return SecurityMiddleware(app, monitor=self.monitor)
