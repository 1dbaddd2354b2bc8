"""WSGI adapters for request inspection: the same fields, detectors, events and enforcement as the
ASGI middleware, for Flask (applied automatically by ``setup()``), Django (``security.django``)
and any other WSGI application (``SecurityMiddleware``).

Path, query and inspected headers come from the environ; the body's first ``BODY_PREFIX`` bytes
are read before the application runs (a body with a declared length only) and handed back to it
unchanged through a stream that replays them. Findings are recorded on the request's span;
enforcing, blocked IPs and attacks at or above the policy's severity get a 403 and the
application never runs.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any

from otel_kit.signals.security import taint
from otel_kit.signals.security.detect import Finding, inspect_fields, inspect_headers
from otel_kit.signals.security.fields import INSPECTED_HEADERS, body_fields, request_fields
from otel_kit.signals.security.middleware import BODY_PREFIX, active_monitor
from otel_kit.signals.security.monitor import SecurityMonitor

FORBIDDEN_BODY = b'{"detail":"Forbidden"}'
FORBIDDEN_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(FORBIDDEN_BODY)))]
# environ key -> header name, for the headers the detectors read
_ENVIRON_HEADERS = tuple(("HTTP_" + name.decode().upper().replace("-", "_"), name) for name in INSPECTED_HEADERS)

Environ = MutableMapping[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def environ_headers(environ: Environ) -> list[tuple[bytes, bytes]]:
    """The inspected headers present in a WSGI environ (or Django's ``request.META``)."""
    found: list[tuple[bytes, bytes]] = []
    for key, name in _ENVIRON_HEADERS:
        value = environ.get(key)
        if value:
            found.append((name, str(value).encode("latin-1", "replace")))
    return found


def wsgi_path(environ: Environ) -> str:
    """PATH_INFO as the client sent it: WSGI servers hand it over as latin-1 decoded bytes."""
    path = str(environ.get("PATH_INFO", "") or "/")
    try:
        return path.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return path


def content_length(environ: Environ) -> int:
    try:
        return max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


class PrefixedStream(io.RawIOBase):
    """Replays the bytes already read from a request body, then reads on from the original stream."""

    def __init__(self, prefix: bytes, rest: Any) -> None:
        super().__init__()
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data, self._prefix = self._prefix, b""
            return data + self._rest.read()
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            if len(data) < size:
                data += self._rest.read(size - len(data))
            return data
        return bytes(self._rest.read(size))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        if self._prefix:
            end = self._prefix.find(b"\n")
            if end != -1 and (size is None or size < 0 or end < size):
                line, self._prefix = self._prefix[: end + 1], self._prefix[end + 1 :]
                return line
            limit = len(self._prefix) if size is None or size < 0 else min(size, len(self._prefix))
            line, self._prefix = self._prefix[:limit], self._prefix[limit:]
            if size is None or size < 0:
                return line + self._rest.readline()
            return line + (self._rest.readline(size - len(line)) if len(line) < size else b"")
        return bytes(self._rest.readline() if size is None or size < 0 else self._rest.readline(size))

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


def read_prefix(stream: Any, length: int) -> tuple[bytes, Any]:
    """Read up to ``BODY_PREFIX`` bytes of a body of ``length``; returns them and the stream to use instead."""
    wanted = min(length, BODY_PREFIX)
    chunks: list[bytes] = []
    size = 0
    while size < wanted:
        chunk = stream.read(wanted - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    prefix = b"".join(chunks)
    return prefix, PrefixedStream(prefix, stream)


def inspect_request(
    monitor: SecurityMonitor,
    values: taint.RequestValues,
    *,
    path: str,
    query: str,
    headers: list[tuple[bytes, bytes]],
    ip: str | None,
    body: bytes = b"",
    content_type: str = "",
) -> bool:
    """Inspect one request and record what was found; True when it must be refused. Never raises."""
    try:
        refuse = False
        if monitor.blocklist.is_blocked(ip):
            monitor.count_refusal("blocked_ip")
            refuse = monitor.enforce
        monitor.request(ip)
        fields = request_fields(path, query)
        values.add(fields)
        findings: list[Finding] = inspect_fields(fields, key=monitor.hash_key)
        findings += inspect_headers(headers, key=monitor.hash_key)
        if body and not refuse:
            parsed = body_fields(body, content_type)
            values.add(parsed)
            findings += inspect_fields(parsed, key=monitor.hash_key)
        monitor.report(findings, ip)
        if not refuse and monitor.should_refuse(findings):
            monitor.count_refusal("attack")
            refuse = True
        return refuse
    except Exception:  # noqa: BLE001 - inspection must never fail a request
        return False


def inspect_environ(monitor: SecurityMonitor, environ: Environ, values: taint.RequestValues) -> bool:
    """Inspect a WSGI request (the body prefix too, replayed to the app); True when it must be refused."""
    body = b""
    length = content_length(environ)
    stream = environ.get("wsgi.input")
    if length and stream is not None:
        try:
            body, environ["wsgi.input"] = read_prefix(stream, length)
        except Exception:  # noqa: BLE001 - a broken input stream is the application's to report
            body = b""
    return inspect_request(
        monitor, values, path=wsgi_path(environ), query=str(environ.get("QUERY_STRING", "")), headers=environ_headers(environ),
        ip=environ.get("REMOTE_ADDR") or None, body=body, content_type=str(environ.get("CONTENT_TYPE", "")),
    )


def forbid(start_response: StartResponse) -> list[bytes]:
    start_response("403 Forbidden", list(FORBIDDEN_HEADERS))
    return [FORBIDDEN_BODY]


class SecurityMiddleware:
    """WSGI middleware: ``app.wsgi_app = SecurityMiddleware(app.wsgi_app)`` for any WSGI application.

    Flask apps need nothing: ``setup()`` inspects their requests already (inside the server span).
    """

    def __init__(self, app: WSGIApp, monitor: SecurityMonitor | None = None) -> None:
        self.app = app
        self._monitor = monitor

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        monitor = active_monitor(self._monitor)
        if monitor is None or environ.get(INSPECTED_KEY):
            return self.app(environ, start_response)
        environ[INSPECTED_KEY] = True
        values, token = taint.begin(None)
        try:
            if inspect_environ(monitor, environ, values):
                return forbid(start_response)
            return self.app(environ, start_response)
        finally:
            taint.end(token)


# Set on a request once inspected, so an explicit middleware and the automatic one never both run.
INSPECTED_KEY = "otel_kit.security.inspected"
