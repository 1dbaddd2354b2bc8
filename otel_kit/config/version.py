"""otel-kit's version: the package metadata's (``pyproject.toml``), for the resource and the CLI."""

__version__ = "0.1.0"
