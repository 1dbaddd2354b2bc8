"""``otel-kit doctor``: prove a span, a metric and a log travel from ``setup()`` to the backends."""

from __future__ import annotations

import logging
import time
import uuid

from otel_kit.cli import backends


def run(*, endpoint: str, jaeger: str, prometheus: str, loki: str, timeout: float = 60.0) -> int:
    import otel_kit

    otel_kit.shutdown()
    probe_id = uuid.uuid4().hex[:12]
    service = f"otel-kit-doctor-{probe_id}"
    telemetry = otel_kit.setup(
        service, endpoint=endpoint, protocol="grpc", metric_interval=1.0, log_format="none",
        instrument=["logging"], system_metrics=False, security=False, health=False, slow_queries=False,
    )
    counter = otel_kit.counter("otel_kit.doctor.probes", description="Probe metric sent by otel-kit doctor")
    with telemetry.tracer.start_as_current_span("otel-kit doctor probe", attributes={"probe.id": probe_id}) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        counter.add(1, {"probe.id": probe_id})
        logging.getLogger("otel_kit_doctor").warning("otel-kit doctor probe %s", probe_id)
    time.sleep(1.5)
    telemetry.force_flush(10)
    telemetry.shutdown(10)

    checks = {
        "trace (Jaeger)": (jaeger, lambda: backends.jaeger_trace(jaeger, trace_id)),
        "metric (Prometheus)": (prometheus, lambda: backends.prometheus_query(prometheus, f'otel_kit_doctor_probes_total{{job="{service}"}}')),
        "log (Loki)": (loki, lambda: backends.loki_query(loki, f'{{service_name="{service}"}} |= "{probe_id}"', since_seconds=600)),
    }
    results = {name: bool(backends.wait_for(probe, timeout=timeout)) for name, (_, probe) in checks.items()}
    width = max(len(name) for name in checks)
    print(f"otel-kit doctor: probe {probe_id} (service {service}, trace {trace_id}) via {endpoint}")
    for name, (url, _) in checks.items():
        print(f"  {name.ljust(width)}  {'arrived' if results[name] else 'MISSING'}  {url}")
    return 0 if all(results.values()) else 1
