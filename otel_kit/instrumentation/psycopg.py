"""psycopg (3): a CLIENT span per statement, and psycopg_pool metrics.

otel-kit patches the cursor classes' ``execute``/``executemany`` (sync and async, client-side and
server-side cursors) instead of wrapping ``connect`` as the contrib instrumentor does, so
connections opened before ``setup()`` (a pool filled at import time, Django's persistent
connections) are traced too, and subclasses (Django's cursors) inherit it. Statements run through
SQLAlchemy are traced once, by the SQLAlchemy integration.

``psycopg_pool`` pools (sync and async) report ``db.client.connection.*`` metrics, named by the
pool's ``name``; wait time and timeouts are measured in ``getconn``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from otel_kit.instrumentation import _db, _pools
from otel_kit.instrumentation._registry import Integration
from otel_kit.instrumentation._support import installed
from otel_kit.providers import active

if TYPE_CHECKING:
    from otel_kit.telemetry import Telemetry

_patched: list[tuple[type, str, Any]] = []
_tracer: Any = None


def _query_text(cursor: Any, query: Any) -> str | None:
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode("utf-8", "replace")
    as_string = getattr(query, "as_string", None)  # psycopg.sql.Composable
    if as_string is not None:
        try:
            return str(as_string(cursor.connection))
        except Exception:  # noqa: BLE001
            return None
    return None


def _start(cursor: Any, query: Any, batch: int | None) -> Any:
    """The statement span, or None when not traced (no setup, disabled, or under SQLAlchemy)."""
    state = active.current()
    if state is None or _tracer is None or _db.suppressed() or "psycopg" not in state.settings.instrument:
        return None
    try:
        text = _query_text(cursor, query)
        if text is None:
            return None
        info = cursor.connection.info
        return _db.start_statement_span(
            state, _tracer, text, system="postgresql", namespace=info.dbname, host=info.host, port=_port(info), batch=batch,
        )
    except Exception:  # noqa: BLE001 - telemetry must never break a query
        state.internal_error("psycopg.execute")
        return None


def _port(info: Any) -> int | None:
    try:
        return int(info.port)
    except (TypeError, ValueError):
        return None


def _batch(params_seq: Any) -> int | None:
    return len(params_seq) if hasattr(params_seq, "__len__") else None


def _wrap_sync(original: Callable[..., Any], many: bool) -> Callable[..., Any]:
    @functools.wraps(original)
    def execute(self: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        span = _start(self, query, _batch(params) if many else None)
        if span is None:
            return original(self, query, params, *args, **kwargs)
        try:
            result = original(self, query, params, *args, **kwargs)
        except BaseException as exc:
            _db.end_statement_span(span, error=exc)
            raise
        _db.end_statement_span(span, getattr(self, "rowcount", -1))
        return result

    return execute


def _wrap_async(original: Callable[..., Any], many: bool) -> Callable[..., Any]:
    @functools.wraps(original)
    async def execute(self: Any, query: Any, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        span = _start(self, query, _batch(params) if many else None)
        if span is None:
            return await original(self, query, params, *args, **kwargs)
        try:
            result = await original(self, query, params, *args, **kwargs)
        except BaseException as exc:
            _db.end_statement_span(span, error=exc)
            raise
        _db.end_statement_span(span, getattr(self, "rowcount", -1))
        return result

    return execute


def _patch(cls: type, name: str, wrapper: Callable[..., Any]) -> None:
    original = cls.__dict__.get(name)
    if original is None or getattr(original, "_otel_kit", False):
        return
    patched = wrapper(original)
    patched._otel_kit = True
    setattr(cls, name, patched)
    _patched.append((cls, name, original))


# --- psycopg_pool -------------------------------------------------------------------------------


def _observe_pool(pool: Any) -> _pools.PoolState:
    stats = pool.get_stats()
    size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
    return _pools.PoolState(idle=available, used=max(size - available, 0), max=stats.get("pool_max"), pending=stats.get("requests_waiting", 0))


def _register(pool: Any) -> None:
    if not _pools.registry.known(pool):
        _pools.registry.add(pool, str(getattr(pool, "name", "psycopg_pool")), _observe_pool)


def _wrap_getconn(original: Callable[..., Any]) -> Callable[..., Any]:
    from psycopg_pool import PoolTimeout

    @functools.wraps(original)
    def getconn(self: Any, *args: Any, **kwargs: Any) -> Any:
        _register(self)
        started = time.perf_counter()
        try:
            connection = original(self, *args, **kwargs)
        except PoolTimeout:
            _pools.registry.timeout(self)
            raise
        _pools.registry.waited(self, time.perf_counter() - started)
        return connection

    return getconn


def _wrap_getconn_async(original: Callable[..., Any]) -> Callable[..., Any]:
    from psycopg_pool import PoolTimeout

    @functools.wraps(original)
    async def getconn(self: Any, *args: Any, **kwargs: Any) -> Any:
        _register(self)
        started = time.perf_counter()
        try:
            connection = await original(self, *args, **kwargs)
        except PoolTimeout:
            _pools.registry.timeout(self)
            raise
        _pools.registry.waited(self, time.perf_counter() - started)
        return connection

    return getconn


def install(telemetry: Telemetry) -> None:
    global _tracer
    import psycopg

    _tracer = telemetry.tracer_provider.get_tracer("otel_kit.psycopg") if telemetry.tracer_provider is not None else None
    sync_classes: tuple[type, ...] = (psycopg.Cursor, psycopg.ServerCursor)
    async_classes: tuple[type, ...] = (psycopg.AsyncCursor, psycopg.AsyncServerCursor)
    for cls in sync_classes:
        _patch(cls, "execute", lambda f: _wrap_sync(f, False))
        _patch(cls, "executemany", lambda f: _wrap_sync(f, True))
    for cls in async_classes:
        _patch(cls, "execute", lambda f: _wrap_async(f, False))
        _patch(cls, "executemany", lambda f: _wrap_async(f, True))
    if installed("psycopg_pool"):
        import psycopg_pool

        _pools.registry.bind(telemetry.meter)
        _patch(psycopg_pool.ConnectionPool, "getconn", _wrap_getconn)
        _patch(psycopg_pool.AsyncConnectionPool, "getconn", _wrap_getconn_async)


def uninstall() -> None:
    global _tracer
    while _patched:
        cls, name, original = _patched.pop()
        setattr(cls, name, original)
    _tracer = None


INTEGRATION = Integration(
    name="psycopg",
    library="psycopg",
    extra="postgres",
    requires=("psycopg[binary]>=3.1", "psycopg-pool>=3.2"),
    install=install,
    uninstall=uninstall,
    summary="CLIENT span per statement (connections opened before setup() too), taint check, slow queries and N+1, psycopg_pool metrics",
)

