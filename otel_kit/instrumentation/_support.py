"""Shared helpers for integrations: lazy imports with an install hint."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
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


def available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


class _PostImportFinder:
    """A meta-path finder that runs callbacks right after selected modules finish importing.

    Wrapping a client library must not import it: openai and anthropic together cost tens of MB
    and a noticeable start-up delay for services that never use them.
    """

    def __init__(self) -> None:
        self.hooks: dict[str, list[Callable[[ModuleType], None]]] = {}
        self._busy: set[str] = set()

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
                try:
                    callback(module)
                except Exception:  # noqa: BLE001 - a failed wrap must not fail the user's import
                    pass

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


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
