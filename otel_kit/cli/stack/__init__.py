"""``otel-kit stack``: build, start, check and stop the local backends without Docker.

Everything lives under ``$OTEL_KIT_HOME`` (default ``~/.cache/otel-kit``): binaries in ``bin/``,
sources and build trees in ``src/`` and ``build/``, and each named stack's configuration, data,
logs and pids in ``run/<name>/``. Every server listens on 127.0.0.1 only.

- ``build``: ``stack install``: each component from the first source that has it (release archive,
  PATH or Debian package, Go build)
- ``sources``: pinned versions, release archives, verified resumable downloads, where each binary came from
- ``config``: the shipped configuration files, ``stack config --export``, a stack's own copy
- ``alerting``: Alertmanager's receivers from the environment, retention and other settings of ``up``
- ``processes``: pid files with start times, stopping only what a stack owns, port checks
- ``runtime``: ``Stack`` (ports, services, up, down, status)
- ``scale``: the scale-out tier beside a stack (agents and gateways, ``stack up --topology scale``)
- ``command``: the command's output and exit status
"""

from otel_kit.cli.stack.build import find_alertmanager, find_prometheus, install, installed
from otel_kit.cli.stack.command import main_stack, print_status
from otel_kit.cli.stack.common import StackError, home
from otel_kit.cli.stack.config import config_dir, export
from otel_kit.cli.stack.runtime import DEFAULT_PORTS, SERVICE_NAMES, Service, Stack

__all__ = [
    "DEFAULT_PORTS", "SERVICE_NAMES", "Service", "Stack", "StackError", "config_dir", "export", "find_alertmanager", "find_prometheus", "home", "install",
    "installed", "main_stack", "print_status",
]
