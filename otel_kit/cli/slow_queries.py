"""``otel-kit slow-queries``: slow-query and N+1 analysis offline, from Jaeger's query API."""

from __future__ import annotations

import json
import re
from typing import Any

from otel_kit.analysis.slow_queries import analyze_jaeger_traces
from otel_kit.cli import backends
from otel_kit.cli.errors import UsageError

_LOOKBACK = re.compile(r"^\d+[smhd]$")


def _table(title: str, rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    lines = [title]
    if not rows:
        return title + "\n  (none)"
    widths = [max(len(header), *(len(_cell(row.get(key))) for row in rows)) for key, header in columns]
    lines.append("  " + "  ".join(header.ljust(width) for (_, header), width in zip(columns, widths, strict=True)))
    for row in rows:
        lines.append("  " + "  ".join(_cell(row.get(key)).ljust(width) for (key, _), width in zip(columns, widths, strict=True)))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    text = "" if value is None else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def run(*, jaeger: str, service: str, lookback: str, limit: int, top: int, slow_ms: float, n_plus_one: int, as_json: bool) -> int:
    if not _LOOKBACK.match(lookback):
        raise UsageError(f"otel-kit slow-queries: invalid --lookback {lookback!r}: expected a number and a unit, e.g. 30m, 1h, 2d")
    traces = backends.jaeger_traces(jaeger, service, lookback, limit)
    statistics = analyze_jaeger_traces(traces, slow_ms=slow_ms, n_plus_one_threshold=n_plus_one)
    by_total = statistics.report(top, "total")
    by_p95 = statistics.report(top, "p95")
    if as_json:
        print(json.dumps({"service": service, "traces": len(traces), "by_total": by_total["fingerprints"], "by_p95": by_p95["fingerprints"], "n_plus_one": by_total["n_plus_one"]}, indent=2))
        return 0
    columns = [("calls", "calls"), ("total_ms", "total ms"), ("mean_ms", "mean ms"), ("p95_ms", "p95 ms"), ("max_ms", "max ms"), ("slow_calls", "slow"), ("slowest_trace_id", "slowest trace"), ("fingerprint", "query")]
    print(f"slow-query report for {service!r}: {len(traces)} traces from {jaeger} over {lookback} (slow >= {slow_ms:g} ms)\n")
    if not traces:
        print(f"  {backends.service_hint(jaeger, service)}\n")
    print(_table(f"Top {top} by total time", by_total["fingerprints"], columns) + "\n")
    print(_table(f"Top {top} by p95", by_p95["fingerprints"], columns) + "\n")
    print(_table(f"N+1 suspects (>= {n_plus_one} executions in one trace)", by_total["n_plus_one"], [("count", "count"), ("route", "route"), ("trace_id", "trace"), ("fingerprint", "query")]))
    return 0
