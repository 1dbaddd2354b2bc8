"""The package version: one value, the same as the package metadata's."""

from __future__ import annotations

import re
from pathlib import Path

import otel_kit
from otel_kit.config.version import __version__


def test_the_version_is_pyprojects_and_the_packages() -> None:
    """otel_kit.__version__ and the resource's telemetry.distro.version come from pyproject.toml's version."""
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    declared = re.search(r'^version = "([^"]+)"', pyproject, re.M)
    assert declared is not None and __version__ == declared.group(1) == otel_kit.__version__
