"""PostgreSQL and Redis servers for the integration tests: Debian's binaries, started on free
127.0.0.1 ports in a temporary directory, stopped when the test session ends.

`make` installs the packages (as root, from Debian) on a fresh machine. Under CI=true a missing
server fails the test that needs it; elsewhere that test is skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def unavailable(what: str, message: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is required under CI=true: {message}", pytrace=False)
    pytest.skip(f"{what} unavailable: {message}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log.read_text(errors='replace')[-2000:] if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"not listening on {port} after {timeout:g} s")


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def postgres_bin() -> Path | None:
    found = shutil.which("postgres")
    candidates = [found] if found else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), reverse=True)
    for candidate in candidates:
        path = Path(candidate).resolve()
        if (path.parent / "initdb").exists():
            return path.parent
    return None


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    database: str

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={self.database}"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class Redis:
    host: str
    port: int

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"


def _as_server_user() -> tuple[int | None, int | None]:
    """PostgreSQL refuses to run as root: as root, run it as the 'postgres' (or 'nobody') user."""
    if os.geteuid() != 0:
        return None, None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and no unprivileged user to run PostgreSQL as")


def start_postgres() -> Iterator[Postgres]:
    binaries = postgres_bin()
    if binaries is None:
        unavailable("PostgreSQL", "no postgres/initdb binaries (apt-get install postgresql; `make` does it as root)")
        return
    uid, gid = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="otel-kit-pg-"))
    data = root / "data"
    log = root / "postgres.log"
    if uid is not None and gid is not None:
        os.chown(root, uid, gid)
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-U", "otelkit", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
            check=True, capture_output=True, timeout=120, user=uid, group=gid, extra_groups=[] if uid is not None else None, cwd=root,
        )
        port = free_port()
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root), "-c", "listen_addresses=127.0.0.1",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=60"],
                stdout=out, stderr=subprocess.STDOUT, user=uid, group=gid, extra_groups=[] if uid is not None else None, cwd=root,
            )
        _wait_for_port(port, process, 60, log)
        server = Postgres("127.0.0.1", port, "otelkit", "postgres")
        _wait_ready(server)
        yield server
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        unavailable("PostgreSQL", f"{exc} {detail.decode(errors='replace')[-1000:] if isinstance(detail, bytes) else detail}")
    finally:
        if process is not None:
            _stop(process, signal.SIGINT)  # fast shutdown
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(server: Postgres) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(server.dsn, connect_timeout=2) as connection:
                connection.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def start_redis() -> Iterator[Redis]:
    binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if binary is None:
        unavailable("Redis", "no redis-server binary (apt-get install redis-server; `make` does it as root)")
        return
    root = Path(tempfile.mkdtemp(prefix="otel-kit-redis-"))
    log = root / "redis.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root), "--save", "", "--appendonly", "no", "--daemonize", "no"],
                stdout=out, stderr=subprocess.STDOUT,
            )
        _wait_for_port(port, process, 30, log)
        yield Redis("127.0.0.1", port)
    except (OSError, RuntimeError) as exc:
        unavailable("Redis", str(exc))
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)


BIN = Path(sys.executable).parent


def otlp_env(endpoint: str, **extra: str) -> dict[str, str]:
    """This process's environment without OTEL_* variables, exporting to ``endpoint`` over gRPC."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({"OTEL_KIT_ENDPOINT": endpoint, "OTEL_KIT_PROTOCOL": "grpc", "OTEL_KIT_SYSTEM_METRICS": "false", "OTEL_KIT_LOG_FORMAT": "none"})
    env.update(extra)
    return env


@contextmanager
def gunicorn(app: str, cwd: Path, env: dict[str, str], *extra: str) -> Iterator[str]:
    """A real gunicorn (sync worker) serving ``app`` on a free port; yields its base URL, stops it with SIGTERM."""
    port = free_port()
    log = cwd / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), app, "-w", "1", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "10", "--log-level", "warning", *extra],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, process, 60, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@contextmanager
def http_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A tiny HTTP server on 127.0.0.1: answers 200 'ok' and records each request's headers."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
