"""One named local stack: its ports, its run directory and the five processes it owns.

Everything of stack ``NAME`` lives in ``$OTEL_KIT_HOME/run/NAME/``: ``stack.json`` (its ports, so
``down`` and ``status`` need only the name), the configuration it runs (``config/``), data, logs
and one pid file per service. Every server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_kit.cli.stack import alerting, processes
from otel_kit.cli.stack.build import find_alertmanager, find_prometheus, installed
from otel_kit.cli.stack.common import StackError, home, say
from otel_kit.cli.stack.config import render
from otel_kit.cli.stack.sources import origin

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
    "alertmanager": 9093,
}
# Start order: Alertmanager before the rule evaluators (Prometheus, Loki) that send to it.
SERVICE_NAMES = ("alertmanager", "jaeger", "loki", "prometheus", "collector")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


# `sh -c 'exec "$@" 2>&1 | sed ...' sh CMD...`: the server and the filter share the session (and the
# process group `stop` signals); sed -u passes each line on at once.
_REDACTING_SHELL = ["/bin/sh", "-c", r'"$@" 2>&1 | sed -u -E "s#(https?://[^/ \\\"]+)/[^ \\\"]*#\1/<redacted>#g"', "sh"]


def _quiet(_: str) -> None:
    """Settings read again for ``status``: their warnings were given at ``up``."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise StackError(f"invalid stack name {name!r}: expected letters, digits, '.', '_' or '-' (at most 64, not starting with a symbol)")
    return name


def check_ports(ports: dict[str, int]) -> dict[str, int]:
    unknown = sorted(set(ports) - set(DEFAULT_PORTS))
    if unknown:
        raise StackError(f"unknown port name {unknown[0]!r}: expected one of {', '.join(DEFAULT_PORTS)}")
    for key, port in ports.items():
        if not 0 < port < 65536:
            raise StackError(f"port {key}={port} is out of range: expected 1-65535")
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            raise StackError(f"ports {seen[port]} and {key} are both {port}: each service needs its own port")
        seen[port] = key
    return {**DEFAULT_PORTS, **ports}


@dataclass
class Service:
    name: str
    command: list[str]
    ready_url: str
    ports: list[int]
    environment: dict[str, str] = field(default_factory=dict)
    url: str = ""
    # Its log passes through a filter that keeps only the host of every URL: Alertmanager 0.25
    # (Debian's) logs a failed webhook's whole URL, and webhook URLs carry their token.
    redact_urls_in_log: bool = False


@dataclass
class Stack:
    """One local stack: its ports and its run directory (configuration, data, logs, pids)."""

    name: str = "default"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    root: Path = field(default_factory=home)

    def __post_init__(self) -> None:
        check_name(self.name)
        self.ports = check_ports(dict(self.ports))

    @classmethod
    def load(cls, name: str = "default", root: Path | None = None) -> Stack:
        """The stack as it was last brought up (its saved ports), or with the default ports."""
        base = root or home()
        saved = saved_ports(base / "run" / check_name(name))
        return cls(name=name, ports=saved or dict(DEFAULT_PORTS), root=base)

    # --- where things are --------------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        return self.root / "run" / self.name

    @property
    def state_file(self) -> Path:
        return self.run_dir / "stack.json"

    @property
    def otlp_grpc(self) -> str:
        return f"http://127.0.0.1:{self.ports['otlp_grpc']}"

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.ports['otlp_http']}"

    @property
    def jaeger_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['jaeger_query']}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    @property
    def loki_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['loki_http']}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['alertmanager']}"

    def services(self) -> list[Service]:
        if not installed(self.root):
            raise StackError(f"the stack is not installed in {self.root}: run `otel-kit stack install` first (release archives; Go >= 1.24 where they cannot be downloaded)")
        prometheus = find_prometheus(self.root)
        alertmanager = find_alertmanager(self.root)
        assert prometheus is not None and alertmanager is not None  # installed() checked them
        p = self.ports
        bin_dir = self.root / "bin"
        run = self.run_dir
        config = run / "config"
        ui = origin.jaeger_ui(self.root)
        return [
            Service(
                "alertmanager",
                [
                    str(alertmanager), f"--config.file={config / 'alertmanager.yml'}", f"--storage.path={run / 'alertmanager-data'}",
                    f"--web.listen-address=127.0.0.1:{p['alertmanager']}", f"--web.external-url={self.alertmanager_url}",
                    # a single instance: no gossip port (it would default to 0.0.0.0:9094 for every stack)
                    "--cluster.listen-address=",
                ],
                f"http://127.0.0.1:{p['alertmanager']}/-/ready",
                [p["alertmanager"]],
                {},
                self.alertmanager_url,
                redact_urls_in_log=True,
            ),
            Service(
                "jaeger",
                [str(bin_dir / "jaeger"), "--config", str(config / "jaeger.yaml")],
                f"http://127.0.0.1:{p['jaeger_query']}/api/services",
                [p["jaeger_otlp_grpc"], p["jaeger_otlp_http"], p["jaeger_query"], p["jaeger_query_grpc"], p["jaeger_health"], p["jaeger_metrics"]],
                {
                    "JAEGER_OTLP_GRPC_LISTEN": f"127.0.0.1:{p['jaeger_otlp_grpc']}",
                    "JAEGER_OTLP_HTTP_LISTEN": f"127.0.0.1:{p['jaeger_otlp_http']}",
                    "JAEGER_QUERY_ENDPOINT": f"127.0.0.1:{p['jaeger_query']}",
                    "JAEGER_QUERY_GRPC_ENDPOINT": f"127.0.0.1:{p['jaeger_query_grpc']}",
                    "JAEGER_HEALTH_ENDPOINT": f"127.0.0.1:{p['jaeger_health']}",
                    "JAEGER_METRICS_PORT": str(p["jaeger_metrics"]),
                    "JAEGER_BADGER_DIR": str(run / "jaeger-data"),
                    "JAEGER_TRACES_TTL": alerting.go_duration(alerting.retention("jaeger", warn=_quiet)),
                    # a Jaeger built from source serves the released jaeger-ui assets; empty: the UI in the binary
                    "JAEGER_UI_ASSETS_PATH": str(ui.path) if ui.state == "assets" else "",
                },
                self.jaeger_url,
            ),
            Service(
                "loki",
                [str(bin_dir / "loki"), f"-config.file={config / 'loki.yaml'}", "-config.expand-env=true"],
                f"http://127.0.0.1:{p['loki_http']}/ready",
                [p["loki_http"], p["loki_grpc"]],
                {
                    "LOKI_HTTP_PORT": str(p["loki_http"]), "LOKI_GRPC_PORT": str(p["loki_grpc"]), "LOKI_DATA_DIR": str(run / "loki-data"),
                    "LOKI_RETENTION": alerting.retention("loki", warn=_quiet), "LOKI_RULES_DIR": str(config / "loki-rules"),
                    "LOKI_ALERTMANAGER_URL": self.alertmanager_url,
                },
                self.loki_url,
            ),
            Service(
                "prometheus",
                [
                    str(prometheus[0]), f"--config.file={config / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{p['prometheus']}",
                    f"--storage.tsdb.path={run / 'prometheus-data'}", f"--storage.tsdb.retention.time={alerting.retention('prometheus', warn=_quiet)}",
                    "--web.enable-remote-write-receiver", "--web.enable-lifecycle",
                ],
                f"http://127.0.0.1:{p['prometheus']}/-/ready",
                [p["prometheus"]],
                {},
                self.prometheus_url,
            ),
            Service(
                "collector",
                [str(bin_dir / "otelcol"), f"--config={config / 'otelcol.yaml'}"],
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

    # --- processes -----------------------------------------------------------------------------

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def record(self, name: str) -> processes.PidRecord | None:
        """The running process of service ``name``; a stale pid file is removed."""
        return processes.running(self._pid_file(name))

    def pid(self, name: str) -> int | None:
        found = self.record(name)
        return found.pid if found is not None else None

    def running(self) -> list[str]:
        return [name for name in SERVICE_NAMES if self.record(name) is not None]

    def _check_ports_free(self, services: list[Service]) -> None:
        names = {port: key for key, port in self.ports.items()}
        for service in services:
            if self.record(service.name) is not None:
                continue
            for port in service.ports:
                try:
                    free = processes.port_free(port)
                except OSError as exc:
                    raise StackError(f"{service.name}: cannot listen on 127.0.0.1:{port} ({names.get(port, port)}): {exc.strerror or exc}") from None
                if not free:
                    raise StackError(
                        f"port {port} ({names.get(port, port)}, for {service.name}) is in use by {describe_holder(port, self.root)}; "
                        f"stop it or start this stack on other ports (--port {names.get(port, 'NAME')}=PORT or --port-offset N)"
                    )

    def start(self, service: Service, timeout: float = 90.0) -> bool:
        """Start ``service`` and wait until it is ready; False when it was already running."""
        if self.record(service.name) is not None:
            say(f"  {service.name}: already running")
            return False
        self._check_ports_free([service])
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = self.run_dir / f"{service.name}.log"
        # The user's OTEL_* variables are for their app: a server of the stack that read them
        # would send its own telemetry there (or to another stack).
        # The receivers' secrets are for the rendered alertmanager.yml only.
        inherited = {
            k: v for k, v in os.environ.items() if (not k.startswith("OTEL_") or k.startswith("OTEL_KIT_")) and k not in alerting.SECRET_VARIABLES
        }
        command = [*_REDACTING_SHELL, *service.command] if service.redact_urls_in_log else service.command
        processes.start(
            service.name, command, cwd=self.run_dir, environment={**inherited, **service.environment}, log=log,
            pid_file=self._pid_file(service.name), recorded=service.command[0], ready_url=service.ready_url, timeout=timeout,
        )
        say(f"  {service.name}: ready ({service.url})")
        return True

    def up(self, *, fresh: bool = False) -> None:
        services = self.services()
        created = not self.run_dir.exists()
        try:
            self._up(services, fresh=fresh)
        except BaseException:
            if created and not self.state_file.exists():
                shutil.rmtree(self.run_dir, ignore_errors=True)  # a failed first `up` leaves no empty stack behind
            raise

    def _up(self, services: list[Service], *, fresh: bool) -> None:
        with processes.locked(self.run_dir):
            running = self.running()
            saved = saved_ports(self.run_dir)
            if running and saved is not None and saved != self.ports:
                changed = sorted(key for key in self.ports if saved.get(key) != self.ports[key])
                raise StackError(
                    f"stack {self.name!r} is running with other ports ({', '.join(f'{k}={saved.get(k)}' for k in changed)}): "
                    f"`otel-kit stack down --name {self.name}` first"
                )
            self._check_ports_free(services)
            if fresh and not running:
                for child in self.run_dir.iterdir():
                    if child.name != ".lock":
                        shutil.rmtree(child) if child.is_dir() else child.unlink()
            self.state_file.write_text(json.dumps({"name": self.name, "ports": self.ports}, indent=2) + "\n")
            for backend in alerting.RETENTION_VARIABLES:
                alerting.retention(backend)  # an invalid value warns here, once per `up`
            render(self.run_dir, self.ports)
            say(f"otel-kit stack up ({self.name}) -> {self.run_dir}")
            say(f"  alert receivers: {alerting.receivers_from(warn=lambda _: None).describe()}")
            if "alertmanager" in running:
                # receivers come from this shell's environment: a running Alertmanager takes them now
                processes.post(f"{self.alertmanager_url}/-/reload")
            started: list[str] = []
            try:
                for service in services:
                    if self.start(service):
                        started.append(service.name)
            except BaseException:
                # Leave nothing half up: stop what this call started, then report the failure.
                for name in reversed(started):
                    self.stop_one(name)
                raise

    def down(self, timeout: float = 15.0) -> None:
        say(f"otel-kit stack down ({self.name})")
        if not self.run_dir.exists():
            say("  nothing to stop")
            return
        with processes.locked(self.run_dir):
            found = {name: record for name in SERVICE_NAMES if (record := self.record(name)) is not None}
            if not found:
                say("  nothing was running")
                return
            # The Collector first, so it hands what it holds to backends still up (what it cannot
            # deliver waits in its on-disk queue); then the backends together.
            for group in (["collector"], ["prometheus", "loki", "jaeger", "alertmanager"]):
                records = [found[name] for name in group if name in found]
                processes.stop_all(records, timeout)
                for name in group:
                    if name in found:
                        self._pid_file(name).unlink(missing_ok=True)
                        say(f"  {name}: stopped")

    def stop_one(self, name: str) -> None:
        processes.stop_recorded(self._pid_file(name), 15.0)

    def start_one(self, name: str) -> None:
        for service in self.services():
            if service.name == name:
                self.start(service)
                return
        raise StackError(f"unknown service {name!r}: expected one of {', '.join(SERVICE_NAMES)}")

    def status(self) -> list[dict[str, Any]]:
        rows = []
        for service in self.services():
            found = self.record(service.name)
            if found is None:
                state = "stopped"
            else:
                state = "ready" if processes.ready(service.ready_url) else "starting"
            rows.append({"service": service.name, "state": state, "pid": found.pid if found else None, "url": service.url})
        return rows


def saved_ports(run_dir: Path) -> dict[str, int] | None:
    try:
        data = json.loads((run_dir / "stack.json").read_text())
        ports = {str(k): int(v) for k, v in data["ports"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return {**DEFAULT_PORTS, **{k: v for k, v in ports.items() if k in DEFAULT_PORTS}}


def known_stacks(root: Path) -> list[str]:
    runs = root / "run"
    return sorted(p.name for p in runs.iterdir() if p.is_dir() and _NAME.match(p.name)) if runs.is_dir() else []


def describe_holder(port: int, root: Path) -> str:
    """Who listens on ``port``: a service of one of our stacks, another program, or unknown."""
    pid = processes.listener(port)
    if pid is None:
        return "another process"
    for name in known_stacks(root):
        run_dir = root / "run" / name
        for service in SERVICE_NAMES:
            found = processes.read(run_dir / f"{service}.pid")
            if found is not None and found.pid == pid and processes.is_running(found):
                return f"{service} (pid {pid}) of otel-kit stack {name!r} (`otel-kit stack down --name {name}` stops it)"
    return processes.describe_pid(pid)
