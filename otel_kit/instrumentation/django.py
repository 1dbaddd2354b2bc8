"""Django: one SERVER span per request, security inspection, health and slow-query analysis.

otel-kit's own instrumentation: ``BaseHandler.get_response`` (and ``get_response_async``) is
patched at class level, so it does not matter whether Django was set up (or its handler built)
before or after ``setup()``, and ``MIDDLEWARE`` is left alone. WSGI (gunicorn, runserver), ASGI
and the test client all pass through it. ``http.route`` is the resolver's route
(``/polls/<int:question_id>/``, includes joined); ``excluded_urls`` are honoured. Request
inspection runs inside the span before any middleware or view; enforcing, an attack gets a 403.
The ORM's queries are traced by the driver integrations (psycopg, psycopg2, sqlite3), so the
slow-query and N+1 analysis covers them. Health endpoints: ``otel_kit.analysis.django_urls``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from otel_kit.instrumentation import _wsgi
from otel_kit.instrumentation._registry import Integration
from otel_kit.providers import active

if TYPE_CHECKING:
    from otel_kit.telemetry import Telemetry

SCOPE = "otel_kit.django"
_original: dict[str, Callable[..., Any]] = {}
_server_cache: list[Any] = [None, None]


def _start(request: Any) -> tuple[Any, Any]:
    """(state, the request's span) or (state, None) when this request is not traced."""
    state = active.current()
    if state is None or "django" not in state.settings.instrument or state.tracer_provider is None:
        return state, None
    try:
        return state, _wsgi.server_for(state, SCOPE, _server_cache).start(request.META)
    except Exception:  # noqa: BLE001 - telemetry must never break a request
        state.internal_error("django.start")
        return state, None


def _inspect(state: Any, request: Any) -> tuple[bool, Any]:
    """(refuse, taint token) for one request."""
    guard = state.guard
    if guard is None or guard.inspected(request.META):
        return False, None
    return guard.inspect_django(request)


def _set_route(span: Any, request: Any) -> None:
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None) if match is not None else None
    if route:
        # path() routes have no leading slash; re_path() ones are regular expressions, kept as they are
        span.set_route(route if route.startswith("^") else "/" + route)


def _resolve_request(self: Any, request: Any) -> Any:
    """Name the span as soon as the URL resolves, before the view runs (an N+1 found in the view
    then carries the route)."""
    match = _original["resolve_request"](self, request)
    span = request.META.get(_wsgi.REQUEST_KEY)
    if span is not None:
        try:
            _set_route(span, request)
        except Exception:  # noqa: BLE001
            pass
    return match


def _finish(span: Any, request: Any, response: Any) -> None:
    try:
        _set_route(span, request)
        span.set_status(response.status_code)
    except Exception:  # noqa: BLE001
        pass
    span.finish()


@contextmanager
def _serving(state: Any, span: Any, request: Any) -> Iterator[Any]:
    """Around the handler: yields the 403 to answer with when inspection refuses the request, else
    None; an exception ends the span with it. Shared by the WSGI and ASGI paths."""
    token = None
    request.META[_wsgi.REQUEST_KEY] = span
    try:
        refuse, token = _inspect(state, request)
        yield state.guard.django_forbidden() if refuse else None
    except BaseException as exc:
        span.finish(exc)
        raise
    finally:
        if token is not None:
            state.guard.end(token)
        span.detach()


def _get_response(self: Any, request: Any) -> Any:
    original = _original["get_response"]
    state, span = _start(request)
    if span is None:
        return original(self, request)
    with _serving(state, span, request) as refused:
        response = original(self, request) if refused is None else refused
    _finish(span, request, response)
    return response


async def _get_response_async(self: Any, request: Any) -> Any:
    original = _original["get_response_async"]
    state, span = _start(request)
    if span is None:
        return await original(self, request)
    with _serving(state, span, request) as refused:
        response = await original(self, request) if refused is None else refused
    _finish(span, request, response)
    return response


def _on_exception(sender: Any, request: Any = None, **extra: Any) -> None:
    """Django turned an exception into a 500 page: keep it on the request's span."""
    import sys

    from opentelemetry import trace

    error = sys.exc_info()[1]
    span = trace.get_current_span()
    if error is not None and span.is_recording():
        span.record_exception(error)
        span.set_attribute("error.type", type(error).__qualname__)


def install(telemetry: Telemetry) -> None:
    from django.core.handlers.base import BaseHandler
    from django.core.signals import got_request_exception

    if _original:
        return
    _original["get_response"] = BaseHandler.get_response
    _original["get_response_async"] = BaseHandler.get_response_async
    _original["resolve_request"] = BaseHandler.resolve_request
    BaseHandler.get_response = _get_response
    BaseHandler.resolve_request = _resolve_request
    BaseHandler.get_response_async = _get_response_async
    got_request_exception.connect(_on_exception, dispatch_uid="otel_kit")


def uninstall() -> None:
    if not _original:
        return
    from django.core.handlers.base import BaseHandler
    from django.core.signals import got_request_exception

    BaseHandler.get_response = _original.pop("get_response")
    BaseHandler.get_response_async = _original.pop("get_response_async")
    BaseHandler.resolve_request = _original.pop("resolve_request")
    got_request_exception.disconnect(dispatch_uid="otel_kit")
    _server_cache[:] = [None, None]


INTEGRATION = Integration(
    name="django",
    library="django",
    extra="django",
    requires=("django>=4.2",),
    install=install,
    uninstall=uninstall,
    summary="SERVER span per request (WSGI, ASGI, test client), resolver routes, security inspection and enforcement, health; ORM queries via the drivers",
)
