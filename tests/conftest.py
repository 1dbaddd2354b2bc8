"""Shared fixtures: every test starts and ends without an active otel-kit configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import otel_kit


@pytest.fixture(autouse=True)
def _no_leftover_setup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets a clean environment and no active configuration."""
    for name in list(os.environ):
        if name.startswith(("OTEL_KIT_", "OTEL_EXPORTER_", "OTEL_TRACES_", "OTEL_METRICS_", "OTEL_LOGS_", "OTEL_BSP_", "OTEL_BLRP_")) or name in (
            "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED", "OTEL_LOG_LEVEL", "OTEL_METRIC_EXPORT_INTERVAL",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
        ):
            monkeypatch.delenv(name, raising=False)
    otel_kit.shutdown()
    yield
    otel_kit.shutdown()
