"""``otel-kit stack install | up | status | down | config``: the command's output and exit status."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from otel_kit.cli.stack import config
from otel_kit.cli.stack.build import install, origins
from otel_kit.cli.stack.common import StackError, say
from otel_kit.cli.stack.runtime import Stack
from otel_kit.cli.stack.scale import Backends, ScaleTopology
from otel_kit.cli.stack.sources import origin, settings


def ui_line(stack: Stack) -> str:
    """One line on how to see traces: the Jaeger UI when it is real, else the CLI and how to get the UI."""
    ui = origin.jaeger_ui(stack.root)
    if ui.real:
        return f"traces: the Jaeger UI at {stack.jaeger_url}, or `otel-kit traces` / `otel-kit trace ID`"
    return (
        f"Jaeger UI: {ui.describe()}; view traces with `otel-kit traces` / `otel-kit trace ID`; "
        f"`otel-kit stack install` where {settings.GITHUB} (or {settings.OTEL_KIT_RELEASE_MIRROR}) is reachable adds the UI"
    )


def print_status(stack: Stack, *, as_json: bool = False) -> int:
    rows = stack.status()
    healthy = all(row["state"] == "ready" for row in rows)
    sources = origins(stack.root)
    if as_json:
        for row in rows:
            found = sources.get(row["service"])
            row["source"] = {"source": found.source, "version": found.version, "binary": found.binary} if found else None
        ui = origin.jaeger_ui(stack.root)
        jaeger_ui = {"real": ui.real, "state": ui.state, "assets_path": str(ui.path) if ui.path else None}
        print(json.dumps(
            {"name": stack.name, "run_dir": str(stack.run_dir), "ready": healthy, "ports": stack.ports, "services": rows, "jaeger_ui": jaeger_ui},
            indent=2,
        ))
    else:
        say(f"otel-kit stack {stack.name} ({stack.run_dir})")
        width = max(len(row["service"]) for row in rows)
        url_width = max(len(row["url"]) for row in rows)
        for row in rows:
            state = row["state"] + (f" (pid {row['pid']})" if row["pid"] else "")
            found = sources.get(row["service"])
            source = found.describe() if found else "not installed"
            say(f"  {row['service'].ljust(width)}  {state.ljust(20)}  {row['url'].ljust(url_width)}  {source}")
        say(f"  {ui_line(stack)}")
    return 0 if healthy else 1


def _print_up(stack: Stack) -> None:
    doctor = "otel-kit doctor" + (f" --stack {stack.name}" if stack.name != "default" else "")
    say(f"send telemetry to OTEL_EXPORTER_OTLP_ENDPOINT={stack.otlp_grpc} (gRPC) or {stack.otlp_http} (HTTP); check it with `{doctor}`")
    say(ui_line(stack))


def config_command(export: str | None, *, force: bool, as_json: bool) -> int:
    if export is not None:
        target = Path(export).expanduser().resolve()
        written = config.export(target, force=force)
        if as_json:
            print(json.dumps({"exported_to": str(target), "files": [str(p) for p in written]}, indent=2))
        else:
            say(f"wrote {len(written)} files to {export}: otelcol.yaml (single Collector), otelcol-agent.yaml + otelcol-gateway.yaml "
                "(scale-out), jaeger.yaml, loki.yaml + loki-rules/, prometheus.yml + rules/, alertmanager.yml + runbooks.md, "
                "docker-compose.yaml + grafana/, builder-config.yaml")
        return 0
    source = config.config_dir()
    files = [str(p) for p in config.shipped_files(source)]
    if as_json:
        print(json.dumps({"config_dir": str(source), "files": files}, indent=2))
    else:
        say(f"shipped configuration: {source}")
        for name in files:
            say(f"  {name}")
        say("`otel-kit stack config --export DIR` copies them for your own Collector or `docker compose -f DIR/docker-compose.yaml up`")
    return 0


def _tier(stack: Stack) -> ScaleTopology:
    """The agent/gateway tier that belongs to ``stack`` (its own run directory and ports)."""
    name = "scale" if stack.name == "default" else f"{stack.name}-scale"
    return ScaleTopology(root=stack.root, name=name, backends=Backends.of_stack(stack))


def _print_tier(tier: ScaleTopology, *, as_json: bool) -> None:
    rows = tier.status()
    if as_json:
        print(json.dumps({"topology": tier.name, "instances": rows}, indent=2))
        return
    say(f"  scale-out tier {tier.name} ({tier.run_dir})")
    for row in rows:
        state = row["state"] + (f" (pid {row['pid']})" if row["pid"] else "")
        say(f"    {row['service'].ljust(10)} {row['role'].ljust(8)} {state.ljust(20)}  {row['url']}")


def main_stack(
    action: str, stack: Stack, *, fresh: bool = False, as_json: bool = False, export: str | None = None, force: bool = False,
    topology: str = "single",
) -> int:
    try:
        if action == "install":
            install(stack.root)
        elif action == "up":
            stack.up(fresh=fresh)
            if topology == "scale":
                # After the stack: its render rewrites config/, where the tier's scrape targets live.
                tier = _tier(stack)
                tier.up(fresh=fresh)
                _print_tier(tier, as_json=False)
                say(f"send telemetry to an agent: OTEL_EXPORTER_OTLP_ENDPOINT=http://{tier.instances()[0].otlp_grpc} (or the other agent)")
            _print_up(stack)
        elif action == "down":
            tier = _tier(stack)
            if tier.run_dir.exists():
                tier.down()  # agents and gateways first, so their queues drain into the backends
            stack.down()
        elif action == "status":
            code = print_status(stack, as_json=as_json and topology != "scale")
            tier = _tier(stack)
            if topology == "scale" or any(row["state"] != "stopped" for row in tier.status()):
                _print_tier(tier, as_json=as_json)
                code = code or int(any(row["state"] != "ready" for row in tier.status()))
            return code
        elif action == "config":
            return config_command(export, force=force, as_json=as_json)
        return 0
    except StackError as exc:
        print(f"otel-kit stack {action}: {exc}", file=sys.stderr)
        return 1
