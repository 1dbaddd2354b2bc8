"""Flask: one SERVER span per request, security inspection, health and slow-query analysis.

otel-kit's own WSGI instrumentation (measured against the contrib Flask instrumentor in
``benchmarks/bench_flask.py``): ``Flask.__call__`` is patched at class level, so apps created
before or after ``setup()`` are covered, and so is whatever the app wraps around ``wsgi_app``
(ProxyFix, ...). ``http.route`` is the URL rule (``/users/<int:user_id>``), read while Flask
starts the response; unmatched URLs keep the method alone as span name (bounded cardinality).
``excluded_urls`` are honoured. Request inspection runs inside the span, before the view:
findings land on the request's span, and enforcement answers 403 without running the view.
Health endpoints and the slow-query report: ``otel_kit.analysis.flask_routes``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from otel_kit.instrumentation import _wsgi
from otel_kit.instrumentation._registry import Integration
from otel_kit.providers import active

if TYPE_CHECKING:
    from otel_kit.telemetry import Telemetry

SCOPE = "otel_kit.flask"
_SKIP = "_otel_kit_skip"
_original_call: Callable[..., Any] | None = None
_original_preprocess: Callable[..., Any] | None = None
_original_process_response: Callable[..., Any] | None = None
_STREAMED = "otel_kit.streamed"
_server_cache: list[Any] = [None, None]
_request_var: Any = None


def _route() -> str | None:
    """The matched URL rule of the request Flask is handling, if any."""
    context = _request_var.get(None) if _request_var is not None else None
    if context is None:
        return None
    rule = getattr(context.request, "url_rule", None)
    return rule.rule if rule is not None else None


def _call(self: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    assert _original_call is not None
    state = active.current()
    if state is None or getattr(self, _SKIP, False) or "flask" not in state.settings.instrument or state.tracer_provider is None:
        return _original_call(self, environ, start_response)
    try:
        request = _wsgi.server_for(state, SCOPE, _server_cache).start(environ)
    except Exception:  # noqa: BLE001 - telemetry must never break a request
        state.internal_error("flask.start")
        request = None
    if request is None:
        return _original_call(self, environ, start_response)

    environ[_wsgi.REQUEST_KEY] = request

    def starting(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        try:
            request.set_status(status)
            request.set_route(_route())
        except Exception:  # noqa: BLE001
            pass
        return start_response(status, headers, exc_info) if exc_info is not None else start_response(status, headers)

    guard = state.guard
    token = None
    try:
        if guard is not None and not guard.inspected(environ):
            refuse, token = guard.inspect_environ(environ)
            if refuse:
                return request.wrap(guard.forbid(starting))
        body = _original_call(self, environ, starting)
    except BaseException as exc:
        request.finish(exc)
        raise
    finally:
        if token is not None and guard is not None:
            guard.end(token)
        request.detach()
    if environ.get(_STREAMED, False):
        # A generator body (stream_with_context, send_file) is produced while the server sends it.
        return request.wrap(body)
    request.finish()
    return body


def _preprocess_request(self: Any) -> Any:
    """The URL rule is matched before the view runs: name the span now, so what the view records
    (an N+1 found mid-request, a security finding) carries the route."""
    assert _original_preprocess is not None
    context = _request_var.get(None) if _request_var is not None else None
    if context is not None:
        request = context.request.environ.get(_wsgi.REQUEST_KEY)
        if request is not None:
            rule = context.request.url_rule
            if rule is not None:
                request.set_route(rule.rule)
    return _original_preprocess(self)


def _process_response(self: Any, response: Any) -> Any:
    """Note whether the body is already built: then the span ends when the app returns, as test
    clients that read only the status expect; a streamed body ends it when the server closes it."""
    assert _original_process_response is not None
    context = _request_var.get(None) if _request_var is not None else None
    if context is not None:
        body = getattr(response, "response", None)
        context.request.environ[_STREAMED] = inspect.isgenerator(body) or bool(getattr(response, "direct_passthrough", False))
    return _original_process_response(self, response)


def _on_exception(sender: Any, exception: BaseException, **extra: Any) -> None:
    """Flask turned an exception into a 500 page: keep it on the request's span."""
    from opentelemetry import trace

    try:
        span = trace.get_current_span()
        if span.is_recording():
            span.record_exception(exception)
            span.set_attribute("error.type", type(exception).__qualname__)
    except Exception:  # noqa: BLE001
        pass


def install(telemetry: Telemetry) -> None:
    global _original_call, _original_preprocess, _original_process_response, _request_var
    import flask
    import flask.globals

    if _original_call is not None:
        return
    _request_var = getattr(flask.globals, "_cv_request", None)
    _original_call = flask.Flask.__call__
    flask.Flask.__call__ = _call  # type: ignore[method-assign]
    if _request_var is not None:
        _original_preprocess = flask.Flask.preprocess_request
        flask.Flask.preprocess_request = _preprocess_request  # type: ignore[method-assign]
        _original_process_response = flask.Flask.process_response
        flask.Flask.process_response = _process_response  # type: ignore[method-assign]
    flask.got_request_exception.connect(_on_exception)


def uninstall() -> None:
    global _original_call, _original_preprocess, _original_process_response
    if _original_call is None:
        return
    import flask

    flask.Flask.__call__ = _original_call  # type: ignore[method-assign]
    if _original_preprocess is not None:
        flask.Flask.preprocess_request = _original_preprocess  # type: ignore[method-assign]
        _original_preprocess = None
    if _original_process_response is not None:
        flask.Flask.process_response = _original_process_response  # type: ignore[method-assign]
        _original_process_response = None
    flask.got_request_exception.disconnect(_on_exception)
    _original_call = None
    _server_cache[:] = [None, None]


def exclude_app(app: Any) -> Any:
    """Keep one app out of automatic instrumentation; returns it."""
    setattr(app, _SKIP, True)
    return app


INTEGRATION = Integration(
    name="flask",
    library="flask",
    extra="flask",
    requires=("flask>=2.2",),
    install=install,
    uninstall=uninstall,
    summary="SERVER span per request (apps before or after setup()), URL-rule routes, security inspection and enforcement, health",
)
