"""SQLAlchemy: a CLIENT span per statement, on SQLAlchemy 2.0 and 2.1 alike.

opentelemetry-instrumentation-sqlalchemy 0.66b1 declares ``sqlalchemy < 2.1`` and instruments
nothing on 2.1, so otel-kit listens to SQLAlchemy's cursor events itself. Listening on the
``Engine`` class covers engines created before and after ``setup()``.

Spans follow the database semantic conventions (``db.system.name``, ``db.namespace``,
``db.operation.name``, ``db.collection.name``, ``db.query.text``). The query text is exported
without literals unless ``capture_query_text=True``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from otel_kit.instrumentation import _db, _pools
from otel_kit.instrumentation._registry import Integration
from otel_kit.instrumentation._support import require
from otel_kit.providers import active

if TYPE_CHECKING:
    from otel_kit.telemetry import Telemetry

_SPAN_KEY = "_otel_kit_span"
_SUPPRESS_KEY = "_otel_kit_suppress"
_FIRST_WAIT = "_otel_kit_first_wait"
_installed = False
_original_connects: dict[type, Any] = {}

_SYSTEMS = {"postgresql": "postgresql", "sqlite": "sqlite", "mysql": "mysql", "mariadb": "mariadb", "mssql": "microsoft.sql_server", "oracle": "oracle.db"}


def _before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    state = active.current()
    if state is None or context is None or "sqlalchemy" not in state.settings.instrument:
        return
    try:
        engine = conn.engine
        url = engine.url
        dialect = engine.dialect.name
        batch = (len(parameters) if hasattr(parameters, "__len__") else 0) if executemany else None
        span = _db.start_statement_span(
            state, state.db_tracer, statement, system=_SYSTEMS.get(dialect, dialect), namespace=url.database,
            host=url.host, port=url.port, batch=batch,
        )
        setattr(context, _SPAN_KEY, span)
        # The driver's own integration (psycopg, psycopg2, sqlite3, ...) would trace the same
        # statement again: one span per query.
        setattr(context, _SUPPRESS_KEY, _db.suppress())
    except Exception:  # noqa: BLE001 - telemetry must never break a query
        state.internal_error("sqlalchemy.before_cursor_execute")


def _release(context: Any) -> None:
    token = getattr(context, _SUPPRESS_KEY, None)
    if token is not None:
        setattr(context, _SUPPRESS_KEY, None)
        _db.restore(token)


def _take_span(context: Any) -> Any:
    """The statement's span, taken off its execution context (None: not traced), once the driver
    integration may trace again."""
    if context is None:
        return None
    _release(context)
    span = getattr(context, _SPAN_KEY, None)
    if span is not None:
        setattr(context, _SPAN_KEY, None)
    return span


def _after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    span = _take_span(context)
    if span is not None:
        _db.end_statement_span(span, getattr(cursor, "rowcount", -1))


def _error(exception_context: Any) -> None:
    span = _take_span(exception_context.execution_context)
    if span is not None:
        _db.end_statement_span(span, error=exception_context.original_exception)


# --- connection pools: db.client.connection.* per the semantic conventions -----------------------


def _pool_name(engine: Any) -> str:
    url = engine.url
    return f"{url.drivername}://{url.host or ''}{f':{url.port}' if url.port else ''}/{url.database or ''}"


def _engine_connect(connection: Any) -> None:
    try:
        engine = connection.engine
        pool = engine.pool
        if not _pools.registry.known(pool) and hasattr(pool, "checkedout"):
            _pools.registry.add(pool, _pool_name(engine), _observe_pool)
            # the checkout that opened this connection was timed before the pool had a name
            first = pool.__dict__.pop(_FIRST_WAIT, None)
            if first is not None:
                _pools.registry.waited(pool, first)
    except Exception:  # noqa: BLE001
        pass


def _observe_pool(pool: Any) -> _pools.PoolState:
    used = pool.checkedout()
    idle = pool.checkedin()
    overflow = getattr(pool, "_max_overflow", -1)
    maximum = pool.size() + overflow if isinstance(overflow, int) and overflow >= 0 else None
    return _pools.PoolState(idle=idle, used=used, max=maximum)


def _timed(original: Any) -> Any:
    def connect(self: Any) -> Any:
        started = time.perf_counter()
        # Opening a connection runs SQLAlchemy's own statements on the raw driver (dialect set-up,
        # PRAGMAs, pre-ping): not the application's queries, so the driver integration skips them.
        token = _db.suppress()
        try:
            connection = original(self)
        except Exception as exc:
            from sqlalchemy.exc import TimeoutError as PoolTimeout

            if isinstance(exc, PoolTimeout):
                _pools.registry.timeout(self)
            raise
        finally:
            _db.restore(token)
        waited = time.perf_counter() - started
        if _pools.registry.known(self):
            _pools.registry.waited(self, waited)
        else:
            self.__dict__[_FIRST_WAIT] = waited
        return connection

    connect._otel_kit = True  # type: ignore[attr-defined]
    return connect


_quieted: list[tuple[type, str, Any]] = []


def _quiet_housekeeping() -> None:
    """Transaction ends and the reset of a returned connection run on the raw driver (asyncpg traces
    its ROLLBACK): SQLAlchemy's housekeeping, not the application's queries, so the driver
    integration skips them too."""
    from sqlalchemy.engine.default import DefaultDialect
    from sqlalchemy.pool.base import _ConnectionFairy

    for cls, name in ((_ConnectionFairy, "_checkin"), (DefaultDialect, "do_rollback"), (DefaultDialect, "do_commit")):
        original = cls.__dict__.get(name)
        if original is None or getattr(original, "_otel_kit", False):
            continue

        def quiet(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            token = _db.suppress()
            try:
                return __original(self, *args, **kwargs)
            finally:
                _db.restore(token)

        quiet._otel_kit = True  # type: ignore[attr-defined]
        setattr(cls, name, quiet)
        _quieted.append((cls, name, original))


def _pool_classes() -> list[type]:
    """``Pool`` and each subclass with a ``connect`` of its own (SingletonThreadPool, ...)."""
    from sqlalchemy.pool import Pool

    found: list[type] = []
    pending: list[type] = [Pool]
    while pending:
        cls = pending.pop()
        if "connect" in cls.__dict__:
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def install(telemetry: Telemetry | None = None) -> None:
    global _installed
    require("sqlalchemy", "sqlalchemy")
    if telemetry is not None:
        _pools.registry.bind(telemetry.meter)
    if _installed:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)
    event.listen(Engine, "handle_error", _error)
    event.listen(Engine, "engine_connect", _engine_connect)
    for cls in _pool_classes():
        original = cls.__dict__["connect"]
        if not getattr(original, "_otel_kit", False):
            _original_connects[cls] = original
            cls.connect = _timed(original)  # type: ignore[attr-defined]
    _quiet_housekeeping()
    _installed = True


def uninstall() -> None:
    global _installed
    if not _installed:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    for name, fn in (("before_cursor_execute", _before), ("after_cursor_execute", _after), ("handle_error", _error), ("engine_connect", _engine_connect)):
        if event.contains(Engine, name, fn):
            event.remove(Engine, name, fn)
    for cls, original in _original_connects.items():
        cls.connect = original  # type: ignore[attr-defined]
    _original_connects.clear()
    while _quieted:
        cls, name, original = _quieted.pop()
        setattr(cls, name, original)
    _pools.registry.unbind()
    _installed = False


def instrument_engine(engine: Any) -> Any:
    """Explicit form for users who prefer it; the class-level listeners already cover ``engine``.

    Also accepts an ``AsyncEngine``. Returns the engine.
    """
    install()
    return engine


INTEGRATION = Integration(
    name="sqlalchemy",
    library="sqlalchemy",
    extra="sqlalchemy",
    requires=("sqlalchemy>=2.0",),
    install=install,
    uninstall=uninstall,
    summary="CLIENT span per statement (2.0 and 2.1), literal-free text, slow queries and N+1, pool metrics",
)
