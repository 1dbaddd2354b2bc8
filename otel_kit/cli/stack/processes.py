"""The processes a stack owns and the ports it needs.

A pid file records the pid, the process's start time and its working directory (the stack's run
directory). A process is stopped only when all three still match: a pid reused by another program,
or another stack's process, is never signalled.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from otel_kit.cli.stack.common import StackError

# Start times are boot time + ticks since boot; the boot time psutil reads can move by up to a
# second when the clock is adjusted, so equal means "within a second". A pid is not reused within
# a second together with the same working directory.
START_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class PidRecord:
    pid: int
    started: float
    cwd: str
    command: str = ""

    @classmethod
    def of(cls, pid: int, cwd: Path, command: str) -> PidRecord:
        return cls(pid, psutil.Process(pid).create_time(), os.path.realpath(cwd), command)


def write(path: Path, record: PidRecord) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record)))
    tmp.replace(path)


def read(path: Path) -> PidRecord | None:
    """The record in ``path``; an older otel-kit's bare pid has no start time (``started`` 0)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, int):
        return PidRecord(data, 0.0, os.path.realpath(path.parent))
    if isinstance(data, dict) and isinstance(data.get("pid"), int):
        return PidRecord(data["pid"], float(data.get("started") or 0.0), str(data.get("cwd") or path.parent), str(data.get("command") or ""))
    return None


def is_running(record: PidRecord) -> bool:
    """The recorded process still runs: same pid, same start time, same working directory."""
    try:
        process = psutil.Process(record.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if record.started and abs(process.create_time() - record.started) > START_TOLERANCE_S:
            return False
        return os.path.realpath(process.cwd().removesuffix(" (deleted)")) == os.path.realpath(record.cwd)
    except (psutil.Error, OSError):
        return False


def running(path: Path) -> PidRecord | None:
    """The process recorded in pid file ``path`` while it still runs; a stale pid file is removed."""
    found = read(path)
    if found is not None and is_running(found):
        return found
    path.unlink(missing_ok=True)
    return None


def stop(record: PidRecord, timeout: float, signum: int = signal.SIGTERM) -> None:
    stop_all([record], timeout, signum)


def stop_recorded(path: Path, timeout: float, signum: int = signal.SIGTERM) -> bool:
    """Stop the process of pid file ``path`` (see ``stop_all``) and remove the file; False when it was not running."""
    record = running(path)
    if record is None:
        return False
    stop(record, timeout, signum)
    path.unlink(missing_ok=True)
    return True


def stop_all(records: list[PidRecord], timeout: float, signum: int = signal.SIGTERM) -> None:
    """Send ``signum`` to each process (and its process group when it leads one) at once, then wait
    for all; SIGKILL those still running after ``timeout``."""
    targets: list[tuple[PidRecord, psutil.Process, bool]] = []
    for record in records:
        if not is_running(record):
            continue
        try:
            targets.append((record, psutil.Process(record.pid), os.getpgid(record.pid) == record.pid))
        except (psutil.Error, OSError):
            continue
    for record, _, group in targets:
        _signal(record.pid, group, signum)
    with contextlib.suppress(psutil.Error):
        _, alive = psutil.wait_procs([process for _, process, _ in targets], timeout=timeout)
        for record, process, group in targets:
            if process in alive and is_running(record):
                _signal(record.pid, group, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)


def start(
    name: str, command: list[str], *, cwd: Path, environment: Mapping[str, str], log: Path, pid_file: Path, recorded: str, ready_url: str,
    timeout: float, interval: float = 0.5,
) -> None:
    """Start server ``name`` in a session of its own (``stop`` signals its whole group), its output
    appended to ``log`` and its pid record (naming ``recorded``) in ``pid_file``, and wait until
    ``ready_url`` answers. ``StackError`` with the log's tail when it exits first; not ready within
    ``timeout``, it is stopped again."""
    with log.open("ab") as handle:
        process = subprocess.Popen(
            command, cwd=cwd, env=dict(environment), stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    record = PidRecord.of(process.pid, cwd, recorded)
    write(pid_file, record)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pid_file.unlink(missing_ok=True)
            tail = "\n    ".join(log.read_text(errors="replace").splitlines()[-15:])
            raise StackError(f"{name} exited with {process.returncode}; log {log}:\n    {tail}")
        if ready(ready_url):
            return
        time.sleep(interval)
    stop(record, 15.0)
    pid_file.unlink(missing_ok=True)
    raise StackError(f"{name} did not become ready within {timeout:g} s; log: {log}")


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """One ``up``/``down`` of the stack (or scale topology) in ``run_dir`` at a time; others are not affected."""
    import fcntl  # POSIX only, like the stack itself; the report commands work without it

    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _signal(pid: int, group: bool, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def port_free(port: int) -> bool:
    """Nothing listens on ``port`` on 127.0.0.1 (or on every address): binding it would succeed.

    SO_REUSEADDR, as the servers set it, so connections lingering in TIME_WAIT do not count.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def listener(port: int) -> int | None:
    """The pid listening on ``port``, when the system lets us see it."""
    try:
        connections = psutil.net_connections(kind="inet")
    except (psutil.Error, OSError):
        return None
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port and connection.pid:
            return int(connection.pid)
    return None


def describe_pid(pid: int) -> str:
    try:
        return f"{psutil.Process(pid).name()} (pid {pid})"
    except psutil.Error:
        return f"pid {pid}"


def ready(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(200 <= response.status < 300)
    except Exception:  # noqa: BLE001 - starting, refusing or answering garbage: not ready
        return False


def post(url: str, timeout: float = 5.0) -> bool:
    """POST without a body (a server's reload endpoint); False when it failed."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=timeout) as response:
            return bool(200 <= response.status < 300)
    except Exception:  # noqa: BLE001 - not running or refusing: the next start reads the file anyway
        return False
