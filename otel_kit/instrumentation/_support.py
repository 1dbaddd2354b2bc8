"""Shared helpers for integrations: lazy imports with an install hint, and telling apart a library
that is not installed from one whose instrumentation (an ``otel-kit[...]`` extra) is missing."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import ModuleType


class MissingDependency(ImportError):
    """An integration's library is not installed; the message names the extra to install."""


def require(module: str, extra: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"otel-kit's {extra} integration needs {module.split('.')[0]!r}: pip install 'otel-kit[{extra}]'"
        ) from exc


# integration -> (its library, the contrib instrumentation it needs or None, the extra that brings both)
INSTRUMENTATIONS: dict[str, tuple[str, str | None, str]] = {
    "fastapi": ("fastapi", "opentelemetry.instrumentation.fastapi", "fastapi"),
    "sqlalchemy": ("sqlalchemy", None, "sqlalchemy"),
    "httpx": ("httpx", "opentelemetry.instrumentation.httpx", "httpx"),
    "requests": ("requests", "opentelemetry.instrumentation.requests", "requests"),
}
NOT_INSTALLED = "not installed"
_warned: set[str] = set()


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (only its parent packages)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_extra(name: str) -> str | None:
    """The extra to install when integration ``name``'s library is there but its instrumentation is not."""
    library, instrumentation, extra = INSTRUMENTATIONS[name]
    if instrumentation is None or not installed(library) or installed(instrumentation):
        return None
    return extra


def gap(extra: str) -> str:
    """How ``describe()`` shows a library whose instrumentation is missing."""
    return f"library installed, instrumentation missing: pip install 'otel-kit[{extra}]'"


def warn_gaps(extras: list[str], log: Callable[[str], None]) -> None:
    """One warning naming every extra still to install; each extra is named once per process."""
    new = [extra for extra in extras if extra not in _warned]
    if not new:
        return
    _warned.update(new)
    libraries = " and ".join(new)
    log(
        f"otel-kit: {libraries} {'is' if len(new) == 1 else 'are'} installed but not instrumented "
        f"(the instrumentation is an extra): pip install 'otel-kit[{','.join(new)}]'"
    )


class _PostImportFinder:
    """A meta-path finder that runs callbacks right after selected modules finish importing.

    Wrapping a client library must not import it: openai and anthropic together cost tens of MB
    and a noticeable start-up delay for services that never use them.

    A callback often imports modules itself (an instrumentor, ``celery.signals``), and those imports
    can complete other watched modules. Their callbacks wait until the running one returns: run at
    once, they would find the first callback's modules half-initialised (the contrib httpx
    instrumentation imports ``httpx2``, whose entry point is that same, unfinished module) or
    block on a lock it holds.
    """

    def __init__(self) -> None:
        self.hooks: dict[str, list[Callable[[ModuleType], None]]] = {}
        self._busy: set[str] = set()
        self._local = threading.local()

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        if name not in self.hooks or name in self._busy:
            return None
        self._busy.add(name)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy.discard(name)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        original_exec = loader.exec_module
        callbacks = self.hooks.pop(name)

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            for callback in callbacks:
                self.run(callback, module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec

    @contextmanager
    def held(self) -> Iterator[None]:
        """Queue the callbacks of imports completed inside this block; run them when it ends."""
        local = self._local
        outermost = not getattr(local, "depth", 0)
        if outermost:
            local.queue = []
        local.depth = getattr(local, "depth", 0) + 1
        try:
            yield
        finally:
            local.depth -= 1
        if outermost:
            while local.queue:
                callback, module = local.queue.pop(0)
                self.run(callback, module)

    def run(self, callback: Callable[[ModuleType], None], module: ModuleType) -> None:
        if getattr(self._local, "depth", 0):
            self._local.queue.append((callback, module))
            return
        with self.held():
            try:
                callback(module)
            except Exception:  # noqa: BLE001 - a failed wrap must not fail the user's import
                pass


_finder = _PostImportFinder()


def when_imported(module: str, callback: Callable[[ModuleType], None]) -> None:
    """Run ``callback(module)`` now if ``module`` is imported, else right after it is."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        callback(loaded)
        return
    _finder.hooks.setdefault(module, []).append(callback)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)  # type: ignore[arg-type]


def hooks_held() -> AbstractContextManager[None]:
    """A block during which import callbacks wait (they run, in order, when it ends)."""
    return _finder.held()


def cancel(module: str, callback: Callable[[ModuleType], None]) -> None:
    """Forget a ``when_imported`` callback that has not run yet."""
    callbacks = _finder.hooks.get(module)
    if callbacks is None:
        return
    if callback in callbacks:
        callbacks.remove(callback)
    if not callbacks:
        _finder.hooks.pop(module, None)
