"""The scale-out tier as a cluster: two agents, two gateways (otel_kit.cli.stack.scale) beside the e2e stack.

Traces are built as OTLP requests so every keep/drop decision can be recomputed here: each trace
has two spans from a front service (sent to agent-1) and two from a back service (sent to
agent-2), so no agent ever sees a whole trace, and the policies need both halves.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from otel_kit.cli import backends

pytestmark = pytest.mark.e2e
TIMEOUT = 90.0
# Default scale ports + 20000: beside a developer's own `--topology scale` and the e2e stack's ports.
PORT_OFFSET = 20000

# --- traffic: planned traces and the decisions the gateway policies must reach -------------------

KINDS = ("error", "slow", "slow_query_event", "slow_query", "n_plus_one", "fast_query", "normal")
# Shares of a mix (the rest is normal): kept by a policy, except fast_query (a query under the threshold).
MIX = {"error": 0.08, "slow": 0.04, "slow_query_event": 0.04, "slow_query": 0.04, "n_plus_one": 0.04, "fast_query": 0.06}
SPANS_PER_TRACE = 4
BASE_RATE_PERCENT = 10.0
# The gateways' settings in these tests: a slow trace is >= 2 s, so a slow query (>= 500 ms, the
# SDK's default OTEL_KIT_SLOW_QUERY_MS, which the gateways read too) is kept by its own policy.
GATEWAY_SETTINGS = {"TAIL_SAMPLING_SLOW_MS": "2000", "TAIL_SAMPLING_PERCENT": "10"}
_HASH_SALT = b"default-hash-seed"  # the probabilistic policy's default salt
_THRESHOLD = math.floor(Fraction(2**64 - 1) * Fraction(BASE_RATE_PERCENT / 100))


def fnv1a64(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def base_rate_keeps(trace_id: bytes) -> bool:
    """The probabilistic policy's verdict: FNV-1a of salt + trace id at most the threshold."""
    return fnv1a64(_HASH_SALT + trace_id) <= _THRESHOLD


@dataclass(frozen=True)
class PlannedTrace:
    trace_id: bytes
    kind: str

    @property
    def hex(self) -> str:
        return self.trace_id.hex()

    @property
    def policy_keeps(self) -> bool:
        """Kept whatever the base rate says: an error, slow trace, slow query or N+1."""
        return self.kind not in ("normal", "fast_query")

    @property
    def kept(self) -> bool:
        return self.policy_keeps or base_rate_keeps(self.trace_id)


def plan(count: int, seed: int, mix: dict[str, float] = MIX) -> list[PlannedTrace]:
    """``count`` traces with fresh ids; kinds in the ``mix`` proportions, shuffled."""
    rng = random.Random(seed)
    kinds: list[str] = []
    for kind, share in mix.items():
        kinds += [kind] * round(count * share)
    kinds += ["normal"] * (count - len(kinds))
    rng.shuffle(kinds)
    return [PlannedTrace(rng.randbytes(16), kind) for kind in kinds]


def _attribute(key: str, value: Any) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def trace_requests(traces: Iterable[PlannedTrace], front: str, back: str, now_ns: int | None = None) -> tuple[Any, Any]:
    """Two OTLP ExportTraceServiceRequests: the front halves (for agent-1) and the back halves (agent-2).

    front: SERVER ``GET /orders`` (root) > INTERNAL ``render``; back: SERVER ``GET /stock`` (child of
    render) > CLIENT ``SELECT stock`` with the query text. Durations in ms by kind: the root lasts
    2,500 for slow, 700 around a 600 ms query for slow_query, 450 around a 400 ms query for fast_query,
    otherwise 40. The error is set on the back server span, the N+1 mark on the root, the
    ``db.query.slow`` event (as the SDK's analysis adds it) on a 30 ms query."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

    end = now_ns if now_ns is not None else time.time_ns()
    front_spans: list[Any] = []
    back_spans: list[Any] = []
    for index, trace in enumerate(traces):
        root_ms, query_ms = {"slow": (2500, 5), "slow_query": (700, 600), "fast_query": (450, 400)}.get(trace.kind, (40, 5))
        if trace.kind == "slow_query_event":
            query_ms = 30
        start = end - root_ms * 1_000_000 - index * 1000
        ids = [bytes([n]) + trace.trace_id[:7] for n in range(1, 5)]
        root = Span(
            trace_id=trace.trace_id, span_id=ids[0], name="GET /orders", kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start, end_time_unix_nano=start + root_ms * 1_000_000,
            attributes=[_attribute("http.request.method", "GET"), _attribute("http.route", "/orders")],
        )
        if trace.kind == "n_plus_one":
            root.attributes.append(_attribute("otel_kit.n_plus_one", True))
        render = Span(
            trace_id=trace.trace_id, span_id=ids[1], parent_span_id=ids[0], name="render", kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=start + 1_000_000, end_time_unix_nano=start + (root_ms - 1) * 1_000_000,
        )
        stock = Span(
            trace_id=trace.trace_id, span_id=ids[2], parent_span_id=ids[1], name="GET /stock", kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start + 2_000_000, end_time_unix_nano=start + (query_ms + 4) * 1_000_000,
            attributes=[_attribute("http.request.method", "GET"), _attribute("http.route", "/stock")],
        )
        if trace.kind == "error":
            stock.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="stock service failed"))
        query = Span(
            trace_id=trace.trace_id, span_id=ids[3], parent_span_id=ids[2], name="SELECT stock", kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start + 3_000_000, end_time_unix_nano=start + (3 + query_ms) * 1_000_000,
            attributes=[_attribute("db.system.name", "sqlite"), _attribute("db.query.text", "SELECT qty FROM stock WHERE id = ?")],
        )
        if trace.kind == "slow_query_event":
            event = query.events.add()
            event.name, event.time_unix_nano = "db.query.slow", query.end_time_unix_nano
            event.attributes.append(_attribute("db.query.slow_threshold_ms", 20))
        front_spans += [root, render]
        back_spans += [stock, query]

    def request(service: str, spans: list[Any]) -> Any:
        return ExportTraceServiceRequest(resource_spans=[
            ResourceSpans(resource=Resource(attributes=[_attribute("service.name", service)]), scope_spans=[ScopeSpans(spans=spans)])
        ])

    return request(front, front_spans), request(back, back_spans)


class Sender:
    """OTLP/gRPC clients for the two agents."""

    def __init__(self, endpoints: list[str]) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

        self._channels = [grpc.insecure_channel(endpoint.removeprefix("http://")) for endpoint in endpoints]
        self._stubs = [TraceServiceStub(channel) for channel in self._channels]

    def send(self, traces: list[PlannedTrace], front: str, back: str, chunk: int = 200) -> None:
        """Front halves to the first agent, back halves to the second, ``chunk`` traces a request."""
        for offset in range(0, len(traces), chunk):
            requests = trace_requests(traces[offset:offset + chunk], front, back)
            for stub, request in zip(self._stubs, requests, strict=True):
                stub.Export(request, timeout=30)

    def close(self) -> None:
        for channel in self._channels:
            channel.close()


def _chunks(items: list[PlannedTrace], size: int) -> Iterator[list[PlannedTrace]]:
    for offset in range(0, len(items), size):
        yield items[offset:offset + size]


def scrape(url: str) -> dict[str, float]:
    """A Collector's /metrics as {'name{labels}': value} (sums of series that differ only in order)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        try:
            out[series] = out.get(series, 0.0) + float(value)
        except ValueError:
            continue
    return out


def metric_sum(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of every series of ``name`` whose labels include ``labels``."""
    total = 0.0
    for series, value in samples.items():
        base, _, rest = series.partition("{")
        if base != name:
            continue
        if all(f'{key}="{wanted}"' in rest for key, wanted in labels.items()):
            total += value
    return total


def names_at(url: str) -> set[str]:
    """The metric names a /metrics endpoint exposes."""
    return {series.partition("{")[0] for series in scrape(url)}


def collect(jaeger_url: str, services: Iterable[str]) -> dict[str, list[str]]:
    """trace id -> span ids (with repeats, so duplicates show) of every trace Jaeger has for ``services``."""
    spans: dict[str, dict[str, int]] = {}
    for service in services:
        for trace in backends.jaeger_traces(jaeger_url, service, "1h", 10_000):
            counted: dict[str, int] = {}
            for span in trace["spans"]:
                counted[span["spanID"]] = counted.get(span["spanID"], 0) + 1
            merged = spans.setdefault(trace["traceID"], {})
            for span_id, count in counted.items():  # a trace is returned once per service it has
                merged[span_id] = max(merged.get(span_id, 0), count)
    return {trace_id: [span_id for span_id, count in counted.items() for _ in range(count)] for trace_id, counted in spans.items()}


def settle(probe: Callable[[], dict[str, list[str]]], minimum: float, quiet: float = 5.0, timeout: float = TIMEOUT) -> dict[str, list[str]]:
    """Poll Jaeger until ``minimum`` seconds passed and the spans found stopped changing for ``quiet`` seconds."""
    started = time.monotonic()
    last: dict[str, list[str]] = {}
    changed = started
    while time.monotonic() - started < timeout:
        current = probe()
        if sum(map(len, current.values())) != sum(map(len, last.values())):
            last, changed = current, time.monotonic()
        elif time.monotonic() - started >= minimum and time.monotonic() - changed >= quiet:
            break
        time.sleep(1.5)
    return last


@dataclass
class Outcome:
    """What Jaeger holds for a planned run, trace by trace."""

    kept: list[PlannedTrace]
    complete: list[PlannedTrace]
    partial: list[PlannedTrace]
    missing: list[PlannedTrace]
    unexpected: list[str]  # trace ids Jaeger has that the policies would not keep
    duplicated: list[str]  # trace ids with a span stored twice

    @classmethod
    def of(cls, planned: list[PlannedTrace], found: dict[str, list[str]]) -> Outcome:
        kept = [t for t in planned if t.kept]
        spans = {t.hex: found.get(t.hex, []) for t in kept}
        return cls(
            kept=kept,
            complete=[t for t in kept if len(set(spans[t.hex])) == SPANS_PER_TRACE],
            partial=[t for t in kept if 0 < len(set(spans[t.hex])) < SPANS_PER_TRACE],
            missing=[t for t in kept if not spans[t.hex]],
            unexpected=sorted(set(found) - {t.hex for t in kept}),
            duplicated=sorted(trace_id for trace_id, ids in found.items() if len(ids) != len(set(ids))),
        )

    def summary(self) -> str:
        return (f"{len(self.kept)} to keep: {len(self.complete)} complete, {len(self.partial)} partial, {len(self.missing)} missing; "
                f"{len(self.unexpected)} kept against the policies, {len(self.duplicated)} with duplicate spans")


def _unavailable(message: str) -> None:
    """As tests/conftest.py: under CI the servers are required (fail); elsewhere skip with the reason."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"the scale-out tier is required under CI=true: {message}", pytrace=False)
    pytest.skip(f"scale-out tier unavailable: {message}")


@pytest.fixture(scope="module")
def tier(stack: Any) -> Iterator[Any]:
    """Two agents and two gateways on their own ports and run directory, sending to the e2e stack's backends."""
    from otel_kit.cli.stack import StackError
    from otel_kit.cli.stack.scale import Backends, ScaleTopology, offset_ports

    topology = ScaleTopology(name="e2e-scale", ports=offset_ports(PORT_OFFSET), backends=Backends.of_stack(stack), settings=GATEWAY_SETTINGS)
    topology.down()
    try:
        topology.up(fresh=True)
    except StackError as exc:
        topology.down()
        _unavailable(str(exc))
    yield topology
    topology.down()


def _run_names() -> tuple[str, str, int]:
    run = uuid.uuid4().hex[:8]
    return f"scale-front-{run}", f"scale-back-{run}", int(run, 16)


def _gateway_totals(tier: Any, name: str) -> dict[str, float]:
    return {i.name: metric_sum(scrape(i.metrics_url), name) for i in tier.instances() if i.role == "gateway"}


def _traffic(tier: Any, planned: list[PlannedTrace], front: str, back: str, per_second: int,
             action_at: float | None = None, action: Callable[[], None] | None = None) -> tuple[dict[str, float], float, float]:
    """Send ``planned`` at ``per_second`` in tenths of a second; run ``action`` after ``action_at`` seconds.

    Returns when each trace was sent (time.monotonic()), and when the action started and ended."""
    sender = Sender(tier.agent_endpoints())
    sent: dict[str, float] = {}
    step = max(1, per_second // 10)
    errors: list[BaseException] = []

    def load() -> None:
        try:
            for chunk in _chunks(planned, step):
                began = time.monotonic()
                sender.send(chunk, front, back)
                sent.update((t.hex, began) for t in chunk)
                time.sleep(max(0.0, 0.1 - (time.monotonic() - began)))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    started = time.monotonic()
    thread.start()
    action_start = action_end = float("nan")
    if action is not None and action_at is not None:
        time.sleep(max(0.0, action_at - (time.monotonic() - started)))
        action_start = time.monotonic()
        action()
        action_end = time.monotonic()
    thread.join(timeout=len(planned) / per_second + 120)
    sender.close()
    assert not errors, f"sending failed: {errors[0]!r}"
    return sent, action_start, action_end


# --- the tests --------------------------------------------------------------------------------------------------


def test_tier_runs_beside_the_single_node_stack(stack: Any, tier: Any) -> None:
    """Four instances up beside the single-node stack: no shared port, no shared queue directory, each under the tier's run directory."""
    rows = tier.status()
    assert [r["state"] for r in rows] == ["ready"] * 4, rows
    tier_ports = {port for instance in tier.instances() for port in instance.ports.values()}
    assert not tier_ports & set(stack.ports.values())
    directories = [Path(i.environment["OTELCOL_STORAGE_DIR"]) for i in tier.instances()]
    # Under the stack home (~/.cache/otel-kit by default, never a shared /tmp path): the run directory owns them.
    assert len(set(directories)) == 4 and all(d.is_dir() and d.is_relative_to(tier.run_dir) for d in directories)
    assert not any(d.is_relative_to(stack.run_dir) for d in directories)
    # the single-node Collector keeps working while the tier runs
    front, back, seed = _run_names()
    planned = plan(5, seed, {"error": 1.0})
    sender = Sender([stack.otlp_grpc, stack.otlp_grpc])
    sender.send(planned, front, back)
    sender.close()
    found = backends.wait_for(lambda: len(collect(stack.jaeger_url, [front])) == 5 or None, TIMEOUT)
    assert found, "the single-node Collector did not deliver while the tier ran"


def test_every_decision_is_the_policies_and_each_trace_is_whole_at_one_gateway(stack: Any, tier: Any) -> None:
    """1,200 traces split over both agents: kept exactly as the policies say, complete, no duplicates, one gateway each."""
    front, back, seed = _run_names()
    planned = plan(1200, seed)
    new_before = _gateway_totals(tier, "otelcol_processor_tail_sampling_new_trace_id_received")
    early_before = _gateway_totals(tier, "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early")
    agents_before = {i.name: metric_sum(scrape(i.metrics_url), "otelcol_receiver_accepted_spans") for i in tier.instances() if i.role == "agent"}
    sender = Sender(tier.agent_endpoints())
    sender.send(planned, front, back)
    sender.close()
    expected = sum(t.kept for t in planned)
    found = backends.wait_for(lambda: (f := collect(stack.jaeger_url, [front, back])) and sum(map(len, f.values())) >= expected * SPANS_PER_TRACE and f, TIMEOUT)
    time.sleep(3)  # anything kept against the policies would arrive with the rest
    outcome = Outcome.of(planned, collect(stack.jaeger_url, [front, back]))
    assert found and len(outcome.complete) == len(outcome.kept), outcome.summary()
    assert outcome.unexpected == [] and outcome.duplicated == [], outcome.summary()
    # the base rate: the share of traces no policy keeps, against the binomial spread around 10 %
    rest = [t for t in planned if not t.policy_keeps]
    share = sum(base_rate_keeps(t.trace_id) for t in rest) / len(rest)
    spread = math.sqrt(0.1 * 0.9 / len(rest))
    assert abs(share - 0.1) <= 4 * spread, f"base rate {share:.3f} for {len(rest)} traces"
    # each trace was new at exactly one gateway (a split trace would count at both), and both took a share
    new = {name: value - new_before[name] for name, value in _gateway_totals(tier, "otelcol_processor_tail_sampling_new_trace_id_received").items()}
    assert sum(new.values()) == len(planned), new
    assert min(new.values()) >= 0.35 * len(planned), new
    early = _gateway_totals(tier, "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early")
    assert early == early_before
    # the agents each saw half of every trace, never a whole one
    accepted = {i.name: metric_sum(scrape(i.metrics_url), "otelcol_receiver_accepted_spans") - agents_before[i.name] for i in tier.instances() if i.role == "agent"}
    assert accepted == {"agent-1": 2 * len(planned), "agent-2": 2 * len(planned)}


def test_graceful_gateway_restart_leaves_at_most_one_percent_partial(stack: Any, tier: Any) -> None:
    """Steady traffic while gateway-1 restarts (SIGTERM): every trace a policy keeps is there, <= 1 % of kept traces partial."""
    front, back, seed = _run_names()
    planned = plan(960, seed)

    def restart() -> None:
        tier.stop("gateway-1")
        tier.start("gateway-1")

    sent, began, ended = _traffic(tier, planned, front, back, 40, action_at=12.0, action=restart)
    outcome = Outcome.of(planned, settle(lambda: collect(stack.jaeger_url, [front, back]), minimum=14.0))
    print(f"\ngraceful restart of gateway-1 ({ended - began:.1f} s): {outcome.summary()}")
    assert [t for t in outcome.missing if t.policy_keeps] == [], outcome.summary()
    assert len(outcome.partial) <= 0.01 * len(outcome.kept), outcome.summary()
    assert outcome.duplicated == [], outcome.summary()
    # a partial trace is one whose spans straddled the restart
    assert all(began - 3 <= sent[t.hex] <= ended + 1 for t in outcome.partial), outcome.summary()


def test_killed_gateway_loses_its_undecided_traces_and_says_so(stack: Any, tier: Any, record_property: Callable[[str, object], None]) -> None:
    """SIGKILL gateway-2 under traffic: the loss is measured and reported; it is confined to the traces awaiting its
    decision, and everything sent after the kill arrives once it is back."""
    front, back, seed = _run_names()
    planned = plan(600, seed)
    failures_before = sum(metric_sum(scrape(i.metrics_url), "otelcol_loadbalancer_backend_outcome", success="false")
                          for i in tier.instances() if i.role == "agent")

    def crash() -> None:
        tier.kill("gateway-2")
        time.sleep(3)
        tier.start("gateway-2")

    sent, killed, _restarted = _traffic(tier, planned, front, back, 50, action_at=8.0, action=crash)
    outcome = Outcome.of(planned, settle(lambda: collect(stack.jaeger_url, [front, back]), minimum=14.0))
    lost = [t for t in outcome.missing + outcome.partial if t.policy_keeps]
    report = f"SIGKILL of gateway-2: {outcome.summary()}; {len(lost)} error/slow/N+1 traces lost or partial"
    print("\n" + report)
    record_property("killed_gateway", report)
    # reported, not hidden: the agents saw the failed deliveries, and the loss is what the README says
    failures = sum(metric_sum(scrape(i.metrics_url), "otelcol_loadbalancer_backend_outcome", success="false")
                   for i in tier.instances() if i.role == "agent")
    assert failures > failures_before
    assert outcome.missing, "a killed gateway loses the traces awaiting its decision; none lost means the kill missed"
    # only traces whose first spans reached gateway-2 within decision_wait (10 s, + 2 s of batching) before the kill
    assert all(killed - 12.5 <= sent[t.hex] <= killed + 0.5 for t in outcome.missing + outcome.partial), report
    assert len(outcome.missing) <= 0.7 * sum(killed - 12.5 <= sent[t.hex] <= killed for t in outcome.kept), report
    # what was sent while it was down waited in the agents' queues and arrived whole
    after = [t for t in outcome.kept if sent[t.hex] > killed + 0.5]
    assert after and all(t in outcome.complete for t in after), report
    assert outcome.unexpected == [], report


# --- the _total class of bug: every name a rule, dashboard panel or CLI query reads exists in real output ----------

_PROBE_CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{receiver}"}}
exporters:
  otlp_grpc/nowhere:
    endpoint: "127.0.0.1:{nowhere}"
    tls: {{insecure: true}}
    timeout: 1s
    retry_on_failure: {{enabled: false}}
    sending_queue: {{enabled: false}}
service:
  telemetry:
    metrics:
      level: detailed
      readers: [{{pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {metrics}}}}}}}}}]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc/nowhere]}}
    metrics: {{receivers: [otlp], exporters: [otlp_grpc/nowhere]}}
    logs: {{receivers: [otlp], exporters: [otlp_grpc/nowhere]}}
"""


def _free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _failing_collector_names(binary: Path, directory: Path) -> set[str]:
    """A real Collector whose exporter cannot reach anything, after one span, one metric point and one log
    record went through it: the failure counters exist only once something failed."""
    import grpc
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import MetricsServiceStub
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics

    receiver, nowhere, metrics = _free_ports(3)
    config = directory / "failing-collector.yaml"
    config.write_text(_PROBE_CONFIG.format(receiver=receiver, nowhere=nowhere, metrics=metrics))
    with (directory / "failing-collector.log").open("wb") as log:
        process = subprocess.Popen([str(binary), f"--config={config}"], cwd=directory, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert backends.wait_for(lambda: names_at(f"http://127.0.0.1:{metrics}/metrics"), 30), "the failing Collector did not start"
        channel = grpc.insecure_channel(f"127.0.0.1:{receiver}")
        front, _back = trace_requests(plan(1, 1), "probe", "probe")
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

        for stub, request in (
            (TraceServiceStub(channel), front),
            (MetricsServiceStub(channel), ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[
                Metric(name="probe", gauge=Gauge(data_points=[NumberDataPoint(as_int=1, time_unix_nano=time.time_ns())]))])])])),
            (LogsServiceStub(channel), ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[
                LogRecord(time_unix_nano=time.time_ns())])])])),
        ):
            with pytest.raises(grpc.RpcError):  # the exporter's failure reaches the sender
                stub.Export(request, timeout=10)  # type: ignore[attr-defined]
        channel.close()
        found = backends.wait_for(lambda: (n := names_at(f"http://127.0.0.1:{metrics}/metrics")) and "otelcol_exporter_send_failed_log_records" in n and n, 20)
        return found or names_at(f"http://127.0.0.1:{metrics}/metrics")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def _produce_sdk_families(stack: Any) -> None:
    """One otel-kit service through the single-node stack with every family the rules and dashboard read:
    HTTP, 5xx, slow query, N+1, security, AI (priced, unpriced, streamed, rate-limited), health, system,
    the SDK's own metrics; then `otel-kit doctor` for the CLI's probe metric."""
    import openai
    from fastapi import FastAPI, HTTPException
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, event, text
    from sqlalchemy.pool import StaticPool

    import otel_kit
    from otel_kit.cli import main
    from otel_kit.testing_ai import FakeLLMServer

    service = f"e2e-names-{uuid.uuid4().hex[:8]}"
    telemetry = otel_kit.setup(service, endpoint=stack.otlp_grpc, metric_interval=1.0, log_format="none", system_metrics=True, slow_query_ms=50)
    try:
        engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def add_sleep(connection: Any, _: Any) -> None:
            connection.create_function("sleep_ms", 1, lambda ms: time.sleep(ms / 1000) or ms)

        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY)"))
        app = FastAPI()
        app.include_router(otel_kit.health_router())

        @app.get("/report")
        def report() -> dict[str, int]:
            with engine.connect() as connection:
                connection.execute(text("SELECT sleep_ms(80)")).all()
                for item in range(12):
                    connection.execute(text("SELECT id FROM items WHERE id = :id"), {"id": item}).all()
            return {"ok": 1}

        @app.get("/fail")
        def fail() -> None:
            raise HTTPException(500, "broken")

        client = TestClient(app, raise_server_exceptions=False)
        client.get("/report")
        client.get("/fail")
        client.get("/report", params={"q": "' UNION SELECT password FROM users--"})
        client.get("/health/ready")
        for _ in range(6):
            otel_kit.security.auth_attempt("mallory", "203.0.113.9", False, reason="bad password")
        logging.getLogger("e2e.names").warning("names probe")
        with FakeLLMServer() as server:
            llm = openai.OpenAI(api_key="test", base_url=server.openai_url, max_retries=1)
            llm.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            llm.chat.completions.create(model="e2e-unpriced-model", messages=[{"role": "user", "content": "hi"}])
            for _chunk in llm.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
                                                      stream_options={"include_usage": True}):
                pass
            server.fail(429, times=1)
            llm.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        time.sleep(2.5)
        telemetry.force_flush(10)
    finally:
        telemetry.shutdown(10)
    code = main.main(["doctor", "--endpoint", stack.otlp_grpc, "--jaeger", stack.jaeger_url, "--prometheus", stack.prometheus_url, "--loki", stack.loki_url])
    assert code == 0


def test_every_metric_name_in_rules_dashboard_and_cli_exists_in_real_output(stack: Any, tier: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Collector names against real Collectors' /metrics (a failing one included) and what Prometheus scraped;
    every other name against Prometheus after real services sent through the stack."""
    from otel_kit.cli.stack import home
    from tests.test_collector_config import used_metric_names

    used = used_metric_names()
    # traffic through the tier first: a component's counters appear once it handled something
    front, back, seed = _run_names()
    sender = Sender(tier.agent_endpoints())
    sender.send(plan(20, seed), front, back)
    sender.close()
    agents = [i.metrics_url for i in tier.instances() if i.role == "agent"]
    assert backends.wait_for(lambda: all("otelcol_loadbalancer_backend_outcome" in names_at(url) for url in agents), 30)
    collectors = {f"http://127.0.0.1:{stack.ports['collector_metrics']}/metrics"} | {i.metrics_url for i in tier.instances()}
    scraped = set().union(*(names_at(url) for url in collectors))
    exposed = scraped | _failing_collector_names(home() / "bin" / "otelcol", tmp_path)
    unknown = {name: sorted(used[name]) for name in used if name.startswith("otelcol_") and name not in exposed}
    assert unknown == {}, f"not in any real Collector's /metrics: {json.dumps(unknown, indent=1)}"
    # the check itself can fail: the names the pipeline alerts once used are not there
    assert "otelcol_receiver_refused_spans" in exposed and "otelcol_receiver_refused_spans_total" not in exposed

    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")  # SDKDroppingSpans reads these (see its rule)
    _produce_sdk_families(stack)
    wanted = {name for name in used if not name.startswith("otelcol_")} | {name for name in used if name in scraped}

    def prometheus_names() -> set[str]:
        return set(backends.get_json(f"{stack.prometheus_url}/api/v1/label/__name__/values", backend="Prometheus")["data"])

    # the tier's targets are read every 5 s and scraped every 15 s; remote write of the SDK's metrics takes seconds
    backends.wait_for(lambda: wanted <= prometheus_names(), TIMEOUT, interval=3.0)
    missing = {name: sorted(used[name]) for name in sorted(wanted - prometheus_names())}
    assert missing == {}, f"not in Prometheus after an e2e run: {json.dumps(missing, indent=1)}"


def test_stack_up_topology_scale_from_the_cli(stack_root: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`otel-kit stack up --topology scale` starts the tier in front of a named stack; a span sent to an agent reaches its Jaeger; `down` stops both."""
    import otel_kit
    from otel_kit.cli.main import main
    from otel_kit.cli.stack import Stack, home
    from otel_kit.cli.stack.scale import ScaleTopology

    service = f"topo-{uuid.uuid4().hex[:8]}"
    assert main(["stack", "up", "--name", "topo", "--port-offset", "700", "--fresh", "--topology", "scale"]) == 0
    try:
        out = capsys.readouterr().out
        assert "scale-out tier topo-scale" in out
        tier = ScaleTopology(root=home(), name="topo-scale")
        assert [row["state"] for row in tier.status()] == ["ready"] * 4
        assert main(["stack", "status", "--name", "topo", "--topology", "scale"]) == 0
        telemetry = otel_kit.setup(
            service, endpoint=f"http://{tier.instances()[0].otlp_grpc}", metrics=False, logs=False, system_metrics=False, log_format="none",
        )
        from opentelemetry.trace import Status, StatusCode

        with telemetry.tracer.start_as_current_span("through-the-tier") as span:
            span.set_status(Status(StatusCode.ERROR, "kept by the gateways' error policy"))  # a plain span may be sampled out
        assert telemetry.force_flush(10)
        telemetry.shutdown(5)
        jaeger = Stack.load("topo", home()).jaeger_url
        assert backends.wait_for(lambda: backends.jaeger_traces(jaeger, service, "1h", 10) or None, 90), "the span did not reach the stack's Jaeger"
    finally:
        assert main(["stack", "down", "--name", "topo"]) == 0
    assert [row["state"] for row in ScaleTopology(root=home(), name="topo-scale").status()] == ["stopped"] * 4
