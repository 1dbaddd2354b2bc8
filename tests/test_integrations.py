"""What setup(instrument=...) accepts: registered by the instrumentation registry, asked by the settings."""

from __future__ import annotations

import pytest

from otel_kit import ConfigError
from otel_kit.config import integrations
from otel_kit.config.settings import resolve
from otel_kit.instrumentation import _registry


def test_the_registry_has_registered_its_integrations() -> None:
    """The settings see exactly the registry's integrations, and the contrib instrumentors besides."""
    assert integrations.names() == _registry.names() and "fastapi" in integrations.names()
    assert integrations.instrumentable() == _registry.all_names()


def test_an_unknown_integration_is_refused_naming_the_known_ones() -> None:
    """instrument=['nope'] raises one ConfigError that lists the accepted names."""
    with pytest.raises(ConfigError) as raised:
        resolve({"instrument": ["nope"]})
    assert raised.value.setting == "instrument" and "fastapi" in raised.value.accepted and "sqlalchemy" in raised.value.accepted


def test_by_default_every_instrumentable_name_is_on() -> None:
    """Without instrument=, every registered integration and installed contrib instrumentor is turned on."""
    assert resolve({}).instrument == integrations.instrumentable()
