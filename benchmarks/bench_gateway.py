"""How many spans per second one gateway pair takes before a trace is dropped undecided.

Not a test and not timed by CI. It starts the shipped scale-out tier (two agents, two gateways,
``otel_kit.cli.stack.scale``) with the default tail-sampling sizing (or ``--traces-per-sec-setting``),
whose gateways send to sinks in this process that accept and discard (so Jaeger, Prometheus and
Loki are not what is measured). Load: traces of four spans, two through each agent, in a mix like
production (90 % plain, the rest errors, slow traces, slow queries and N+1), at rising rates, each
held for ``--step`` seconds. A step is sustained when the gateways dropped no trace before its
decision, no Collector refused data, and the agents' queues did not grow. It stops at the first
step that is not, and prints per step: spans/s offered and accepted, traces dropped early, the
agents' queue, the gateways' undecided traces and resident memory, and CPU seconds per second of
the four processes::

    python benchmarks/bench_gateway.py                      # default sizing, 8,000 spans/s steps
    python benchmarks/bench_gateway.py --traces-per-sec-setting 50 --start 800 --increment 800

The second form shrinks the buffer (num_traces = 100 x 50 per gateway) to see the sizing rule hold:
early drops should start near 9 x 50 = 450 new traces/s per gateway, 900 for the pair.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc
import psutil

from otel_kit.cli.stack import home
from otel_kit.cli.stack.scale import GATEWAYS, Backends, ScaleTopology, offset_ports
from tests.e2e.test_scale import metric_sum, plan, scrape, trace_requests

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
MIX = {"error": 0.03, "slow": 0.02, "slow_query_event": 0.02, "slow_query": 0.01, "n_plus_one": 0.02}
CHUNK = 250  # traces per pair of requests (1,000 spans)


class _Discard(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def sinks() -> tuple[Any, ThreadingHTTPServer, int, int]:
    """An OTLP/gRPC trace sink and an HTTP sink (remote write, Loki) that accept everything unread."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(lambda request, context: b"", request_deserializer=None, response_serializer=None)},
    )
    server.add_generic_rpc_handlers((handler,))
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    return server, http, grpc_port, http.server_address[1]


class Load:
    """Serialized template requests whose trace ids are replaced per send: a few µs per trace."""

    def __init__(self, endpoints: list[str]) -> None:
        traces = plan(CHUNK, 1, MIX)
        front, back = trace_requests(traces, "bench-front", "bench-back")
        self.templates = [bytearray(front.SerializeToString()), bytearray(back.SerializeToString())]
        self.offsets = [[i for t in traces for i in _find_all(template, t.trace_id)] for template in self.templates]
        self.positions = [[next(j for j, t in enumerate(traces) if template[i:i + 16] == t.trace_id) for i in offsets]
                          for template, offsets in zip(self.templates, self.offsets, strict=True)]
        self.channels = [grpc.insecure_channel(e.removeprefix("http://")) for e in endpoints]
        self.calls = [c.unary_unary(EXPORT, request_serializer=None, response_deserializer=None) for c in self.channels]
        self.sent_traces = 0
        self.failed = 0

    def send_chunk(self) -> None:
        ids = [os.urandom(16) for _ in range(CHUNK)]
        for call, template, offsets, positions in zip(self.calls, self.templates, self.offsets, self.positions, strict=True):
            for offset, position in zip(offsets, positions, strict=True):
                template[offset:offset + 16] = ids[position]
            try:
                call(bytes(template), timeout=30)
            except grpc.RpcError:
                self.failed += 1
        self.sent_traces += CHUNK

    def run(self, traces_per_second: float, seconds: float) -> float:
        """Send at the rate for the time; returns the rate achieved (traces/s)."""
        start = time.monotonic()
        sent_before = self.sent_traces
        interval = CHUNK / traces_per_second
        next_at = start
        while time.monotonic() - start < seconds:
            self.send_chunk()
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        return (self.sent_traces - sent_before) / (time.monotonic() - start)


def _find_all(buffer: bytearray, needle: bytes) -> list[int]:
    found, at = [], buffer.find(needle)
    while at >= 0:
        found.append(at)
        at = buffer.find(needle, at + 1)
    return found


def snapshot(topology: ScaleTopology) -> dict[str, float]:
    values: dict[str, float] = {}
    for instance in topology.instances():
        samples = scrape(instance.metrics_url)
        if instance.role == "gateway":
            values["dropped_early"] = values.get("dropped_early", 0) + metric_sum(samples, "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early")
            values["undecided"] = values.get("undecided", 0) + metric_sum(samples, "otelcol_processor_tail_sampling_sampling_traces_on_memory")
            values["new_traces"] = values.get("new_traces", 0) + metric_sum(samples, "otelcol_processor_tail_sampling_new_trace_id_received")
        else:
            values["accepted_spans"] = values.get("accepted_spans", 0) + metric_sum(samples, "otelcol_receiver_accepted_spans")
            values["queue"] = values.get("queue", 0) + metric_sum(samples, "otelcol_exporter_queue_size", exporter="loadbalancing/traces")
        values["refused"] = values.get("refused", 0) + metric_sum(samples, "otelcol_receiver_refused_spans")
    return values


def cpu_seconds(topology: ScaleTopology) -> float:
    total = 0.0
    for row in topology.status():
        if row["pid"]:
            times = psutil.Process(row["pid"]).cpu_times()
            total += times.user + times.system
    return total


def gateway_rss_mb(topology: ScaleTopology) -> float:
    return sum(psutil.Process(row["pid"]).memory_info().rss for row in topology.status() if row["pid"] and row["role"] == "gateway") / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=int, default=8000, help="first step, spans/s into the tier (default 8000)")
    parser.add_argument("--increment", type=int, default=8000, help="spans/s added per step (default 8000)")
    parser.add_argument("--max", type=int, default=200_000, help="last step at most (default 200000)")
    parser.add_argument("--step", type=float, default=30.0, help="seconds per step (default 30; decision_wait is 10)")
    parser.add_argument("--traces-per-sec-setting", type=int, help="TAIL_SAMPLING_TRACES_PER_SEC for the gateways (default: the shipped default)")
    args = parser.parse_args()

    server, http, grpc_port, http_port = sinks()
    settings = {"TAIL_SAMPLING_TRACES_PER_SEC": str(args.traces_per_sec_setting)} if args.traces_per_sec_setting else {}
    backends = Backends(jaeger_otlp_grpc=f"127.0.0.1:{grpc_port}", prometheus_url=f"http://127.0.0.1:{http_port}", loki_url=f"http://127.0.0.1:{http_port}")
    topology = ScaleTopology(root=home(), name="bench-gateway", ports=offset_ports(10000), backends=backends, settings=settings)
    topology.down()
    topology.up(fresh=True)
    print(f"tier up in {topology.run_dir}; sizing: TAIL_SAMPLING_TRACES_PER_SEC={args.traces_per_sec_setting or 'default (1000)'} per gateway, "
          f"{len(GATEWAYS)} gateways; requests of {CHUNK} 4-span traces, {args.step:g} s per step", flush=True)
    print(f"{'offered':>9} {'sent':>9} {'accepted':>9} {'dropped':>8} {'refused':>8} {'queue':>7} {'undecided':>10} {'gateway':>8} {'cpu s/s':>8}  verdict")
    print(f"{'spans/s':>9} {'spans/s':>9} {'spans/s':>9} {'early':>8} {'spans':>8} {'agents':>7} {'traces':>10} {'RSS MB':>8} {'4 procs':>8}")
    load = Load(topology.agent_endpoints())
    sustained = 0
    try:
        rate = args.start
        while rate <= args.max:
            before, cpu_before, started = snapshot(topology), cpu_seconds(topology), time.monotonic()
            achieved = load.run(rate / 4, args.step)
            time.sleep(2)  # the last batches reach the gateways
            after, cpu_after = snapshot(topology), cpu_seconds(topology)
            elapsed = time.monotonic() - started
            dropped = after["dropped_early"] - before["dropped_early"]
            refused = after["refused"] - before["refused"]
            accepted = (after["accepted_spans"] - before["accepted_spans"]) / args.step
            growing = after["queue"] > max(50.0, 2 * before["queue"])
            behind = achieved * 4 < 0.95 * rate or load.failed
            ok = not (dropped or refused or growing or behind)
            verdict = "sustained" if ok else ", ".join(
                reason for reason, bad in (("traces dropped early", dropped), ("refused", refused), ("agent queue growing", growing),
                                           ("sender could not keep the rate", behind)) if bad
            )
            print(f"{rate:>9} {achieved * 4:>9.0f} {accepted:>9.0f} {dropped:>8.0f} {refused:>8.0f} {after['queue']:>7.0f} "
                  f"{after['undecided']:>10.0f} {gateway_rss_mb(topology):>8.0f} {(cpu_after - cpu_before) / elapsed:>8.2f}  {verdict}", flush=True)
            if not ok:
                break
            sustained = rate
            rate += args.increment
    finally:
        topology.down()
        server.stop(0)
        http.shutdown()
    print(f"sustained: {sustained} spans/s ({sustained // 4} new traces/s) through one gateway pair; "
          f"first failing step: {rate} spans/s" if rate <= args.max else f"sustained every step up to {sustained} spans/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
