"""The integrations ``setup(instrument=...)`` accepts, as the instrumentation layer's registry tells them.

Configuration is the lower layer: it does not import the registry. The registry registers its two
questions here when it is imported (``otel_kit.telemetry`` imports it before any ``setup()``).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["instrumentable", "names", "register"]

_names: Callable[[], tuple[str, ...]] = tuple
_instrumentable: Callable[[], frozenset[str]] = frozenset


def register(names: Callable[[], tuple[str, ...]], instrumentable: Callable[[], frozenset[str]]) -> None:
    """``names``: otel-kit's own integrations; ``instrumentable``: those and the installed contrib instrumentors."""
    global _names, _instrumentable
    _names, _instrumentable = names, instrumentable


def names() -> tuple[str, ...]:
    return _names()


def instrumentable() -> frozenset[str]:
    return _instrumentable()
