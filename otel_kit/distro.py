"""Entry points for ``opentelemetry-instrument``: zero-code users get the same configuration.

``opentelemetry-instrument python app.py`` loads the distro, then the configurator (which calls
``otel_kit.setup()`` with settings from the environment), then every installed instrumentor.
``setup()`` already activates every installed contrib instrumentor that its own integrations do
not replace (honouring ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``), so the configurator disables
all entry points for the loader that runs after it: nothing is instrumented twice (two server
spans, two spans per query) and nothing the user disabled comes back.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator


def covered_instrumentations() -> tuple[str, ...]:
    """The entry-point names otel-kit's integrations replace, then every other installed one."""
    from otel_kit.instrumentation import _registry

    replaced = sorted(_registry.covered())
    return (*replaced, *(name for name in sorted(_registry.entry_points()) if name not in replaced))


class OtelKitDistro(BaseDistro):
    """Selects otel-kit's configurator; otel-kit's defaults live in ``setup()``."""

    def _configure(self, **kwargs: Any) -> None:
        # opentelemetry-sdk registers a configurator too, and entry-point order is not defined.
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", "otel_kit")


class OtelKitConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        import otel_kit

        otel_kit.setup()
        current = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
        names = [n.strip() for n in current.split(",") if n.strip()]
        names += [n for n in covered_instrumentations() if n not in names]
        os.environ["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = ",".join(names)
