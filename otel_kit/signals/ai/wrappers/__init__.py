"""Hooks into the ``openai`` and ``anthropic`` clients, installed when (and if) they are imported.

Nothing is imported here: a service that never uses an LLM client pays nothing for it.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["activate", "install", "uninstall", "client_imported"]

_patched: dict[tuple[type, str], Any] = {}
_CLIENTS = ("openai", "anthropic")


def _replace(cls: type, name: str, factory: Callable[[Any], Any]) -> None:
    original = cls.__dict__.get(name)
    if original is None or getattr(original, "__otel_kit_original__", None) is not None:
        return
    setattr(cls, name, factory(original))
    _patched[(cls, name)] = original


def _on_openai(module: ModuleType) -> None:
    from otel_kit.signals.ai.wrappers import openai

    openai.patch(module, _replace)


def _on_anthropic(module: ModuleType) -> None:
    from otel_kit.signals.ai.wrappers import anthropic

    anthropic.patch(module, _replace)


def _load_prices(module: ModuleType) -> None:
    from otel_kit.signals.ai.prices import library

    library.start()


_hooks: set[str] = set()
"""Modules whose import hook is registered (once per process: setup() can run many times)."""


def install() -> None:
    from otel_kit.instrumentation._support import when_imported

    for module, callback in (("openai._base_client", _on_openai), ("anthropic._base_client", _on_anthropic), ("openai", _load_prices), ("anthropic", _load_prices)):
        if module in sys.modules:
            callback(sys.modules[module])
        elif module not in _hooks:
            _hooks.add(module)
            when_imported(module, callback)


def activate() -> None:
    """What ``setup()`` turns on: the hooks, and genai-prices loading in the background once a client
    is imported or the package (the ``ai`` extra) is installed: installing it is the opt-in."""
    install()
    if client_imported() or importlib.util.find_spec("genai_prices") is not None:
        from otel_kit.signals.ai.prices import library

        library.start()


def uninstall() -> None:
    """Put the clients' own methods back (benchmarks and tests compare against the bare client)."""
    for (cls, name), original in list(_patched.items()):
        setattr(cls, name, original)
    _patched.clear()


def client_imported() -> bool:
    return any(name in sys.modules for name in _CLIENTS)
