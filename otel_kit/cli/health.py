"""``otel-kit health``: a service's health judged from its traces in Jaeger, with the live policy.

The exit status is the verdict, so a deploy script or CI job can gate on it: 0 healthy, 1 degraded,
2 unhealthy, 3 no data (no trace of the service in the window: a typo in ``--service`` or a service
that sent nothing must not pass a gate). 4 means Jaeger could not be asked, 64 an invalid option.
"""

from __future__ import annotations

import json
from typing import Any

from otel_kit.analysis.health import WINDOWS, HealthPolicy
from otel_kit.analysis.offline import health_from_jaeger
from otel_kit.cli import backends
from otel_kit.cli.errors import UsageError
from otel_kit.config.settings import ConfigError

EXIT_NO_DATA = 3


def _no_data(service: str, jaeger: str, window: str, traces: int, as_json: bool) -> int:
    known = [] if traces else backends.jaeger_services(jaeger)
    if traces:
        why = f"{traces} traces of {service!r} in the last {window}, but no server or client span to judge"
    elif service in known:
        why = f"no traces of {service!r} in the last {window}"
    else:
        why = f"Jaeger has no service {service!r}" + (f" (it has: {', '.join(known[:20])}{' ...' if len(known) > 20 else ''})" if known else " (it has none yet)")
    if as_json:
        print(json.dumps({"service": service, "jaeger": jaeger, "window": window, "traces": traces, "status": "no_data", "reasons": [why], "known_services": known}, indent=2))
    else:
        print(f"health of {service!r} from {jaeger}, window {window}: no data")
        print(f"  - {why}")
    return EXIT_NO_DATA


def run(*, jaeger: str, service: str, window: str, limit: int, as_json: bool, policy: dict[str, Any]) -> int:
    if window not in WINDOWS:
        raise UsageError(f"otel-kit health: invalid --window {window!r}: expected one of {', '.join(WINDOWS)}")
    if limit < 1:
        raise UsageError(f"otel-kit health: invalid --limit {limit!r}: expected an integer >= 1")
    try:
        rules = HealthPolicy(window=window, **{k: v for k, v in policy.items() if v is not None})
    except ConfigError as exc:
        raise UsageError(f"otel-kit health: {exc}") from None
    traces = backends.jaeger_traces(jaeger, service, window, limit)
    monitor = health_from_jaeger(traces, rules)
    status, targets, _, reasons = monitor.evaluate()
    if not targets:
        return _no_data(service, jaeger, window, len(traces), as_json)
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
    for t in sorted(targets, key=lambda t: (t.kind, t.name)):
        print(f"  {t.kind:10} {t.name[:40]:40} {t.requests:6} req  {t.error_rate:7.1%} errors  p95 {t.p95_ms:9.1f} ms  {t.status.value}")
    return status.level
