"""Fault drill: what otel-kit loses when the real Collector goes away, and how long exit takes.

Not a test and not timed by CI. It runs otel-kit in a child process serving a FastAPI app at a
fixed request rate, exporting to the real OpenTelemetry Collector (``otel-kit stack install``
builds it), which forwards everything to an in-process OTLP receiver that counts what arrived
downstream. Scenarios:

- ``outage``: the Collector is stopped for ``--outage`` seconds in the middle of the load, then
  started again on the same port;
- ``blackhole``: the Collector's port accepts connections and never answers, from the start;
- ``closed``: nothing listens on the Collector's port, from the start.

For each it prints requests, spans ended, spans and log records received downstream, lost,
``dropped()``, peak RSS growth, and the shutdown and process exit times::

    python benchmarks/fault_export.py --scenario all --rate 100 --duration 60 --outage 30
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from otel_kit.cli.stack import home
from otel_kit.receiver import Receiver, _free_port

COLLECTOR_CONFIG = textwrap.dedent(
    """
    receivers:
      otlp:
        protocols:
          grpc:
            endpoint: 127.0.0.1:{collector_port}
    processors:
      batch: {{}}
    exporters:
      otlp:
        endpoint: 127.0.0.1:{downstream_port}
        tls:
          insecure: true
    service:
      telemetry:
        metrics:
          level: none
      pipelines:
        traces: {{receivers: [otlp], processors: [batch], exporters: [otlp]}}
        logs: {{receivers: [otlp], processors: [batch], exporters: [otlp]}}
        metrics: {{receivers: [otlp], processors: [batch], exporters: [otlp]}}
    """
)

CHILD = r'''
import json, logging, os, resource, sys, threading, time
import otel_kit
from opentelemetry.sdk.trace import SpanProcessor
from fastapi import FastAPI
from fastapi.testclient import TestClient

class Count(SpanProcessor):
    def __init__(self): self.ended = 0
    def on_end(self, span): self.ended += 1

counter = Count()
rate, duration = float(sys.argv[1]), float(sys.argv[2])
telemetry = otel_kit.setup("fault-drill", additional_span_processors=[counter], log_format="none", system_metrics=False,
                           metric_interval=5, shutdown_timeout=float(os.environ.get("DRILL_SHUTDOWN", "5")))
app = FastAPI()

@app.get("/item/{n}")
def item(n: int) -> dict:
    logging.getLogger("drill").warning("served item %d", n)
    return {"n": n}

def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

client = TestClient(app)
client.get("/item/0")
base = rss_mb()
peak = base
start = time.monotonic()
requests = 0
while time.monotonic() - start < duration:
    target = start + requests / rate
    delay = target - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    client.get(f"/item/{requests}")
    requests += 1
    if requests % 100 == 0:
        peak = max(peak, rss_mb())
        print(json.dumps({"progress": requests}), flush=True)
peak = max(peak, rss_mb())
began = time.monotonic()
telemetry.shutdown()
shutdown_s = time.monotonic() - began
print(json.dumps({"requests": requests + 1, "ended": counter.ended, "dropped": telemetry.dropped(),
                  "stats": {k: v.as_dict() for k, v in telemetry.stats.items()},
                  "rss_growth_mb": round(peak - base, 1), "shutdown_s": round(shutdown_s, 2)}), flush=True)
'''


def _collector(binary: Path, config: Path, log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "ab")
    return subprocess.Popen([str(binary), f"--config={config}"], stdout=handle, stderr=subprocess.STDOUT)


def _wait_port(port: int, timeout: float = 20) -> None:
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def run(scenario: str, *, rate: float, duration: float, outage: float, shutdown_timeout: float) -> dict[str, Any]:
    binary = home() / "bin" / "otelcol"
    if not binary.exists():
        raise SystemExit(f"{binary} not found: run `otel-kit stack install` first")
    work = Path(tempfile.mkdtemp(prefix="otel-kit-drill-"))
    collector_port = _free_port()
    result: dict[str, Any] = {"scenario": scenario}
    with Receiver("grpc") as downstream:
        config = work / "otelcol.yaml"
        config.write_text(COLLECTOR_CONFIG.format(collector_port=collector_port, downstream_port=downstream.port))
        collector: subprocess.Popen[bytes] | None = None
        blackhole: Receiver | None = None
        if scenario == "outage":
            collector = _collector(binary, config, work / "otelcol.log")
            _wait_port(collector_port)
        elif scenario == "blackhole":
            blackhole = Receiver("grpc", port=collector_port)
            blackhole.set_mode("blackhole")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update({"OTEL_KIT_ENDPOINT": f"http://127.0.0.1:{collector_port}", "DRILL_SHUTDOWN": str(shutdown_timeout)})
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(rate), str(duration)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert child.stdout is not None
        outage_start = duration / 2 - outage / 2
        started = time.monotonic()
        summary: dict[str, Any] = {}
        stopped = restarted = False
        for line in child.stdout:
            data = json.loads(line)
            elapsed = time.monotonic() - started
            if scenario == "outage" and collector is not None and not stopped and elapsed >= outage_start:
                collector.terminate()
                collector.wait(30)
                stopped = True
            if scenario == "outage" and stopped and not restarted and elapsed >= outage_start + outage:
                collector = _collector(binary, config, work / "otelcol.log")
                _wait_port(collector_port)
                restarted = True
            if "requests" in data:
                summary = data
                break
        exit_started = time.monotonic()
        child.wait(120)
        exit_s = time.monotonic() - exit_started
        if scenario == "outage" and collector is not None:
            downstream.wait_for(lambda: len(downstream.spans()) >= summary.get("ended", 0), timeout=30)
            collector.terminate()
            collector.wait(30)
        if blackhole is not None:
            blackhole.stop()
        spans = {s.span_id for s in downstream.spans()}
        logs = downstream.log_records()
        result.update(summary)
        result.update({
            "received_spans": len(spans), "duplicate_spans": len(downstream.spans()) - len(spans), "received_logs": len(logs),
            "lost_spans": summary.get("ended", 0) - len(spans), "exit_after_shutdown_s": round(exit_s, 2),
            "outage_s": outage if scenario == "outage" else None,
        })
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["outage", "blackhole", "closed", "all"], default="all")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the Collector is down (outage scenario)")
    parser.add_argument("--shutdown-timeout", type=float, default=5.0)
    args = parser.parse_args()
    scenarios = ["outage", "blackhole", "closed"] if args.scenario == "all" else [args.scenario]
    for scenario in scenarios:
        duration = args.duration if scenario == "outage" else min(args.duration, 10.0)
        result = run(scenario, rate=args.rate, duration=duration, outage=args.outage, shutdown_timeout=args.shutdown_timeout)
        print(json.dumps(result), flush=True)
        print(
            f"{scenario:9s} requests {result.get('requests')}, spans ended {result.get('ended')}, received {result['received_spans']} "
            f"(+{result['duplicate_spans']} duplicates), lost {result['lost_spans']}, logs received {result['received_logs']}, "
            f"dropped() {result.get('dropped')}, RSS growth {result.get('rss_growth_mb')} MB, shutdown {result.get('shutdown_s')} s, "
            f"exit {result['exit_after_shutdown_s']} s after shutdown",
            flush=True,
        )


if __name__ == "__main__":
    main()
