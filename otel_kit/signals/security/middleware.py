"""ASGI middleware: inspect each request's fields; refuse blocked IPs and attacks when enforcing.

Path, query and inspected headers are checked before the application runs. The body is parsed
by content type (JSON strings, form fields, multipart text fields and file names) from its
first ``BODY_PREFIX`` bytes. Observing (the default), the body is inspected as the application
reads it. Enforcing, the middleware reads the body prefix first, inspects it, and either
refuses with 403 or replays the very same messages to the application. Bodies above
``THREAD_THRESHOLD`` bytes are inspected in a worker thread so the event loop keeps serving.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from otel_kit.providers import active
from otel_kit.signals.security import taint
from otel_kit.signals.security.detect import Finding, inspect_fields, inspect_headers
from otel_kit.signals.security.fields import Field, body_fields, request_fields
from otel_kit.signals.security.monitor import SecurityMonitor

BODY_PREFIX = 8192
THREAD_THRESHOLD = 2048

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


def _client_ip(scope: Mapping[str, Any]) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


_BODY_HEADERS = (b"content-type", b"content-length", b"transfer-encoding")


def _body_headers(scope: Mapping[str, Any]) -> tuple[str, bool]:
    """The content type, and whether a body follows (a length above zero or a transfer encoding)."""
    content_type = b""
    has_body = False
    for key, value in scope.get("headers", ()):
        if key in _BODY_HEADERS:
            if key == b"content-type":
                content_type = bytes(value)
            elif key == b"content-length":
                has_body = bytes(value).strip() not in (b"", b"0")
            else:
                has_body = True
    return content_type.decode("latin-1"), has_body


async def _detect_body(monitor: SecurityMonitor, body: bytes, content_type: str, values: taint.RequestValues) -> list[Finding]:
    if not body:
        return []

    def work() -> tuple[list[Field], list[Finding]]:
        fields = body_fields(body, content_type)
        return fields, inspect_fields(fields, key=monitor.hash_key)

    if len(body) > THREAD_THRESHOLD:
        try:
            import anyio.to_thread

            fields, findings = await anyio.to_thread.run_sync(work)
        except ImportError:
            fields, findings = work()
    else:
        fields, findings = work()
    values.add(fields)
    return findings


def active_monitor(monitor: SecurityMonitor | None) -> SecurityMonitor | None:
    """The monitor a middleware was given, else the current ``setup()``'s (None: nothing to inspect)."""
    if monitor is not None:
        return monitor
    state = active.current()
    return state.security if state is not None else None


class SecurityMiddleware:
    """Inspects each HTTP request; refuses blocked IPs and attacks only when enforcing."""

    def __init__(self, app: ASGIApp, monitor: SecurityMonitor | None = None) -> None:
        self.app = app
        self._monitor = monitor

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        monitor = active_monitor(self._monitor)
        if scope.get("type") != "http" or monitor is None:
            await self.app(scope, receive, send)
            return
        values, token = taint.begin(scope)
        try:
            refuse = False
            try:
                ip = _client_ip(scope)
                if monitor.blocklist.is_blocked(ip):
                    monitor.count_refusal("blocked_ip")
                    refuse = monitor.enforce
                monitor.request(ip)
                fields = request_fields(scope.get("path", ""), scope.get("query_string", b""))
                values.add(fields)
                findings = inspect_fields(fields, key=monitor.hash_key)
                findings += inspect_headers(scope.get("headers", ()), key=monitor.hash_key)
                content_type, has_body = _body_headers(scope)
                if monitor.enforce and not refuse and not monitor.should_refuse(findings) and has_body:
                    messages, body = await self._read_prefix(receive)
                    findings += await _detect_body(monitor, body, content_type, values)
                    receive = self._replay(messages, receive)
                elif not refuse:
                    receive = self._inspecting_receive(receive, monitor, ip, content_type, values)
                monitor.report(findings, ip)
                if not refuse and monitor.should_refuse(findings):
                    monitor.count_refusal("attack")
                    refuse = True
            except Exception:  # noqa: BLE001 - inspection must never fail a request
                refuse = False
            if refuse:
                await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": b'{"detail":"Forbidden"}'})
                return
            await self.app(scope, receive, send)
        finally:
            taint.end(token)

    @staticmethod
    async def _read_prefix(receive: Receive) -> tuple[list[Message], bytes]:
        """Messages up to the body prefix (or its end), to be replayed to the application unchanged."""
        messages: list[Message] = []
        chunks: list[bytes] = []
        size = 0
        while size < BODY_PREFIX:
            message = await receive()
            messages.append(message)
            if message.get("type") != "http.request":
                break
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                break
        return messages, b"".join(chunks)[:BODY_PREFIX]

    @staticmethod
    def _replay(messages: list[Message], receive: Receive) -> Receive:
        pending = list(messages)

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return replay

    @staticmethod
    def _inspecting_receive(receive: Receive, monitor: SecurityMonitor, ip: str | None, content_type: str, values: taint.RequestValues) -> Receive:
        chunks: list[bytes] = []
        seen = 0
        done = False

        async def wrapped() -> Message:
            nonlocal seen, done
            message = await receive()
            if done or message.get("type") != "http.request":
                return message
            chunk = message.get("body", b"")[: BODY_PREFIX - seen]
            if chunk:
                chunks.append(chunk)
                seen += len(chunk)
            if seen >= BODY_PREFIX or not message.get("more_body", False):
                done = True
                try:
                    monitor.report(await _detect_body(monitor, b"".join(chunks), content_type, values), ip)
                except Exception:  # noqa: BLE001
                    pass
                chunks.clear()
            return message

        return wrapped
