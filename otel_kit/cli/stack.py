"""``otel-kit stack``: build, start, check and stop the local backends without Docker.

Everything lives under ``$OTEL_KIT_HOME`` (default ``~/.cache/otel-kit``): binaries in ``bin/``,
sources and build trees in ``src/`` and ``build/``, and per-stack data, logs and pids in
``run/<name>/``. Every server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from otel_kit.config import environment as env

# Pinned versions. The Collector is pinned to the newest release whose modules are all served
# by the Go module proxy; Jaeger v2 is published as the module's v1.x tags.
COLLECTOR_VERSION = "0.152.0"
JAEGER_VERSION = "v1.76.0"
LOKI_VERSION = "v3.7.8"
PROMETHEUS_GO_VERSION = "v0.316.0"
CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib"


class StackError(RuntimeError):
    """A problem the user can act on; printed without a traceback."""


def home() -> Path:
    return Path(os.environ.get(env.OTEL_KIT_HOME) or Path.home() / ".cache" / "otel-kit").expanduser()


def config_dir() -> Path:
    """The shipped ``collector-config/`` (``OTEL_KIT_CONFIG_DIR`` overrides)."""
    override = os.environ.get("OTEL_KIT_CONFIG_DIR")
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parents[2] / "collector-config")
    for candidate in candidates:
        if (candidate / "otelcol.yaml").is_file():
            return candidate
    raise StackError("collector-config/ not found: run from an otel-kit checkout or set OTEL_KIT_CONFIG_DIR")


def _say(message: str) -> None:
    print(message, flush=True)


def _run(command: list[str], *, cwd: Path | None = None, extra_env: Mapping[str, str] | None = None, log: Path) -> None:
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
                _say(f"      ... still working ({int(last_report - started)} s, log: {log})")
        if process.returncode != 0:
            tail = log.read_text(errors="replace").splitlines()[-25:]
            raise StackError(f"command failed ({process.returncode}): {' '.join(command)}\n  log: {log}\n  " + "\n  ".join(tail))


GO_FALLBACKS = ("/usr/local/go/bin/go",)


def _go() -> str:
    go = shutil.which("go") or next((path for path in GO_FALLBACKS if Path(path).exists()), None)
    if go is None:
        raise StackError("no Go toolchain found: install Go >= 1.24 (https://go.dev/dl/) and make sure `go` is on PATH")
    return go


# --- install ---------------------------------------------------------------------------------------


def _stamp(binary: Path, version: str) -> bool:
    stamp = binary.with_suffix(".version")
    return binary.exists() and stamp.exists() and stamp.read_text().strip() == version


def _write_stamp(binary: Path, version: str) -> None:
    binary.with_suffix(".version").write_text(version + "\n")


def _module_dir(go: str, module: str, log: Path) -> Path:
    _run([go, "mod", "download", "-x", module], log=log)
    out = subprocess.run([go, "mod", "download", "-json", module], capture_output=True, text=True, check=True)
    return Path(json.loads(out.stdout)["Dir"])


def _writable_copy(source: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return target


def install_collector(root: Path) -> Path:
    binary = root / "bin" / "otelcol"
    if _stamp(binary, COLLECTOR_VERSION):
        _say(f"  collector {COLLECTOR_VERSION}: already built ({binary})")
        return binary
    go = _go()
    log = root / "logs" / "build-otelcol.log"
    _say(f"  collector {COLLECTOR_VERSION}: installing the Collector Builder")
    _run([go, "install", f"go.opentelemetry.io/collector/cmd/builder@v{COLLECTOR_VERSION}"], extra_env={"GOBIN": str(root / "bin")}, log=log)
    build = root / "build" / "otelcol"
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    shutil.copy(config_dir() / "builder-config.yaml", build / "builder-config.yaml")
    _say("  collector: generating sources from builder-config.yaml")
    _run([str(root / "bin" / "builder"), "--config", "builder-config.yaml", "--skip-compilation", "--skip-get-modules"], cwd=build, log=log)
    _say("  collector: compiling (first time: several minutes)")
    # -mod=mod resolves only what the build needs: `go mod tidy` would also fetch test-only
    # modules that the proxy does not serve for this release. The contrib checksums are missing
    # from the checksum database mirror here, so that prefix is fetched without it (still over
    # HTTPS from the proxy).
    _run(
        [go, "build", "-trimpath", "-o", str(binary), "."],
        cwd=build / "otelcol-otel-kit",
        extra_env={"GOFLAGS": "-mod=mod", "GONOSUMDB": CONTRIB},
        log=log,
    )
    _write_stamp(binary, COLLECTOR_VERSION)
    return binary


def _build_in_module_copy(
    root: Path, name: str, module: str, version: str, package: str, *, edits: Sequence[Sequence[str]] = (), flags: Sequence[str] = (), note: str = ""
) -> Path:
    """Build ``package`` inside a writable copy of ``module@version``.

    For modules whose go.mod has replace directives: `go install pkg@version` refuses those, but
    a build where the module is the main module honours them.
    """
    binary = root / "bin" / name
    if _stamp(binary, version):
        _say(f"  {name} {version}: already built ({binary})")
        return binary
    go = _go()
    log = root / "logs" / f"build-{name}.log"
    _say(f"  {name} {version}: downloading the module")
    work = _writable_copy(_module_dir(go, f"{module}@{version}", log), root / "src" / f"{name}-{version}")
    for edit in edits:
        _run([go, *edit], cwd=work, log=log)
    _say(f"  {name}: compiling {note}")
    _run([go, "build", "-trimpath", *flags, "-o", str(binary), package], cwd=work, log=log)
    _write_stamp(binary, version)
    return binary


def install_jaeger(root: Path) -> Path:
    return _build_in_module_copy(root, "jaeger", "github.com/jaegertracing/jaeger", JAEGER_VERSION, "./cmd/jaeger", note="(first time: a few minutes)")


def install_loki(root: Path) -> Path:
    # pkg/push is a nested module (absent from the module zip) replaced by a local path; drop the
    # replace and use the version go.mod requires instead.
    return _build_in_module_copy(
        root, "loki", "github.com/grafana/loki/v3", LOKI_VERSION, "./cmd/loki",
        edits=[["mod", "edit", "-dropreplace", "github.com/grafana/loki/pkg/push"]], flags=["-mod=mod"],
        note="(first time: several minutes)",
    )


def find_prometheus(root: Path) -> tuple[Path, Path] | None:
    local = (root / "bin" / "prometheus", root / "bin" / "promtool")
    if all(p.exists() for p in local):
        return local
    system = shutil.which("prometheus"), shutil.which("promtool")
    if system[0] and system[1]:
        return Path(system[0]), Path(system[1])
    return None


def install_prometheus(root: Path) -> tuple[Path, Path]:
    found = find_prometheus(root)
    if found is not None:
        _say(f"  prometheus: using {found[0]}")
        return found
    log = root / "logs" / "install-prometheus.log"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        _say("  prometheus: installing the Debian package (prometheus, with promtool)")
        environment = {"DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update", "-q"], extra_env=environment, log=log)
        _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"], extra_env=environment, log=log)
    else:
        go = _go()
        _say(f"  prometheus {PROMETHEUS_GO_VERSION}: building from the Go module (first time: several minutes)")
        for command in ("prometheus", "promtool"):
            _run([go, "install", f"github.com/prometheus/prometheus/cmd/{command}@{PROMETHEUS_GO_VERSION}"], extra_env={"GOBIN": str(root / "bin")}, log=log)
    found = find_prometheus(root)
    if found is None:
        raise StackError(f"prometheus was installed but not found on PATH or in {root / 'bin'}")
    return found


def install(root: Path | None = None) -> None:
    base = root or home()
    (base / "bin").mkdir(parents=True, exist_ok=True)
    _say(f"otel-kit stack install -> {base}")
    steps: list[tuple[str, Callable[[Path], object]]] = [
        ("[1/4]", install_prometheus),
        ("[2/4]", install_jaeger),
        ("[3/4]", install_loki),
        ("[4/4]", install_collector),
    ]
    for label, step in steps:
        _say(label)
        step(base)
    _say("done: `otel-kit stack up` starts the stack")


# --- run -------------------------------------------------------------------------------------------

DEFAULT_PORTS = {
    "otlp_grpc": 4317,
    "otlp_http": 4318,
    "collector_health": 13133,
    "collector_metrics": 8888,
    "jaeger_otlp_grpc": 14317,
    "jaeger_otlp_http": 14318,
    "jaeger_query": 16686,
    "jaeger_query_grpc": 16685,
    "jaeger_health": 14133,
    "jaeger_metrics": 18888,
    "loki_http": 3100,
    "loki_grpc": 9096,
    "prometheus": 9090,
}


@dataclass
class Service:
    name: str
    command: list[str]
    ready_url: str
    ports: list[int]
    environment: dict[str, str] = field(default_factory=dict)
    url: str = ""


@dataclass
class Stack:
    """One local stack: its ports and its run directory (data, logs, pids)."""

    name: str = "default"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    root: Path = field(default_factory=home)

    @property
    def run_dir(self) -> Path:
        return self.root / "run" / self.name

    @property
    def otlp_grpc(self) -> str:
        return f"http://127.0.0.1:{self.ports['otlp_grpc']}"

    @property
    def jaeger_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['jaeger_query']}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    @property
    def loki_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['loki_http']}"

    def services(self) -> list[Service]:
        p = self.ports
        bin_dir = self.root / "bin"
        configs = config_dir()
        prometheus = find_prometheus(self.root)
        if prometheus is None or not (bin_dir / "otelcol").exists():
            raise StackError("the stack is not installed: run `otel-kit stack install` first")
        run = self.run_dir
        return [
            Service(
                "jaeger",
                [str(bin_dir / "jaeger"), "--config", str(configs / "jaeger.yaml")],
                f"http://127.0.0.1:{p['jaeger_query']}/api/services",
                [p["jaeger_otlp_grpc"], p["jaeger_otlp_http"], p["jaeger_query"], p["jaeger_health"]],
                {
                    "JAEGER_OTLP_GRPC_LISTEN": f"127.0.0.1:{p['jaeger_otlp_grpc']}",
                    "JAEGER_OTLP_HTTP_LISTEN": f"127.0.0.1:{p['jaeger_otlp_http']}",
                    "JAEGER_QUERY_ENDPOINT": f"127.0.0.1:{p['jaeger_query']}",
                    "JAEGER_QUERY_GRPC_ENDPOINT": f"127.0.0.1:{p['jaeger_query_grpc']}",
                    "JAEGER_HEALTH_ENDPOINT": f"127.0.0.1:{p['jaeger_health']}",
                    "JAEGER_METRICS_PORT": str(p["jaeger_metrics"]),
                },
                self.jaeger_url,
            ),
            Service(
                "loki",
                [str(bin_dir / "loki"), f"-config.file={configs / 'loki.yaml'}", "-config.expand-env=true"],
                f"http://127.0.0.1:{p['loki_http']}/ready",
                [p["loki_http"], p["loki_grpc"]],
                {"LOKI_HTTP_PORT": str(p["loki_http"]), "LOKI_GRPC_PORT": str(p["loki_grpc"]), "LOKI_DATA_DIR": str(run / "loki-data")},
                self.loki_url,
            ),
            Service(
                "prometheus",
                [
                    str(prometheus[0]), f"--config.file={self._prometheus_config()}", f"--web.listen-address=127.0.0.1:{p['prometheus']}",
                    f"--storage.tsdb.path={run / 'prometheus-data'}", "--web.enable-remote-write-receiver", "--web.enable-lifecycle",
                ],
                f"http://127.0.0.1:{p['prometheus']}/-/ready",
                [p["prometheus"]],
                {},
                self.prometheus_url,
            ),
            Service(
                "collector",
                [str(bin_dir / "otelcol"), f"--config={configs / 'otelcol.yaml'}"],
                f"http://127.0.0.1:{p['collector_health']}/",
                [p["otlp_grpc"], p["otlp_http"], p["collector_health"], p["collector_metrics"]],
                {
                    "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{p['otlp_grpc']}",
                    "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{p['otlp_http']}",
                    "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{p['collector_health']}",
                    "OTELCOL_METRICS_PORT": str(p["collector_metrics"]),
                    "OTELCOL_STORAGE_DIR": str(run / "collector-queue"),
                    "JAEGER_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{p['jaeger_otlp_grpc']}",
                    "PROMETHEUS_REMOTE_WRITE_URL": f"http://127.0.0.1:{p['prometheus']}/api/v1/write",
                    "LOKI_OTLP_ENDPOINT": f"http://127.0.0.1:{p['loki_http']}/otlp",
                },
                f"grpc 127.0.0.1:{p['otlp_grpc']}, http 127.0.0.1:{p['otlp_http']}",
            ),
        ]

    def _prometheus_config(self) -> Path:
        """prometheus.yml with this stack's collector-metrics port and absolute rule paths."""
        source = (config_dir() / "prometheus.yml").read_text()
        rendered = source.replace("127.0.0.1:8888", f"127.0.0.1:{self.ports['collector_metrics']}").replace(
            "  - rules/*.yml", f"  - {config_dir() / 'rules'}/*.yml"
        )
        target = self.run_dir / "prometheus.yml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rendered)
        return target

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        path = self._pid_file(name)
        if not path.exists():
            return None
        try:
            pid = int(path.read_text().strip())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, PermissionError):
            path.unlink(missing_ok=True)
            return None
        return pid

    def start(self, service: Service, timeout: float = 90.0) -> None:
        if self.pid(service.name) is not None:
            _say(f"  {service.name}: already running")
            return
        for port in service.ports:
            if _port_open(port):
                raise StackError(f"{service.name}: port {port} on 127.0.0.1 is in use by another process; pick other ports (see --help)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = self.run_dir / f"{service.name}.log"
        with log.open("ab") as handle:
            process = subprocess.Popen(
                service.command, cwd=self.run_dir, env={**os.environ, **service.environment}, stdout=handle, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self._pid_file(service.name).write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = "\n    ".join(log.read_text(errors="replace").splitlines()[-15:])
                raise StackError(f"{service.name} exited with {process.returncode}; log {log}:\n    {tail}")
            if _ready(service.ready_url):
                _say(f"  {service.name}: ready ({service.url})")
                return
            time.sleep(0.5)
        raise StackError(f"{service.name} did not become ready within {timeout:g} s; log: {log}")

    def up(self, *, fresh: bool = False) -> None:
        names = ("jaeger", "loki", "prometheus", "collector")
        if fresh and self.run_dir.exists() and not any(self.pid(name) for name in names):
            shutil.rmtree(self.run_dir)
        services = self.services()
        _say(f"otel-kit stack up ({self.name}) -> {self.run_dir}")
        for service in services:
            self.start(service)

    def down(self, timeout: float = 15.0) -> None:
        _say(f"otel-kit stack down ({self.name})")
        for name in ("collector", "prometheus", "loki", "jaeger"):
            pid = self.pid(name)
            if pid is None:
                continue
            _stop(pid, timeout)
            self._pid_file(name).unlink(missing_ok=True)
            _say(f"  {name}: stopped")

    def stop_one(self, name: str) -> None:
        pid = self.pid(name)
        if pid is not None:
            _stop(pid, 15.0)
            self._pid_file(name).unlink(missing_ok=True)

    def start_one(self, name: str) -> None:
        for service in self.services():
            if service.name == name:
                self.start(service)
                return
        raise StackError(f"unknown service {name!r}")

    def status(self) -> list[tuple[str, str, str]]:
        rows = []
        for service in self.services():
            pid = self.pid(service.name)
            state = "stopped" if pid is None else ("ready" if _ready(service.ready_url) else f"starting (pid {pid})")
            rows.append((service.name, state, service.url))
        return rows


def _stop(pid: int, timeout: float) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            # reap if it is our child
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(200 <= response.status < 300)
    except Exception:  # noqa: BLE001
        return False


def print_status(stack: Stack) -> int:
    rows = stack.status()
    width = max(len(r[0]) for r in rows)
    for name, state, url in rows:
        _say(f"  {name.ljust(width)}  {state.ljust(10)}  {url}")
    return 0 if all(r[1] == "ready" for r in rows) else 1


def main_stack(action: str, stack: Stack, *, fresh: bool = False) -> int:
    try:
        if action == "install":
            install(stack.root)
        elif action == "up":
            stack.up(fresh=fresh)
        elif action == "down":
            stack.down()
        elif action == "status":
            return print_status(stack)
        return 0
    except StackError as exc:
        print(f"otel-kit stack {action}: {exc}", file=sys.stderr)
        return 1
