"""What every part of ``otel-kit stack`` shares: the error users act on, the cache root, output."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from otel_kit.config import environment as env


class StackError(RuntimeError):
    """A problem the user can act on; printed without a traceback."""


def home() -> Path:
    """``$OTEL_KIT_HOME`` (default ``~/.cache/otel-kit``): binaries, sources and every stack's run directory."""
    return Path(os.environ.get(env.OTEL_KIT_HOME) or Path.home() / ".cache" / "otel-kit").expanduser()


def say(message: str) -> None:
    print(message, flush=True)


def run_logged(command: list[str], *, cwd: Path | None = None, extra_env: Mapping[str, str] | None = None, log: Path) -> None:
    """Run a build step, logging to ``log``; on failure raise with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, **(extra_env or {})}
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(command)}\n")
        handle.flush()
        started = last_report = time.monotonic()
        process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=handle, stderr=subprocess.STDOUT)
        while process.poll() is None:
            time.sleep(1)
            if time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                say(f"      ... still working ({int(last_report - started)} s, log: {log})")
        if process.returncode != 0:
            tail = log.read_text(errors="replace").splitlines()[-25:]
            raise StackError(f"command failed ({process.returncode}): {' '.join(command)}\n  log: {log}\n  " + "\n  ".join(tail))
