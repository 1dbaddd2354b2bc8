"""The Resource: who is sending. Built once per ``setup()``."""

from __future__ import annotations

import os
import platform
import socket
import sys
import uuid

from opentelemetry.sdk.resources import Resource

from otel_kit.config.settings import Settings

# One id per process, regenerated in a forked child so that each worker is its own instance.
_instance_id = str(uuid.uuid4())


def _reset_instance_id() -> None:
    global _instance_id
    _instance_id = str(uuid.uuid4())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_instance_id)


def instance_id() -> str:
    return _instance_id


def build_resource(settings: Settings) -> Resource:
    """service.*, deployment.environment.name, host.*, process.* and SDK attributes.

    ``Resource.create`` also merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; explicit
    settings win over both. The process command line is left out on purpose: it often carries
    secrets (``--password=...``) and would be exported with every batch.
    """
    from otel_kit import __version__

    attributes: dict[str, str | int | bool | float] = {
        "host.name": socket.gethostname(),
        "host.arch": platform.machine(),
        "os.type": platform.system().lower(),
        "process.pid": os.getpid(),
        "process.runtime.name": sys.implementation.name,
        "process.runtime.version": platform.python_version(),
        "process.executable.name": os.path.basename(sys.executable),
        "telemetry.distro.name": "otel-kit",
        "telemetry.distro.version": __version__,
    }
    explicit: dict[str, str | int | bool | float] = {
        "service.name": settings.service_name,
        "service.instance.id": instance_id(),
    }
    if settings.service_version:
        explicit["service.version"] = settings.service_version
    if settings.environment:
        explicit["deployment.environment.name"] = settings.environment
    explicit.update(settings.resource_attributes)
    base = Resource.create(attributes)
    return base.merge(Resource(explicit))
