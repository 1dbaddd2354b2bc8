"""``otel-kit health``: a service's health judged from its traces in Jaeger, with the live policy.

The exit status is the verdict's level (0 healthy, 1 degraded, 2 unhealthy), so a deploy script or
CI job can gate on it.
"""

from __future__ import annotations

import json
from typing import Any

from otel_kit.analysis.health import WINDOWS, HealthPolicy
from otel_kit.analysis.offline import health_from_jaeger
from otel_kit.cli import backends
from otel_kit.config.settings import ConfigError


def run(*, jaeger: str, service: str, window: str, limit: int, as_json: bool, policy: dict[str, Any]) -> int:
    if window not in WINDOWS:
        raise SystemExit(f"otel-kit health: invalid --window {window!r}: expected one of {', '.join(WINDOWS)}")
    if limit < 1:
        raise SystemExit(f"otel-kit health: invalid --limit {limit!r}: expected an integer >= 1")
    try:
        rules = HealthPolicy(window=window, **{k: v for k, v in policy.items() if v is not None})
    except ConfigError as exc:
        raise SystemExit(f"otel-kit health: {exc}") from None
    traces = backends.jaeger_traces(jaeger, service, window, limit)
    monitor = health_from_jaeger(traces, rules)
    status, targets, _, reasons = monitor.evaluate()
    sampled = len(traces) >= limit
    if as_json:
        print(json.dumps({
            "service": service, "jaeger": jaeger, "window": window, "traces": len(traces), "limit_reached": sampled,
            "status": status.value, "reasons": reasons, "targets": [t.as_dict() for t in targets],
        }, indent=2))
        return status.level
    print(f"health of {service!r} from {len(traces)} traces in {jaeger}, window {window}: {status.value}")
    if sampled:
        print(f"  (the --limit of {limit} traces was reached: figures come from the most recent sample)")
    for reason in reasons:
        print(f"  - {reason}")
    if not targets:
        print("  no server or client spans in the window")
    for t in sorted(targets, key=lambda t: (t.kind, t.name)):
        print(f"  {t.kind:10} {t.name[:40]:40} {t.requests:6} req  {t.error_rate:7.1%} errors  p95 {t.p95_ms:9.1f} ms  {t.status.value}")
    return status.level
