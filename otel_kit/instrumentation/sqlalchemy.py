"""SQLAlchemy: a CLIENT span per statement, on SQLAlchemy 2.0 and 2.1 alike.

opentelemetry-instrumentation-sqlalchemy 0.66b1 declares ``sqlalchemy < 2.1`` and instruments
nothing on 2.1, so otel-kit listens to SQLAlchemy's cursor events itself. Listening on the
``Engine`` class covers engines created before and after ``setup()``.

Spans follow the database semantic conventions (``db.system.name``, ``db.namespace``,
``db.operation.name``, ``db.collection.name``, ``db.query.text``). The query text is exported
without literals unless ``capture_query_text=True``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_kit.analysis.sql import operation_and_target, sanitize_sql
from otel_kit.instrumentation._support import require

_SPAN_KEY = "_otel_kit_span"
_installed = False


class _StatementCache:
    """Statements repeat (SQLAlchemy caches compiled SQL), so parse each distinct one once."""

    def __init__(self, size: int = 2048) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[str, str | None, str | None]] = OrderedDict()

    def get(self, statement: str) -> tuple[str, str | None, str | None]:
        hit = self._items.get(statement)
        if hit is not None:
            return hit
        operation, target = operation_and_target(statement)
        entry = (sanitize_sql(statement), operation, target)
        self._items[statement] = entry
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return entry


_cache = _StatementCache()

_SYSTEMS = {"postgresql": "postgresql", "sqlite": "sqlite", "mysql": "mysql", "mariadb": "mariadb", "mssql": "microsoft.sql_server", "oracle": "oracle.db"}


def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    from otel_kit import telemetry as _telemetry

    state = _telemetry.current()
    if state is None or context is None or "sqlalchemy" not in state.settings.instrument:
        return
    try:
        if state.security is not None:
            # Before the CLIENT span starts, so a finding lands on the request's span.
            from otel_kit.signals.security.taint import check_statement

            check_statement(statement, state.security)
        sanitized, operation, target = _cache.get(statement)
        engine = conn.engine
        url = engine.url
        dialect = engine.dialect.name
        namespace = url.database
        attributes: dict[str, Any] = {
            "db.system.name": _SYSTEMS.get(dialect, dialect),
            "db.query.text": statement if state.settings.capture_query_text else sanitized,
        }
        if namespace:
            attributes["db.namespace"] = namespace
        if operation:
            attributes["db.operation.name"] = operation
        if target:
            attributes["db.collection.name"] = target
        if url.host:
            attributes["server.address"] = url.host
            if url.port:
                attributes["server.port"] = url.port
        if executemany:
            attributes["db.operation.batch.size"] = len(parameters) if hasattr(parameters, "__len__") else 0
        name = f"{operation} {target}" if operation and target else (operation or dialect)
        span = state.db_tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        setattr(context, _SPAN_KEY, span)
    except Exception:  # noqa: BLE001 - telemetry must never break a query
        state.internal_error("sqlalchemy.before_cursor_execute")


def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    span = getattr(context, _SPAN_KEY, None) if context is not None else None
    if span is None:
        return
    try:
        rowcount = getattr(cursor, "rowcount", -1)
        if isinstance(rowcount, int) and rowcount >= 0:
            span.set_attribute("db.response.returned_rows", rowcount)
        span.end()
    except Exception:  # noqa: BLE001
        pass
    finally:
        setattr(context, _SPAN_KEY, None)


def _error(exception_context: Any) -> None:
    context = exception_context.execution_context
    span = getattr(context, _SPAN_KEY, None) if context is not None else None
    if span is None:
        return
    try:
        error = exception_context.original_exception
        span.set_attribute("error.type", type(error).__qualname__)
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}"))
        span.end()
    except Exception:  # noqa: BLE001
        pass
    finally:
        setattr(context, _SPAN_KEY, None)


def install() -> None:
    global _installed
    require("sqlalchemy", "sqlalchemy")
    if _installed:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)
    event.listen(Engine, "handle_error", _error)
    _installed = True


def uninstall() -> None:
    global _installed
    if not _installed:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    for name, fn in (("before_cursor_execute", _before), ("after_cursor_execute", _after), ("handle_error", _error)):
        if event.contains(Engine, name, fn):
            event.remove(Engine, name, fn)
    _installed = False


def instrument_engine(engine: Any) -> Any:
    """Explicit form for users who prefer it; the class-level listeners already cover ``engine``.

    Also accepts an ``AsyncEngine``. Returns the engine.
    """
    install()
    return engine
