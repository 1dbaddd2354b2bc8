"""One span processor that feeds health and slow-query analysis, reading each ended span once.

This sits on every span's path, so it is written for cost: one attribute lookup per field from
the span's own dict, the health window looked up by a tuple of raw attribute values (no string
built per span), and nothing allocated for spans neither analysis wants.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

if TYPE_CHECKING:
    from otel_kit.analysis.health import HealthMonitor
    from otel_kit.analysis.slow_queries import SlowQueryAnalyzer

_SERVER = SpanKind.SERVER
_CLIENT = SpanKind.CLIENT
_CONSUMER = SpanKind.CONSUMER
_ERROR = StatusCode.ERROR
_EMPTY: Mapping[str, Any] = {}
# A span's end time is wall-clock time already; only an injected test clock needs calling.
_WALL = time.time


def span_attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes as a plain mapping, without the public property's per-miss cost.

    ``ReadableSpan.attributes`` wraps the SDK's ``BoundedAttributes`` in a new proxy on every
    access, and each missing key then raises and catches ``KeyError`` inside ``Mapping.get``
    (~0.7 µs a miss). The SDK keeps the values in a plain ``_dict``; read that when it is there.
    """
    attributes = getattr(span, "_attributes", None)
    if attributes is None:
        return span.attributes or _EMPTY
    inner = getattr(attributes, "_dict", None)
    return inner if isinstance(inner, dict) else attributes


def _failed(span: ReadableSpan, attributes: Mapping[str, Any]) -> bool:
    if span.status.status_code is _ERROR:
        return True
    code = attributes.get("http.response.status_code") or attributes.get("http.status_code")
    return isinstance(code, int) and code >= 500


class AnalysisProcessor(SpanProcessor):
    """Health windows and slow-query statistics from ended spans; either side may be absent.

    ``setup()`` installs one of these for both analyses; ``HealthMonitor.processor`` and
    ``SlowQueryAnalyzer.processor`` are the same class with one side, for standalone use.
    Exceptions inside the analysis are counted in ``failures`` and never reach the traced code.
    """

    def __init__(self, health: HealthMonitor | None = None, queries: SlowQueryAnalyzer | None = None) -> None:
        self.health = health
        self.queries = queries
        self.failures = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.queries is None:
            return
        try:
            parent = span.parent
            if parent is None or parent.is_remote:
                self.queries._track_root(span)
        except Exception:  # noqa: BLE001 - analysis must never affect the traced code
            self.failures += 1

    def on_end(self, span: ReadableSpan) -> None:
        try:
            self._analyze(span)
        except Exception:  # noqa: BLE001 - analysis must never affect the traced code
            self.failures += 1

    def _analyze(self, span: ReadableSpan) -> None:
        start, end = span.start_time, span.end_time
        if start is None or end is None:
            return
        kind = span.kind
        health, queries = self.health, self.queries
        if kind is _SERVER or kind is _CLIENT or kind is _CONSUMER:
            attributes = span_attributes(span)
            seconds = (end - start) / 1e9
            system = None
            key: tuple[Any, ...] | None = None
            failed = False
            if kind is _SERVER:
                if health is not None:
                    method = attributes.get("http.request.method") or attributes.get("http.method")
                    if method is not None:
                        key = ("route", method, attributes.get("http.route") or span.name.partition(" ")[2] or "unknown")
                    else:
                        # gRPC and other non-HTTP servers: the span name is the operation
                        key = ("operation", span.name)
                    failed = _failed(span, attributes)
            elif kind is _CONSUMER:
                if health is not None:
                    # a Celery task run (``celery.task_name``), or any other consumed message
                    key = ("task", attributes.get("celery.task_name") or attributes.get("messaging.destination.name") or span.name)
                    failed = span.status.status_code is _ERROR
            else:
                system = attributes.get("db.system.name") or attributes.get("db.system")
                if system is not None:
                    if health is not None:
                        key = ("db", system, attributes.get("db.namespace") or attributes.get("db.name"))
                        failed = span.status.status_code is _ERROR
                elif health is not None:
                    address = attributes.get("server.address") or attributes.get("net.peer.name")
                    if address is not None and (attributes.get("http.request.method") or attributes.get("http.method")):
                        key = ("http", address)
                        failed = _failed(span, attributes)
            if key is not None and health is not None:
                # the target's name is only built the first time a key is seen (``or`` is lazy)
                window = health._by_span.get(key) or health._span_window(key)
                window.add(end / 1e9 if health.clock is _WALL else health.clock(), seconds, failed)
            if system is not None and queries is not None:
                queries._on_query(span, attributes, seconds, system)
        if queries is not None:
            parent = span.parent
            if parent is None or parent.is_remote:
                queries._on_root_end(span)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
