"""The running ``setup()``, for the layers below ``otel_kit.telemetry`` to look up at run time.

``otel_kit.telemetry`` sets ``state`` when ``setup()`` has built everything and clears it at
``shutdown()``. Integrations and signals read it here, so no module imports the layer above it:
the state's type is only named for the type checker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_kit.telemetry import Telemetry

__all__ = ["current", "state"]

state: Telemetry | None = None
"""The active configuration, or None (hot paths read ``active.state``: one attribute load)."""


def current() -> Telemetry | None:
    """The active configuration (``otel_kit.current()``), or None before ``setup()`` and after ``shutdown()``."""
    return state
