"""Django adapter for request inspection: the body stream is peeked and replayed; an already inspected request is left alone."""

from __future__ import annotations

import io
from typing import Any

from otel_kit.signals.security import taint
from otel_kit.signals.security.django import _peek_body, inspect


class _Request:
    """The parts of a Django HttpRequest the adapter reads."""

    def __init__(self, body: bytes, query: str = "", path: str = "/") -> None:
        self.META: dict[str, Any] = {"QUERY_STRING": query, "REMOTE_ADDR": "192.0.2.9", "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json"}
        self._stream = io.BytesIO(body)
        self._read_started = False
        self.path_info = path


def test_peeked_body_is_replayed_to_the_view() -> None:
    """The first bytes are inspected; the view still reads the whole body."""
    request = _Request(b'{"q": "' + b"a" * 10_000 + b'"}')
    assert _peek_body(request) == b'{"q": "' + b"a" * 8185
    assert request._stream.read() == b'{"q": "' + b"a" * 10_000 + b'"}'


def test_inspect_reports_findings_without_a_framework() -> None:
    """A JSON body with a path traversal is a finding; the request is marked inspected; values are kept for the taint check."""
    from otel_kit.testing import capture

    with capture(security=True, instrument=["logging"]) as cap:
        values, token = taint.begin(None)
        try:
            request = _Request(b'{"file": "../../../../etc/passwd", "name": "long enough"}')
            assert inspect(cap.telemetry.security, request, values) is False
            assert request.META["otel_kit.security.inspected"] is True
            assert ("body.name", "long enough") in values.values
        finally:
            taint.end(token)
        assert cap.metric_value("security.events", security__event__type="attack.path_traversal") == 1
