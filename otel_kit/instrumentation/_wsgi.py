"""Server spans for WSGI-style frameworks (Flask, Django): one SERVER span per request, the
stable HTTP semantic conventions, ``http.server.request.duration`` and ``http.server.active_requests``.

Kept lean on purpose: it runs on every request. The attributes are read straight from the
environ (Django's ``request.META`` is one), the trace context is extracted with the global
propagator, and the span is named ``METHOD route`` once the framework knows the route.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

# The semantic conventions' buckets for HTTP durations (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"})
_SERVER = SpanKind.SERVER
# Where the request's span waits in the environ (or Django's META) for the route to be known.
REQUEST_KEY = "otel_kit.request"


class EnvironGetter:
    """Reads propagation headers from a WSGI environ (``traceparent`` is ``HTTP_TRACEPARENT``)."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [k[5:].lower().replace("_", "-") for k in carrier if k.startswith("HTTP_")]


_GETTER = EnvironGetter()


def excluded_paths(paths: tuple[str, ...]) -> Callable[[str], bool]:
    exact = frozenset(paths)
    prefixes = tuple(p.rstrip("/") + "/" for p in paths)
    return lambda path: path in exact or path.startswith(prefixes)


class ServerTelemetry:
    """The tracer, instruments and exclusion rule that one ``setup()`` gives a framework."""

    def __init__(self, state: Any, scope: str) -> None:
        self.state = state
        self.tracer = state.tracer_provider.get_tracer(scope) if state.tracer_provider is not None else trace.NoOpTracer()
        meter = state.meter_provider.get_meter(scope) if state.meter_provider is not None else state.meter
        self.duration = meter.create_histogram(
            "http.server.request.duration", unit="s", description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.active = meter.create_up_down_counter("http.server.active_requests", unit="{request}", description="Number of active HTTP server requests.")
        self.excluded = excluded_paths(state.settings.excluded_urls)

    def start(self, environ: Mapping[str, Any]) -> Request | None:
        """The request's span, made current; None for an excluded URL."""
        path = environ.get("PATH_INFO") or "/"
        if self.excluded(path):
            return None
        return Request(self, environ, path)




def server_for(state: Any, scope: str, cache: list[Any]) -> ServerTelemetry:
    """One ``ServerTelemetry`` per ``setup()`` and framework (``cache`` is the framework's own slot)."""
    if cache[0] is not state:
        cache[1] = ServerTelemetry(state, scope)
        cache[0] = state
    server: ServerTelemetry = cache[1]
    return server


class Request:
    """One request's span and measurements; ``finish`` ends it exactly once."""

    __slots__ = ("_ended", "_metric_attributes", "_started", "_token", "method", "route", "server", "span", "status")

    def __init__(self, server: ServerTelemetry, environ: Mapping[str, Any], path: str) -> None:
        self.server = server
        raw_method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        method = raw_method if raw_method in _METHODS else "_OTHER"
        self.method = method
        self.route: str | None = None
        self.status = 0
        self._ended = False
        scheme = environ.get("wsgi.url_scheme", "http")
        protocol = str(environ.get("SERVER_PROTOCOL", "")).partition("/")[2]
        attributes: dict[str, Any] = {"http.request.method": method, "url.scheme": scheme, "url.path": path}
        if method == "_OTHER":
            attributes["http.request.method_original"] = raw_method
        query = environ.get("QUERY_STRING")
        if query:
            attributes["url.query"] = query
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME")
        if host:
            name, _, port = str(host).partition(":") if not str(host).startswith("[") else (str(host), "", "")
            attributes["server.address"] = name
            port = port or environ.get("SERVER_PORT") or ""
            if str(port).isdigit():
                attributes["server.port"] = int(port)
        client = environ.get("REMOTE_ADDR")
        if client:
            attributes["client.address"] = client
        agent = environ.get("HTTP_USER_AGENT")
        if agent:
            attributes["user_agent.original"] = agent
        if protocol:
            attributes["network.protocol.version"] = protocol
        self._metric_attributes = {"http.request.method": method, "url.scheme": scheme}
        if protocol:
            self._metric_attributes["network.protocol.version"] = protocol
        parent = propagate.extract(environ, getter=_GETTER)  # type: ignore[arg-type]
        self.span = server.tracer.start_span(method, context=parent, kind=_SERVER, attributes=attributes)
        self._token: Any = otel_context.attach(trace.set_span_in_context(self.span, parent))
        server.active.add(1, self._metric_attributes)
        self._started = time.perf_counter()

    def set_route(self, route: str | None) -> None:
        if route and self.route is None:
            self.route = route
            self.span.set_attribute("http.route", route)
            self.span.update_name(f"{self.method} {route}")

    def set_status(self, status: str | int) -> None:
        try:
            code = int(status) if isinstance(status, int) else int(str(status)[:3])
        except ValueError:
            return
        self.status = code
        self.span.set_attribute("http.response.status_code", code)
        if code >= 500:
            self.span.set_status(Status(StatusCode.ERROR))

    def record(self, error: BaseException) -> None:
        """An exception the framework handled (a 500 page) or that escapes it."""
        try:
            self.span.record_exception(error)
            self.span.set_attribute("error.type", type(error).__qualname__)
            self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        except Exception:  # noqa: BLE001
            pass

    def detach(self) -> None:
        """Leave the request's context (the span may still end later, when the body is sent)."""
        token = self._token
        self._token = None
        if token is not None:
            try:
                otel_context.detach(token)
            except Exception:  # noqa: BLE001
                pass

    def finish(self, error: BaseException | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        try:
            if error is not None:
                self.record(error)
            elapsed = time.perf_counter() - self._started
            attributes = dict(self._metric_attributes)
            if self.status:
                attributes["http.response.status_code"] = self.status
            if self.route:
                attributes["http.route"] = self.route
            if error is not None:
                attributes["error.type"] = type(error).__qualname__
            elif self.status >= 500:
                attributes["error.type"] = str(self.status)
            self.server.duration.record(elapsed, attributes)
            self.server.active.add(-1, self._metric_attributes)
            self.span.end()
        except Exception:  # noqa: BLE001 - telemetry must never break a response
            pass

    def wrap(self, body: Iterable[bytes]) -> Iterable[bytes]:
        """The response body, ending the span when the server closes it (after the last byte)."""
        return ClosingBody(body, self)


class ClosingBody:
    """A WSGI response iterable that ends the request's span on ``close()`` (PEP 3333)."""

    __slots__ = ("_body", "_request")

    def __init__(self, body: Iterable[bytes], request: Request) -> None:
        self._body = body
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except Exception as exc:
            self._request.finish(exc)
            raise
        # Servers call close() after the last byte; ending here too covers callers that do not.
        self._request.finish()

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._request.finish()
