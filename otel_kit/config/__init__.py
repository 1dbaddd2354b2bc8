"""Configuration: settings, their environment variables and their resolution order."""

from otel_kit.config.settings import ConfigError, Settings, resolve

__all__ = ["ConfigError", "Settings", "resolve"]
