"""``otel-kit doctor``: prove a span, a metric and a log travel from ``setup()`` to the backends.

Every backend is asked first whether it answers at all: with one down the doctor says which, at
which URL, in one line each, and exits 4 at once instead of waiting for probes that cannot arrive.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
import urllib.parse
import uuid
from typing import Any

from otel_kit.cli import backends
from otel_kit.cli.errors import EXIT_UNREACHABLE


def _collector_unreachable(endpoint: str) -> str | None:
    parts = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4317), timeout=3):
            return None
    except OSError as exc:
        return str(exc.strerror or exc).lower()


def unreachable(*, endpoint: str, jaeger: str, prometheus: str, loki: str) -> list[tuple[str, str, str, str]]:
    """(backend, URL, option, reason) for every backend that does not answer."""
    probes = [
        ("the Collector", endpoint, "--endpoint", lambda: _collector_unreachable(endpoint)),
        ("Jaeger", jaeger, "--jaeger", lambda: backends.reachable(f"{jaeger}/api/services")),
        ("Prometheus", prometheus, "--prometheus", lambda: backends.reachable(f"{prometheus}/-/ready")),
        ("Loki", loki, "--loki", lambda: backends.reachable(f"{loki}/ready")),
    ]
    found = []
    for name, url, option, probe in probes:
        reason = probe()
        if reason is not None:
            found.append((name, url, option, reason))
    return found


def run(*, endpoint: str, jaeger: str, prometheus: str, loki: str, timeout: float = 60.0, as_json: bool = False, stack_hint: str = "") -> int:
    down = unreachable(endpoint=endpoint, jaeger=jaeger, prometheus=prometheus, loki=loki)
    if down:
        if as_json:
            print(json.dumps({"ok": False, "unreachable": [{"backend": n, "url": u, "reason": r} for n, u, _, r in down]}, indent=2))
        for name, url, option, reason in down:
            print(
                f"otel-kit doctor: cannot reach {name} at {url} ({reason}): start the local stack with `otel-kit stack up{stack_hint}`, "
                f"or pass {option} URL",
                file=sys.stderr,
            )
        return EXIT_UNREACHABLE

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

    checks: dict[str, tuple[str, Any]] = {
        "trace (Jaeger)": (jaeger, lambda: backends.jaeger_trace(jaeger, trace_id)),
        "metric (Prometheus)": (prometheus, lambda: backends.prometheus_query(prometheus, f'otel_kit_doctor_probes_total{{job="{service}"}}')),
        "log (Loki)": (loki, lambda: backends.loki_query(loki, f'{{service_name="{service}"}} |= "{probe_id}"', since_seconds=600)),
    }
    results = {name: bool(backends.wait_for(probe, timeout=timeout)) for name, (_, probe) in checks.items()}
    ok = all(results.values())
    if as_json:
        print(json.dumps({
            "ok": ok, "probe_id": probe_id, "service": service, "trace_id": trace_id, "endpoint": endpoint,
            "checks": [{"check": name, "url": url, "arrived": results[name]} for name, (url, _) in checks.items()],
        }, indent=2))
        return 0 if ok else 1
    width = max(len(name) for name in checks)
    print(f"otel-kit doctor: probe {probe_id} (service {service}, trace {trace_id}) via {endpoint}")
    for name, (url, _) in checks.items():
        print(f"  {name.ljust(width)}  {'arrived' if results[name] else 'MISSING'}  {url}")
    return 0 if ok else 1
