"""WSGI adapter for request inspection: environ fields, body prefix replayed intact, the explicit middleware."""

from __future__ import annotations

import io
from typing import Any

from otel_kit.signals.security import taint
from otel_kit.signals.security.wsgi import PrefixedStream, SecurityMiddleware, environ_headers, read_prefix, wsgi_path
from otel_kit.testing import capture


def _environ(**extra: Any) -> dict[str, Any]:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "", "REMOTE_ADDR": "192.0.2.7", "wsgi.input": io.BytesIO(b"")}
    environ.update(extra)
    return environ


def test_prefix_is_replayed_exactly() -> None:
    """Reading the first bytes then everything (in any chunking, or by lines) gives the original body back."""
    body = b"line one\nline two\n" + b"x" * 20_000
    prefix, stream = read_prefix(io.BytesIO(body), len(body))
    assert prefix == body[:8192]
    assert stream.read(5) + stream.read(3) + stream.read() == body
    _, lines = read_prefix(io.BytesIO(body), len(body))
    assert lines.readline() == b"line one\n" and lines.readline() == b"line two\n" and lines.read() == b"x" * 20_000
    assert PrefixedStream(b"ab\ncd", io.BytesIO(b"ef\n")).readlines() == [b"ab\n", b"cdef\n"]


def test_headers_and_path_from_the_environ() -> None:
    """Only the inspected headers are read; PATH_INFO is decoded back to UTF-8."""
    environ = _environ(HTTP_USER_AGENT="curl/8", HTTP_COOKIE="secret", HTTP_REFERER="http://x/")
    assert environ_headers(environ) == [(b"user-agent", b"curl/8"), (b"referer", b"http://x/")]
    assert wsgi_path(_environ(PATH_INFO="/caf\u00c3\u00a9")) == "/café"


def test_middleware_finds_refuses_and_passes_the_body() -> None:
    """Any WSGI app: a body attack is a finding; enforcing, a 403 without calling the app; benign bodies reach it intact."""
    received: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        received.append(environ["wsgi.input"].read())
        start_response("200 OK", [])
        return [b"ok"]

    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        statuses.append(status)

    attack = b"name=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    form = {"CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(attack))}
    with capture(security=True, instrument=["logging"]) as cap:
        SecurityMiddleware(app)(_environ(REQUEST_METHOD="POST", **form, **{"wsgi.input": io.BytesIO(attack)}), start_response)
        assert received == [attack] and cap.metric_value("security.events", security__event__type="attack.xss") == 1
    with capture(security=True, security_enforce=True, instrument=["logging"]):
        body = SecurityMiddleware(app)(_environ(REQUEST_METHOD="POST", **form, **{"wsgi.input": io.BytesIO(attack)}), start_response)
        assert statuses[-1] == "403 Forbidden" and list(body) == [b'{"detail":"Forbidden"}'] and len(received) == 1
        assert taint.current() is None
