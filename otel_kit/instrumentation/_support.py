"""Shared helpers for integrations: lazy imports with an install hint."""

from __future__ import annotations

import importlib
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
