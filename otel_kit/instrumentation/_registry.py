"""The integration registry: every module of this package that defines ``INTEGRATION`` is one.

A record says what an integration needs (its library, the contrib instrumentor if it uses one,
the ``otel-kit[extra]`` that brings both) and how it is switched on. Everything user-facing is
derived from the records: the names ``instrument=`` accepts, what ``setup()`` attaches and
``describe()`` shows, the extras in pyproject.toml and the README table (both checked by tests,
and printed by ``python -m otel_kit.instrumentation``).

Contrib instrumentors that no record covers are found through the ``opentelemetry_instrumentor``
entry points and activated as ``opentelemetry-instrument`` would, under their entry-point names.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from otel_kit.config import integrations as accepted_integrations
from otel_kit.instrumentation._support import cancel, hooks_held, installed, when_imported
from otel_kit.providers import active as running_setup

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from otel_kit.telemetry import Telemetry

_log = logging.getLogger("otel_kit.instrumentation")
CONTRIB_VERSION = "0.66b1"
ENTRY_POINT_GROUP = "opentelemetry_instrumentor"


@dataclass(frozen=True)
class Integration:
    """One integration. ``install`` is otel-kit's own code; without it the contrib ``instrumentor``
    ("module:Class") is instrumented with ``options``. ``replaces`` names the contrib entry points
    whose work this integration does (they are never activated next to it)."""

    name: str
    library: str
    extra: str | None  # None: part of otel-kit's own dependencies
    requires: tuple[str, ...]
    summary: str
    instrumentor: str | None = None
    install: Callable[[Telemetry], None] | None = None
    uninstall: Callable[[], None] | None = None
    replaces: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    # Ubiquitous libraries (urllib3, sqlite3) would warn every user who skips the extra: stay quiet.
    announce_gap: bool = True

    @property
    def instrumentation_module(self) -> str | None:
        return self.instrumentor.partition(":")[0] if self.instrumentor else None

    @property
    def covers(self) -> tuple[str, ...]:
        """Entry-point names this record accounts for: its own name and what it replaces."""
        return (self.name, *self.replaces)


def _contrib(package: str) -> str:
    return f"opentelemetry-instrumentation-{package}=={CONTRIB_VERSION}"


contrib_requirement = _contrib


@lru_cache(maxsize=1)
def integrations() -> tuple[Integration, ...]:
    """Every record, sorted by name; modules are imported once (they import no library)."""
    import otel_kit.instrumentation as package

    found: list[Integration] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        record = getattr(module, "INTEGRATION", None)
        if isinstance(record, Integration):
            found.append(record)
    return tuple(sorted(found, key=lambda r: r.name))


def by_name() -> dict[str, Integration]:
    return {record.name: record for record in integrations()}


def names() -> tuple[str, ...]:
    return tuple(record.name for record in integrations())


def covered() -> frozenset[str]:
    """Entry-point names otel-kit's records account for (their own and the ones they replace)."""
    return frozenset(name for record in integrations() for name in record.covers)


@lru_cache(maxsize=1)
def entry_points() -> dict[str, EntryPoint]:
    """Installed contrib instrumentors by entry-point name (read once per process)."""
    from importlib.metadata import entry_points as installed_entry_points

    return {point.name: point for point in installed_entry_points(group=ENTRY_POINT_GROUP)}


def contrib_names() -> tuple[str, ...]:
    """Installed entry points that no record covers: activated as they are."""
    mine = covered()
    return tuple(sorted(name for name in entry_points() if name not in mine))


def all_names() -> frozenset[str]:
    """What ``instrument=`` accepts and turns on by default."""
    return frozenset(names()) | frozenset(contrib_names())


accepted_integrations.register(names, all_names)


# --- extras and documentation ---------------------------------------------------------------


def extras() -> dict[str, list[str]]:
    """pyproject's optional dependencies for the integrations, ``all`` last."""
    result: dict[str, list[str]] = {}
    for record in integrations():
        if record.extra is None:
            continue
        bucket = result.setdefault(record.extra, [])
        bucket.extend(item for item in record.requires if item not in bucket)
    ordered = {name: result[name] for name in sorted(result)}
    ordered["all"] = [f"otel-kit[{','.join(sorted(result))}]"]
    return ordered


def readme_table() -> str:
    rows = ["| `instrument=` name | library | extra | what otel-kit does |", "| --- | --- | --- | --- |"]
    for record in integrations():
        extra = f"`otel-kit[{record.extra}]`" if record.extra else "included"
        rows.append(f"| `{record.name}` | {record.library} | {extra} | {record.summary} |")
    return "\n".join(rows)


# --- activation -------------------------------------------------------------------------------

_lock = threading.RLock()  # an install may activate another record in the same thread
_active: dict[str, Any] = {}  # name -> contrib instrumentor instance, or the record's own uninstall
_pending: dict[str, tuple[str, Callable[[object], None]]] = {}  # name -> (library, import hook) not imported yet


class MissingInstrumentation(ImportError):
    """The library is installed but not the contrib instrumentation its record needs."""

    def __init__(self, record: Integration) -> None:
        super().__init__(f"{record.library} is installed but not its instrumentation: pip install 'otel-kit[{record.extra}]'")
        self.record = record


def activate(record: Integration, telemetry: Telemetry) -> bool:
    """Attach one record; False when its library is not installed.

    A library the application has not imported yet is attached right after it is imported, not
    now: ``setup()`` must not import (and keep in memory) every framework that happens to be
    installed. Raises ``MissingInstrumentation`` when the library is there without its instrumentation.
    """
    if record.name in _active or record.name in _pending:
        return True
    if not installed(record.library):
        return False
    module = record.instrumentation_module
    if module is not None and not installed(module):
        raise MissingInstrumentation(record)
    if record.library not in sys.modules:
        _defer(record.name, record.library, lambda: _attach(record, telemetry), telemetry)
        return True
    _attach(record, telemetry)
    return True


def _defer(name: str, library: str, attach: Callable[[], object], telemetry: Telemetry) -> None:
    def imported(_: object) -> None:
        _pending.pop(name, None)
        if running_setup.current() is not telemetry:
            return  # shut down (or replaced) since: nothing to attach to
        try:
            attach()
        except Exception as exc:  # noqa: BLE001 - the application's import must succeed
            telemetry.skipped[name] = f"failed: {exc}"
            if name in telemetry.instrumented:
                telemetry.instrumented.remove(name)
            _log.warning("otel-kit: could not instrument %s: %s", name, exc)

    _pending[name] = (library, imported)
    when_imported(library, imported)


def _attach(record: Integration, telemetry: Telemetry) -> None:
    # Installing imports (instrumentors, celery.signals): other libraries completed meanwhile are
    # attached after this one, when its modules are whole and the lock is free.
    with hooks_held(), _lock:
        if record.name in _active:
            return
        if record.install is not None:
            record.install(telemetry)
            _active[record.name] = record.uninstall
        else:
            _active[record.name] = _instrument_contrib(record.instrumentor or "", telemetry, record.options)


def activate_entry_point(name: str, telemetry: Telemetry) -> str | None:
    """Activate one uncovered contrib entry point; returns why not (None when it is active or armed).

    When the entry point is named like an installed module the application has not imported yet
    (``pika``, ``pymemcache``), it is activated right after that import, as records are.
    """
    if name in _active or name in _pending:
        return None
    point = entry_points().get(name)
    if point is None:
        return "not installed"
    library = name.replace("-", "_")
    if library not in sys.modules and installed(library):
        _defer(name, library, lambda: _activate_point(name, point, telemetry), telemetry)
        return None
    return _activate_point(name, point, telemetry)


def _activate_point(name: str, point: EntryPoint, telemetry: Telemetry) -> str | None:
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts, get_dist_dependency_conflicts

    if point.dist is not None and get_dist_dependency_conflicts(point.dist) is not None:
        return "library not installed"
    # Loading the entry point imports its module, which may complete a watched library (the httpx2
    # instrumentor's module imports httpx): that library's hook must wait until the module is whole.
    with hooks_held():
        instrumentor = point.load()()
        # The distribution may accept one of several libraries; the instrumentor names the one it needs.
        if get_dependency_conflicts(instrumentor.instrumentation_dependencies()) is not None:
            return "library not installed"
        with _lock:
            if name not in _active:
                _active[name] = _instrument_contrib(point.value, telemetry, {}, loaded=lambda: instrumentor)
    return None


def _instrument_contrib(target: str, telemetry: Telemetry, options: dict[str, Any], loaded: Any = None) -> Any:
    if loaded is None:
        module, _, attribute = target.partition(":")
        loaded = getattr(importlib.import_module(module), attribute)
    instrumentor = loaded()
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
    if conflict is not None:
        # An unsupported library version: say which (the instrumentor would only log it).
        raise RuntimeError(str(conflict))
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider, **options)
    return instrumentor


def deactivate_all() -> None:
    """Undo every activation (``shutdown()``); each undo is independent of the others."""
    with _lock:
        items = list(_active.values())
        _active.clear()
        for library, callback in _pending.values():
            cancel(library, callback)
        _pending.clear()
    for item in items:
        try:
            if callable(item):
                item()
            elif item is not None:
                item.uninstrument()
        except Exception:  # noqa: BLE001 - one integration failing to detach must not stop the rest
            _log.debug("otel-kit: could not detach an integration", exc_info=True)


def active() -> tuple[str, ...]:
    return tuple(_active)


def pending() -> tuple[str, ...]:
    """Integrations waiting for their library to be imported."""
    return tuple(_pending)
