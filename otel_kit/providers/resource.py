"""The Resource: who is sending. Built once per ``setup()``."""

from __future__ import annotations

import os
import platform
import socket
import sys
import uuid

from opentelemetry.sdk.resources import Resource

from otel_kit.config.settings import Settings
from otel_kit.config.version import __version__

# One id per process, regenerated in a forked child so that each worker is its own instance.
_instance_id = str(uuid.uuid4())
_built: list[Resource] = []


def _after_fork_in_child() -> None:
    """Give a forked worker its own identity in every resource built before the fork.

    Providers, tracers and meters all hold the same Resource object, so updating it in place is
    the one change they all see. Without it, preforked workers (gunicorn --preload) would share
    one service.instance.id and their metric series would overwrite each other.
    """
    global _instance_id
    _instance_id = str(uuid.uuid4())
    for resource in _built:
        attributes = dict(resource.attributes)
        attributes["service.instance.id"] = _instance_id
        attributes["process.pid"] = os.getpid()
        refreshed = Resource(attributes, resource.schema_url)
        resource._attributes = refreshed._attributes


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def instance_id() -> str:
    return _instance_id


def build_resource(settings: Settings) -> Resource:
    """service.*, deployment.environment.name, host.*, process.* and SDK attributes.

    ``Resource.create`` also merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; explicit
    settings win over both. The process command line is left out on purpose: it often carries
    secrets (``--password=...``) and would be exported with every batch.
    """
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
    resource = Resource.create(attributes).merge(Resource(explicit))
    _built[:] = [resource]
    return resource
