"""The scale-out tier on one machine: two agents and two gateways on loopback.

``otelcol-agent.yaml`` and ``otelcol-gateway.yaml``, the files users deploy, run as four Collector
processes from ``$OTEL_KIT_HOME/bin/otelcol``. Everything of topology ``NAME`` lives in
``$OTEL_KIT_HOME/run/NAME/`` (never under /tmp): ``scale.json`` (its ports), the configuration it
runs (``config/``), and per instance its queue directory, log and pid file. The ports default to a
block of their own (4351-4384) that the single-node stack's defaults, its ``--port-offset`` steps
and the end-to-end ports never use. The gateways send to a stack's Jaeger, Prometheus and Loki
(``Backends``); when that stack's Prometheus reads file-based targets, every instance is scraped.

    topology = ScaleTopology(backends=Backends.of_stack(stack))
    topology.up()        # gateways first, then agents; waits until each is healthy
    topology.status()    # one row per instance
    topology.down()      # agents first (they hand their queues to the gateways), then gateways
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_kit.cli.stack import processes
from otel_kit.cli.stack.common import StackError, home
from otel_kit.cli.stack.config import config_dir
from otel_kit.cli.stack.runtime import describe_holder

AGENTS = ("agent-1", "agent-2")
GATEWAYS = ("gateway-1", "gateway-2")
INSTANCES = (*GATEWAYS, *AGENTS)  # start order; stopped in reverse (agents first)
# Port names per role; an agent also takes OTLP/HTTP.
ROLE_PORTS = {"agent": ("otlp_grpc", "otlp_http", "health", "metrics"), "gateway": ("otlp_grpc", "health", "metrics")}
DEFAULT_PORTS: dict[str, dict[str, int]] = {
    "agent-1": {"otlp_grpc": 4351, "otlp_http": 4352, "health": 4353, "metrics": 4354},
    "agent-2": {"otlp_grpc": 4361, "otlp_http": 4362, "health": 4363, "metrics": 4364},
    "gateway-1": {"otlp_grpc": 4371, "health": 4373, "metrics": 4374},
    "gateway-2": {"otlp_grpc": 4381, "health": 4383, "metrics": 4384},
}
CONFIG_FILES = {"agent": "otelcol-agent.yaml", "gateway": "otelcol-gateway.yaml"}
# Passed to the gateways when set here (a user's shell variables reach them anyway).
GATEWAY_SETTINGS = ("TAIL_SAMPLING_TRACES_PER_SEC", "TAIL_SAMPLING_PERCENT", "TAIL_SAMPLING_SLOW_MS", "OTEL_KIT_SLOW_QUERY_MS")


def role_of(instance: str) -> str:
    return "agent" if instance in AGENTS else "gateway"


def offset_ports(offset: int) -> dict[str, dict[str, int]]:
    """The default ports plus ``offset`` (for a second topology, or tests)."""
    return {name: {key: port + offset for key, port in ports.items()} for name, ports in DEFAULT_PORTS.items()}


def check_ports(ports: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Every instance with every port of its role, each in range and used once."""
    checked: dict[str, dict[str, int]] = {}
    seen: dict[int, str] = {}
    for instance in INSTANCES:
        given = dict(ports.get(instance) or {})
        wanted = ROLE_PORTS[role_of(instance)]
        missing = [key for key in wanted if key not in given]
        unknown = sorted(set(given) - set(wanted))
        if missing or unknown:
            raise StackError(f"{instance}: ports {', '.join(missing + unknown)} are {'missing' if missing else 'unknown'}: expected {', '.join(wanted)}")
        for key, port in given.items():
            if not isinstance(port, int) or not 0 < port < 65536:
                raise StackError(f"{instance}: port {key}={port!r} is out of range: expected 1-65535")
            if port in seen:
                raise StackError(f"{seen[port]} and {instance} {key} are both {port}: each port is used once")
            seen[port] = f"{instance} {key}"
        checked[instance] = given
    extra = sorted(set(ports) - set(INSTANCES))
    if extra:
        raise StackError(f"unknown instance {extra[0]!r}: expected {', '.join(INSTANCES)}")
    return checked


@dataclass(frozen=True)
class Backends:
    """Where the gateways send, and where the stack's Prometheus reads scrape targets."""

    jaeger_otlp_grpc: str = "127.0.0.1:14317"
    prometheus_url: str = "http://127.0.0.1:9090"
    loki_url: str = "http://127.0.0.1:3100"
    # A file_sd directory of the stack's Prometheus (prometheus.yml reads `targets/*.json` next to
    # itself); None: the instances are not scraped.
    targets_dir: Path | None = None

    @classmethod
    def of_stack(cls, stack: Any) -> Backends:
        """The backends of a running ``otel_kit.cli.stack.Stack`` (its ports and rendered config)."""
        ports = stack.ports
        return cls(
            jaeger_otlp_grpc=f"127.0.0.1:{ports['jaeger_otlp_grpc']}",
            prometheus_url=f"http://127.0.0.1:{ports['prometheus']}",
            loki_url=f"http://127.0.0.1:{ports['loki_http']}",
            targets_dir=Path(stack.run_dir) / "config" / "targets",
        )


@dataclass(frozen=True)
class Instance:
    name: str
    role: str
    ports: dict[str, int]
    environment: dict[str, str]
    command: list[str]

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['health']}/"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['metrics']}/metrics"

    @property
    def otlp_grpc(self) -> str:
        return f"127.0.0.1:{self.ports['otlp_grpc']}"


@dataclass
class ScaleTopology:
    """Two agents and two gateways: their ports, run directory and processes."""

    root: Path = field(default_factory=home)
    name: str = "scale"
    ports: Mapping[str, Mapping[str, int]] = field(default_factory=lambda: offset_ports(0))
    backends: Backends = field(default_factory=Backends)
    # Gateway settings (GATEWAY_SETTINGS), e.g. {"TAIL_SAMPLING_TRACES_PER_SEC": "2000"}
    settings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise StackError(f"invalid topology name {self.name!r}: expected a plain directory name")
        self.ports = check_ports(self.ports)
        unknown = sorted(set(self.settings) - set(GATEWAY_SETTINGS))
        if unknown:
            raise StackError(f"unknown gateway setting {unknown[0]!r}: expected one of {', '.join(GATEWAY_SETTINGS)}")

    # --- where things are --------------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        return self.root / "run" / self.name

    @property
    def binary(self) -> Path:
        return self.root / "bin" / "otelcol"

    @property
    def targets_file(self) -> Path | None:
        return self.backends.targets_dir / f"{self.name}.json" if self.backends.targets_dir is not None else None

    def agent_endpoints(self) -> list[str]:
        """The OTLP/gRPC endpoints services send to, as ``http://host:port``."""
        return [f"http://127.0.0.1:{self.ports[name]['otlp_grpc']}" for name in AGENTS]

    def instances(self) -> list[Instance]:
        config = self.run_dir / "config"
        gateways = ",".join(f"127.0.0.1:{self.ports[name]['otlp_grpc']}" for name in GATEWAYS)
        out = []
        for name in INSTANCES:
            role = role_of(name)
            p = self.ports[name]
            environment = {
                "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{p['otlp_grpc']}",
                "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{p['health']}",
                "OTELCOL_METRICS_HOST": "127.0.0.1",
                "OTELCOL_METRICS_PORT": str(p["metrics"]),
                "OTELCOL_STORAGE_DIR": str(self.run_dir / name / "queue"),
                "OTELCOL_INSTANCE_ID": name,
            }
            if role == "agent":
                # logs: agent-N sends to gateway-N (a static list has no DNS name to balance over)
                logs_gateway = GATEWAYS[AGENTS.index(name) % len(GATEWAYS)]
                environment |= {
                    "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{p['otlp_http']}",
                    "OTELCOL_GATEWAYS": f"[{gateways}]",
                    "OTELCOL_GATEWAY_LOGS_ENDPOINT": f"127.0.0.1:{self.ports[logs_gateway]['otlp_grpc']}",
                }
            else:
                environment |= {
                    "JAEGER_OTLP_GRPC_ENDPOINT": self.backends.jaeger_otlp_grpc,
                    "PROMETHEUS_REMOTE_WRITE_URL": f"{self.backends.prometheus_url}/api/v1/write",
                    "LOKI_OTLP_ENDPOINT": f"{self.backends.loki_url}/otlp",
                    **self.settings,
                }
            out.append(Instance(name, role, dict(p), environment, [str(self.binary), f"--config={config / CONFIG_FILES[role]}"]))
        return out

    def instance(self, name: str) -> Instance:
        for found in self.instances():
            if found.name == name:
                return found
        raise StackError(f"unknown instance {name!r}: expected one of {', '.join(INSTANCES)}")

    # --- lifecycle ------------------------------------------------------------------------------

    def up(self, *, fresh: bool = False, timeout: float = 60.0) -> None:
        """Start every instance not running yet and wait until each is healthy.

        ``fresh`` discards the queues of a previous run (only when nothing runs). On failure, what
        this call started is stopped again."""
        if not self.binary.exists():
            raise StackError(f"no Collector in {self.binary}: run `otel-kit stack install` first")
        with processes.locked(self.run_dir):
            running = [name for name in INSTANCES if self._record(name) is not None]
            saved = _saved_ports(self.run_dir)
            if running and saved is not None and saved != self.ports:
                raise StackError(f"topology {self.name!r} is running with other ports: stop it first")
            if fresh and not running:
                for name in INSTANCES:
                    shutil.rmtree(self.run_dir / name, ignore_errors=True)
            self._check_ports_free([i for i in self.instances() if i.name not in running])
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "scale.json").write_text(json.dumps({"name": self.name, "ports": self.ports}, indent=2) + "\n")
            self._render()
            started: list[str] = []
            try:
                for instance in self.instances():
                    if self._record(instance.name) is None:
                        self._start(instance, timeout)
                        started.append(instance.name)
            except BaseException:
                for name in reversed(started):
                    self._stop(name, 15.0, signal.SIGTERM)
                raise
            self._write_targets()

    def down(self, timeout: float = 30.0) -> list[str]:
        """Stop every instance (agents first, so their queues drain into running gateways); the names stopped."""
        stopped: list[str] = []
        if self.run_dir.exists():
            with processes.locked(self.run_dir):
                for name in reversed(INSTANCES):
                    if self._stop(name, timeout, signal.SIGTERM):
                        stopped.append(name)
        if self.targets_file is not None:
            self.targets_file.unlink(missing_ok=True)
        return stopped

    def stop(self, name: str, timeout: float = 30.0) -> bool:
        """Stop one instance gracefully (SIGTERM; SIGKILL after ``timeout``)."""
        self.instance(name)
        return self._stop(name, timeout, signal.SIGTERM)

    def kill(self, name: str) -> bool:
        """SIGKILL one instance: what it held in memory is lost, as in a crash."""
        self.instance(name)
        return self._stop(name, 5.0, signal.SIGKILL)

    def start(self, name: str, timeout: float = 60.0) -> None:
        """Start one stopped instance again (same ports, same queue directory)."""
        instance = self.instance(name)
        if self._record(name) is None:
            self._check_ports_free([instance])
            self._start(instance, timeout)

    def status(self) -> list[dict[str, Any]]:
        """One row per instance: name, role, state (ready, starting, stopped), pid, OTLP endpoint, metrics."""
        rows = []
        for instance in self.instances():
            record = self._record(instance.name)
            state = "stopped" if record is None else ("ready" if processes.ready(instance.ready_url) else "starting")
            rows.append({
                "service": instance.name, "role": instance.role, "state": state, "pid": record.pid if record else None,
                "url": f"grpc {instance.otlp_grpc}, metrics {instance.metrics_url}",
            })
        return rows

    # --- internals ------------------------------------------------------------------------------

    def _render(self) -> None:
        """This topology's own copy of the configuration: an edit of the shipped files or a package
        upgrade does not change what running instances read on restart."""
        source = config_dir()
        target = self.run_dir / "config"
        target.mkdir(parents=True, exist_ok=True)
        for name in CONFIG_FILES.values():
            shutil.copyfile(source / name, target / name)

    def _write_targets(self) -> None:
        path = self.targets_file
        if path is None:
            return
        groups = [
            {"targets": [f"127.0.0.1:{i.ports['metrics']}"], "labels": {"collector": i.name, "role": i.role, "topology": self.name}}
            for i in self.instances()
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups, indent=2) + "\n")
        tmp.replace(path)  # Prometheus watches the directory: never let it read half a file

    def _check_ports_free(self, instances: list[Instance]) -> None:
        for instance in instances:
            for key, port in instance.ports.items():
                try:
                    free = processes.port_free(port)
                except OSError as exc:
                    raise StackError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
                if not free:
                    raise StackError(
                        f"port {port} ({instance.name} {key}) is in use by {describe_holder(port, self.root)}: "
                        "stop it or start the topology on other ports"
                    )

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / name / "otelcol.pid"

    def _record(self, name: str) -> processes.PidRecord | None:
        """The running process of ``name``: same pid, start time and working directory as recorded."""
        return processes.running(self._pid_file(name))

    def _start(self, instance: Instance, timeout: float) -> None:
        directory = self.run_dir / instance.name
        directory.mkdir(parents=True, exist_ok=True)
        processes.start(
            instance.name, instance.command, cwd=directory, environment={**os.environ, **instance.environment}, log=directory / "otelcol.log",
            pid_file=self._pid_file(instance.name), recorded=" ".join(instance.command), ready_url=instance.ready_url, timeout=timeout,
            interval=0.3,
        )

    def _stop(self, name: str, timeout: float, signum: int) -> bool:
        return processes.stop_recorded(self._pid_file(name), timeout, signum)


def _saved_ports(run_dir: Path) -> dict[str, dict[str, int]] | None:
    try:
        data = json.loads((run_dir / "scale.json").read_text())
        return {str(name): {str(k): int(v) for k, v in ports.items()} for name, ports in data["ports"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
