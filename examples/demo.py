"""`make demo`: run the example shop under a short generated load against the local stack, then
print what was exported and what otel-kit concluded from it.

Three services share the shop's database (a SQLite file): the FastAPI shop (this process), its
Flask back office under gunicorn and the Celery worker that sends invoices (prefork, Redis
broker started here on a free port; `examples/backoffice.py`). Needs the stack (`otel-kit stack
up`, which `make demo` runs first) and redis-server (`make servers`). Takes about two minutes.
"""

from __future__ import annotations

import functools
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))

import otel_kit
from otel_kit.cli import ai_costs, backends
from otel_kit.cli.traces import render

ENDPOINT = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
JAEGER = os.environ.get("DEMO_JAEGER_URL", "http://127.0.0.1:16686")
PROMETHEUS = os.environ.get("DEMO_PROMETHEUS_URL", "http://127.0.0.1:9090")
LOKI = os.environ.get("DEMO_LOKI_URL", "http://127.0.0.1:3100")
ATTACKS = ["' OR '1'='1", "<script>alert(document.cookie)</script>", "../../../etc/passwd", "; cat /etc/passwd", "1 UNION SELECT password FROM users"]
BENIGN = ["Ada", "O'Brien", "Grace Hopper", "\"Linus\"", "50% off", "rock & roll"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_stack() -> None:
    for name, url in (("Jaeger", f"{JAEGER}/api/services"), ("Prometheus", f"{PROMETHEUS}/-/ready"), ("Loki", f"{LOKI}/ready")):
        try:
            httpx.get(url, timeout=3).raise_for_status()
        except httpx.HTTPError as exc:
            sys.exit(f"demo: {name} is not reachable at {url} ({exc}); start the stack with `otel-kit stack up` (make demo does this)")


def _load(base: str, rng: random.Random) -> dict[str, int]:
    sent: dict[str, int] = {}

    def hit(label: str, method: str, path: str, **kwargs: Any) -> None:
        client.request(method, base + path, **kwargs)
        sent[label] = sent.get(label, 0) + 1

    with httpx.Client(timeout=10) as client:
        # The load generator shares the process with the service: keep its client spans out.
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.uninstrument_client(client)
        for round_ in range(60):
            hit("orders", "POST", "/orders", json={"customer_id": rng.randint(1, 12), "total": round(rng.uniform(5, 400), 2)})
            hit("search", "GET", "/search", params={"q": rng.choice(BENIGN)})
            hit("flaky", "GET", "/flaky", params={"fail": str(rng.random() < 0.08).lower()})
            if round_ % 6 == 0:
                hit("customers (N+1)", "GET", "/customers")
            if round_ % 10 == 0:
                hit("assistant (AI)", "POST", "/assistant", params={"question": "Which shoes go with a blue suit?"})
            if round_ % 15 == 0:
                hit("slow report", "GET", "/reports/slow")
            if round_ % 4 == 0:
                hit("logins", "POST", "/login", json={"user": "ada", "password": "correct horse battery staple"})
        for _ in range(8):  # a brute-force burst from one address
            hit("brute-force logins", "POST", "/login", json={"user": "mallory", "password": rng.choice(["123456", "password", "qwerty"])})
        for attack in ATTACKS:
            hit("attack requests", "GET", "/search", params={"q": attack})
        for path in ("/health", "/health/ready"):
            hit("health", "GET", path)
    return sent


def main() -> int:
    _check_stack()
    with tempfile.TemporaryDirectory(prefix="otel-kit-demo-") as tmp:
        # one database for the shop, its back office and the worker
        os.environ["SHOP_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'shop.db'}"
        return _demo(Path(tmp))


def _backoffice(service: str, directory: Path) -> dict[str, Any] | None:
    import backoffice

    with backoffice.redis_server(directory) as broker:
        if broker is None:
            print("demo: redis-server is not installed (make servers); skipping the Flask back office and the Celery worker")
            return None
        print(f"demo: Flask back office (gunicorn) and Celery worker (Redis broker {broker}) on the same database ...")
        try:
            return backoffice.run(ENDPOINT, service, os.environ["SHOP_DATABASE_URL"], broker, directory)
        except (OSError, RuntimeError) as exc:
            # The FastAPI shop's report is still worth printing; the exit status says this part failed.
            print(f"demo: the Flask back office failed ({exc}); the end of its logs:")
            for log in ("gunicorn.log", "worker.log"):
                path = directory / log
                print("\n".join(f"  {log}: {line}" for line in (path.read_text(errors="replace").splitlines()[-10:] if path.exists() else [])))
            return {"failed": str(exc)}


def _demo(directory: Path) -> int:
    service = f"otel-kit-shop-demo-{uuid.uuid4().hex[:6]}"
    telemetry = otel_kit.setup(service, service_version="1.0.0", environment="demo", endpoint=ENDPOINT, metric_interval=2.0, audit_key="demo-audit-key", log_format="none")
    from shop import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    while not server.started:
        time.sleep(0.05)

    print(f"demo: {service} serving on {base}, sending load ...")
    started = time.perf_counter()
    sent = _load(base, random.Random(42))
    otel_kit.security.audit("order.refund", actor="admin@shop", target="order:17", amount=42.0)
    elapsed = time.perf_counter() - started
    health = httpx.get(f"{base}/health/detailed", timeout=10).json()
    slow = otel_kit.slow_query_report(top=3)
    time.sleep(4.5)  # two metric export intervals
    telemetry.force_flush(10)
    server.should_exit = True
    thread.join(10)
    summary = str(telemetry)
    telemetry.shutdown(10)
    office = _backoffice(service, directory)

    print(f"\n=== load: {sum(sent.values())} requests in {elapsed:.1f} s ===")
    for label, count in sent.items():
        print(f"  {label:22} {count}")
    print("\n=== what otel-kit configured and exported ===")
    print(summary)
    print(f"\n=== health from spans and checks: {health['status']} ===")
    for reason in health["reasons"][:5]:
        print(f"  - {reason}")
    for route in health["routes"][:6]:
        print(f"  {route['name']:28} {route['requests']:4} req  {route['error_rate']:6.1%} errors  p95 {route['p95_ms']:7.1f} ms  {route['status']}")
    for change in health["transitions"][-3:]:
        print(f"  changed: {change['kind']} {change['name']}: {change['previous']} -> {change['status']}")
    print("\n=== slow queries (in process) ===")
    for row in slow["fingerprints"]:
        print(f"  {row['calls']:4} calls  total {row['total_ms']:8.1f} ms  p95 {row['p95_ms']:7.1f} ms  max {row['max_ms']:7.1f} ms  {row['fingerprint'][:70]}")
    for suspect in slow["n_plus_one"][:3]:
        print(f"  N+1: {suspect['count']} x '{suspect['fingerprint'][:60]}' on {suspect['route']} (trace {suspect['trace_id']})")

    if office is not None and "failed" not in office:
        print(f"\n=== Flask back office and Celery worker: {sum(office['sent'].values())} requests, {office['invoiced']} orders invoiced by the worker ===")
        for label, count in office["sent"].items():
            print(f"  {label:22} {count}")
        detailed = office["health"] or {}
        for route in detailed.get("routes", [])[:5]:
            print(f"  {route['name']:40} {route['requests']:4} req  p95 {route['p95_ms']:7.1f} ms  {route['status']}")
        for suspect in (office["slow"] or {}).get("n_plus_one", [])[:2]:
            print(f"  N+1: {suspect['count']} x '{suspect['fingerprint'][:60]}' on {suspect['route']}")

    print("\n=== in the backends ===")
    traces: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # ingestion is asynchronous: wait until the count settles
        latest = backends.jaeger_traces(JAEGER, service, "1h", 5000)
        if latest and len(latest) == len(traces):
            break
        traces = latest
        time.sleep(3)
    print(f"  Jaeger      {len(traces)} traces for {service}; e.g. {JAEGER}/api/traces/{traces[0]['traceID'] if traces else '-'}")
    queries = {
        "requests": f'sum(http_server_request_duration_seconds_count{{job="{service}"}})',
        "orders": f'sum(shop_orders_total{{job="{service}"}})',
        "revenue USD": f'sum(shop_revenue_USD_sum{{job="{service}"}})',
        "AI tokens": f'sum(gen_ai_client_token_usage_sum{{job="{service}"}})',
        "AI cost USD": f'sum(otel_kit_ai_cost_USD_total{{job="{service}"}})',
        "security events": f'sum(security_events_total{{job="{service}"}})',
        "slow queries": f'sum(db_client_slow_queries_total{{job="{service}"}})',
        "N+1 traces": f'sum(db_client_n_plus_one_total{{job="{service}"}})',
    }
    for label, query in queries.items():
        result = backends.wait_for(functools.partial(backends.prometheus_query, PROMETHEUS, query), 30)
        value = float(result[0]["value"][1]) if result else float("nan")
        print(f"  Prometheus  {label:16} {value:g}")
    logs = backends.wait_for(lambda: backends.loki_query(LOKI, f'{{service_name="{service}"}}', since_seconds=600, limit=5000), 60) or []
    security_logs = [line for line in logs if line["labels"].get("event_name", "").startswith("security.") or "security" in json.dumps(line["labels"])]
    print(f"  Loki        {len(logs)} log records ({len(security_logs)} security events)")
    print("\n=== AI spend from Prometheus (otel-kit ai-costs) ===")
    ai_costs.run(prometheus=PROMETHEUS, service=service, window="1h", as_json=False)
    example = slow["n_plus_one"][0]["trace_id"] if slow["n_plus_one"] else (traces[0]["traceID"] if traces else None)
    trace = backends.jaeger_trace(JAEGER, example) if example else None
    if trace is not None:
        print("\n=== one N+1 trace from Jaeger (otel-kit trace ID; `otel-kit stack status` says whether this Jaeger has its web UI) ===")
        print("\n".join(line for line in render(trace).splitlines()[:16]))
    if office is not None and "failed" not in office:
        for name in (f"{service}-backoffice", f"{service}-worker"):
            found = backends.wait_for(functools.partial(backends.jaeger_traces, JAEGER, name, "1h", 500), 60) or []
            print(f"  Jaeger      {len(found)} traces for {name}")
        invoice = next((t for t in (backends.jaeger_traces(JAEGER, f"{service}-worker", "1h", 500) or [])
                        if any(p.get("serviceName", "").endswith("-backoffice") for p in t.get("processes", {}).values())), None)
        if invoice is not None:
            print("\n=== one invoice: Flask request -> Celery publish -> worker task, one trace ===")
            print("\n".join(render(invoice).splitlines()[:12]))
    print(f"\nmore: otel-kit traces --service {service}  |  otel-kit slow-queries --service {service}  |  otel-kit ai-costs --service {service}")
    return 0 if traces and logs and (office is None or "failed" not in office) else 1


if __name__ == "__main__":
    sys.exit(main())
