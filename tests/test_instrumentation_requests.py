"""requests: the contrib client instrumentor through the registry: a CLIENT span whose context reaches the server."""

from __future__ import annotations

import requests
from _http_clients import check_client_span, check_switched_off


def _get(url: str) -> bytes:
    return requests.get(url, timeout=10).content


def test_client_span_and_propagated_context() -> None:
    """A request inside a span: one CLIENT span under it, and the server receives its traceparent."""
    check_client_span("requests", _get)


def test_switched_off_with_instrument() -> None:
    """instrument= without requests: no CLIENT span."""
    check_switched_off(_get)
