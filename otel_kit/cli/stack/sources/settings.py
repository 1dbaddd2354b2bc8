"""Where ``stack install`` may get binaries from: ``OTEL_KIT_STACK_SOURCE``, ``OTEL_KIT_RELEASE_MIRROR``
and the platform the release archives are chosen for."""

from __future__ import annotations

import platform
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Literal

OTEL_KIT_STACK_SOURCE = "OTEL_KIT_STACK_SOURCE"
"""auto (default): release archives, then Debian packages, then Go builds; release: archives only; build: no archives."""
OTEL_KIT_RELEASE_MIRROR = "OTEL_KIT_RELEASE_MIRROR"
"""Base URL that serves the releases under GitHub's path layout (``<base>/<owner>/<repo>/releases/download/<tag>/<asset>``)."""

Mode = Literal["auto", "release", "build"]
MODES: tuple[Mode, ...] = ("auto", "release", "build")
GITHUB = "https://github.com"
GITHUB_API = "https://api.github.com"
Warn = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"otel-kit: {message}", file=sys.stderr, flush=True)


def source_mode(environ: Mapping[str, str], warn: Warn = _stderr) -> Mode:
    value = environ.get(OTEL_KIT_STACK_SOURCE, "").strip().lower()
    if not value:
        return "auto"
    for mode in MODES:
        if value == mode:
            return mode
    warn(f"{OTEL_KIT_STACK_SOURCE}={environ[OTEL_KIT_STACK_SOURCE]!r} is not one of {', '.join(MODES)}: using auto")
    return "auto"


def mirror(environ: Mapping[str, str], warn: Warn = _stderr) -> str | None:
    """The mirror's base URL without a trailing slash; None (GitHub) when unset or invalid."""
    value = environ.get(OTEL_KIT_RELEASE_MIRROR, "").strip()
    if not value:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        warn(f"{OTEL_KIT_RELEASE_MIRROR}={display(value)!r} is not an http(s) base URL: using {GITHUB}")
        return None
    if parts.username or parts.password:
        # A redirect would carry credentials to whatever host the mirror sends us on to.
        warn(f"{OTEL_KIT_RELEASE_MIRROR}={display(value)!r} holds credentials, which are not sent: give the mirror "
             f"without them (anonymous read) or leave it unset to use {GITHUB}")
        return None
    return value.rstrip("/")


def display(url: str) -> str:
    """``url`` as it may be printed: no user, password, query or fragment (a mirror's credentials stay in the process)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_OS = {"Linux": "linux", "Darwin": "darwin"}
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def host_platform() -> tuple[str, str] | None:
    """(os, arch) as the release archives name them, or None where no archive is published for this machine."""
    system, machine = _OS.get(platform.system()), _ARCH.get(platform.machine().lower())
    return (system, machine) if system and machine else None
