"""Entry points for ``opentelemetry-instrument``: zero-code users get the same configuration.

``opentelemetry-instrument python app.py`` loads the distro, then the configurator (which calls
``otel_kit.setup()`` with settings from the environment), then every installed instrumentor. The
configurator disables the contrib instrumentors whose work otel-kit already does, so nothing is
instrumented twice (two server spans, or two spans per query on SQLAlchemy 2.0).
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

# contrib entry-point names covered by otel-kit's own integrations
COVERED_INSTRUMENTATIONS = ("sqlalchemy", "logging", "fastapi", "asgi")


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
        names += [n for n in COVERED_INSTRUMENTATIONS if n not in names]
        os.environ["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = ",".join(names)
