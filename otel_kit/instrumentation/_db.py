"""Shared by otel-kit's own database integrations: one CLIENT span per statement, the same way.

Spans follow the database semantic conventions (``db.system.name``, ``db.namespace``,
``db.operation.name``, ``db.collection.name``, ``db.query.text``, ``server.*``). Before each
statement the security taint check runs (request values concatenated into SQL). A driver
integration checks ``is_instrumentation_enabled()`` first: the SQLAlchemy integration switches
it off while its own statement runs, so a query through an ORM is one span, not two.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, get_value, set_value
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from otel_kit.redaction.sql import operation_and_target, sanitize_sql


class StatementCache:
    """Statements repeat (ORMs and drivers prepare the same SQL), so parse each distinct one once."""

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[str, str | None, str | None]] = OrderedDict()

    def get(self, statement: str) -> tuple[str, str | None, str | None]:
        """(literal-free text, operation, target) of ``statement``."""
        hit = self._items.get(statement)
        if hit is not None:
            return hit
        operation, target = operation_and_target(statement)
        entry = (sanitize_sql(statement), operation, target)
        self._items[statement] = entry
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return entry


cache = StatementCache()


def suppressed() -> bool:
    """True while another integration (SQLAlchemy) already traces the statement being run."""
    return bool(get_value(_SUPPRESS_INSTRUMENTATION_KEY))


def suppress() -> object:
    """Switch driver-level instrumentation off in this context; returns the token for ``restore``."""
    return attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))


def restore(token: Any) -> None:
    try:
        detach(token)
    except Exception:  # noqa: BLE001 - a token from another context: nothing to restore here
        pass


def start_statement_span(
    state: Any,
    tracer: Any,
    statement: str,
    *,
    system: str,
    namespace: str | None = None,
    host: str | None = None,
    port: int | None = None,
    batch: int | None = None,
) -> Span:
    """Run the taint check, then start the statement's CLIENT span (not made current)."""
    guard = state.guard
    if guard is not None:
        # Before the span starts, so a finding lands on the request's span.
        guard.check_statement(statement)
    sanitized, operation, target = cache.get(statement)
    attributes: dict[str, Any] = {
        "db.system.name": system,
        "db.query.text": statement if state.settings.capture_query_text else sanitized,
    }
    if namespace:
        attributes["db.namespace"] = namespace
    if operation:
        attributes["db.operation.name"] = operation
    if target:
        attributes["db.collection.name"] = target
    if host:
        attributes["server.address"] = host
        if port:
            attributes["server.port"] = port
    if batch is not None:
        attributes["db.operation.batch.size"] = batch
    name = f"{operation} {target}" if operation and target else (operation or system)
    span: Span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
    return span


def end_statement_span(span: Span, rowcount: Any = None, error: BaseException | None = None) -> None:
    """End a statement span with its row count or its error; never raises."""
    try:
        if error is not None:
            span.set_attribute("error.type", type(error).__qualname__)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        elif isinstance(rowcount, int) and rowcount >= 0:
            span.set_attribute("db.response.returned_rows", rowcount)
        span.end()
    except Exception:  # noqa: BLE001
        pass
