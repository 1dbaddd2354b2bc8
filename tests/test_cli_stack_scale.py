"""otel_kit.cli.stack.scale without servers: ports, per-instance settings, Prometheus targets, refusing to start wrongly."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import psutil
import pytest

from otel_kit.cli.stack import Stack, StackError
from otel_kit.cli.stack.scale import AGENTS, DEFAULT_PORTS, GATEWAYS, INSTANCES, Backends, ScaleTopology, check_ports, offset_ports


def _topology(root: Path, **kwargs: object) -> ScaleTopology:
    return ScaleTopology(root=root, name="t", ports=offset_ports(20000), **kwargs)  # type: ignore[arg-type]


def test_ports_are_checked_per_instance() -> None:
    """Every instance needs its role's ports, each in range and used once; the error names instance and port."""
    assert check_ports(DEFAULT_PORTS) == DEFAULT_PORTS
    same = {name: dict(ports) for name, ports in DEFAULT_PORTS.items()}
    same["agent-2"]["metrics"] = same["gateway-1"]["metrics"]
    with pytest.raises(StackError, match="gateway-1 metrics and agent-2 metrics are both 4374"):
        check_ports(same)
    missing = {name: dict(ports) for name, ports in DEFAULT_PORTS.items()}
    del missing["agent-1"]["otlp_http"]
    with pytest.raises(StackError, match="agent-1: ports otlp_http are missing"):
        check_ports(missing)
    with pytest.raises(StackError, match="out of range"):
        check_ports({**DEFAULT_PORTS, "gateway-2": {"otlp_grpc": 70000, "health": 1, "metrics": 2}})
    with pytest.raises(StackError, match="unknown instance 'gateway-3'"):
        check_ports({**DEFAULT_PORTS, "gateway-3": {"otlp_grpc": 5, "health": 6, "metrics": 7}})


def test_each_instance_gets_its_own_ports_queue_and_identity(tmp_path: Path) -> None:
    """Four instances: own ports and queue directory under the run directory, agents list both gateways, logs spread,
    gateways get the backends and the sampling settings (agents do not)."""
    backends = Backends(jaeger_otlp_grpc="127.0.0.1:1", prometheus_url="http://127.0.0.1:2", loki_url="http://127.0.0.1:3")
    topology = _topology(tmp_path, backends=backends, settings={"TAIL_SAMPLING_TRACES_PER_SEC": "50"})
    instances = {i.name: i for i in topology.instances()}
    assert list(instances) == list(INSTANCES)
    queues = {i.environment["OTELCOL_STORAGE_DIR"] for i in instances.values()}
    assert queues == {str(tmp_path / "run" / "t" / name / "queue") for name in INSTANCES}
    assert {i.environment["OTELCOL_INSTANCE_ID"] for i in instances.values()} == set(INSTANCES)
    gateways = "[127.0.0.1:24371,127.0.0.1:24381]"
    for name in AGENTS:
        agent = instances[name]
        assert agent.role == "agent" and agent.environment["OTELCOL_GATEWAYS"] == gateways
        assert agent.command[-1].endswith("config/otelcol-agent.yaml") and "TAIL_SAMPLING_TRACES_PER_SEC" not in agent.environment
    assert {instances[a].environment["OTELCOL_GATEWAY_LOGS_ENDPOINT"] for a in AGENTS} == {"127.0.0.1:24371", "127.0.0.1:24381"}
    for name in GATEWAYS:
        env = instances[name].environment
        assert env["JAEGER_OTLP_GRPC_ENDPOINT"] == "127.0.0.1:1" and env["PROMETHEUS_REMOTE_WRITE_URL"] == "http://127.0.0.1:2/api/v1/write"
        assert env["LOKI_OTLP_ENDPOINT"] == "http://127.0.0.1:3/otlp" and env["TAIL_SAMPLING_TRACES_PER_SEC"] == "50"
    assert topology.agent_endpoints() == ["http://127.0.0.1:24351", "http://127.0.0.1:24361"]
    with pytest.raises(StackError, match="unknown gateway setting 'TAIL_SAMPLING_NUM_TRACES'"):
        _topology(tmp_path, settings={"TAIL_SAMPLING_NUM_TRACES": "5"})


def test_backends_of_a_stack_and_prometheus_targets(tmp_path: Path) -> None:
    """A stack's Jaeger/Prometheus/Loki ports and its rendered config's targets/; the file lists every instance
    with its role, and `down` removes it."""
    stack = Stack(name="s", root=tmp_path)
    backends = Backends.of_stack(stack)
    assert backends == Backends("127.0.0.1:14317", "http://127.0.0.1:9090", "http://127.0.0.1:3100", tmp_path / "run" / "s" / "config" / "targets")
    topology = _topology(tmp_path, backends=backends)
    topology._write_targets()
    assert topology.targets_file is not None
    groups = json.loads(topology.targets_file.read_text())
    assert [(g["targets"], g["labels"]["collector"], g["labels"]["role"]) for g in groups] == [
        (["127.0.0.1:24374"], "gateway-1", "gateway"), (["127.0.0.1:24384"], "gateway-2", "gateway"),
        (["127.0.0.1:24354"], "agent-1", "agent"), (["127.0.0.1:24364"], "agent-2", "agent"),
    ]
    assert topology.down() == [] and not topology.targets_file.exists()
    assert [row["state"] for row in topology.status()] == ["stopped"] * 4


def test_up_refuses_without_the_collector_and_on_a_busy_port(tmp_path: Path) -> None:
    """No binary: say to install it. A port in use: name it and the instance, and start nothing."""
    topology = _topology(tmp_path)
    with pytest.raises(StackError, match="otel-kit stack install"):
        topology.up()
    binary = tmp_path / "bin" / "otelcol"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nexit 1\n")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 24383))
        busy.listen()
        with pytest.raises(StackError, match=r"port 24383 \(gateway-2 health\) is in use"):
            topology.up()
    assert not list((tmp_path / "run" / "t").glob("*/otelcol.pid"))


def test_a_pid_file_of_another_process_is_never_signalled(tmp_path: Path) -> None:
    """A pid file whose process has another working directory is stale: not running, not stopped, removed."""
    topology = _topology(tmp_path)
    directory = tmp_path / "run" / "t" / "gateway-1"
    directory.mkdir(parents=True)
    me = psutil.Process(os.getpid())
    (directory / "otelcol.pid").write_text(json.dumps({"pid": me.pid, "started": me.create_time(), "cwd": str(directory)}))
    assert topology.status()[0]["state"] == "stopped"
    assert topology.stop("gateway-1") is False and topology.kill("gateway-1") is False
    assert not (directory / "otelcol.pid").exists()
    with pytest.raises(StackError, match="unknown instance 'agent-3'"):
        topology.stop("agent-3")
