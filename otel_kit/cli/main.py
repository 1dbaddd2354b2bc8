"""The ``otel-kit`` command: ``stack``, ``doctor``, ``slow-queries``, ``health``, ``traces`` and ``trace``."""

from __future__ import annotations

import argparse
import sys

from otel_kit.cli.stack import DEFAULT_PORTS, Stack, home, main_stack


def _stack_from(args: argparse.Namespace) -> Stack:
    ports = dict(DEFAULT_PORTS)
    for item in args.port or []:
        key, _, value = item.partition("=")
        if key not in ports or not value.isdigit() or not 0 < int(value) < 65536:
            raise SystemExit(f"otel-kit: invalid --port {item!r}: expected NAME=PORT with NAME one of {', '.join(ports)}")
        ports[key] = int(value)
    return Stack(name=args.name, ports=ports, root=home())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-kit", description="otel-kit: local OpenTelemetry stack and span analysis")
    commands = parser.add_subparsers(dest="command", required=True)

    stack = commands.add_parser("stack", help="build, start, check and stop Collector, Jaeger, Prometheus and Loki")
    stack.add_argument("action", choices=["install", "up", "status", "down"])
    stack.add_argument("--name", default="default", help="stack name: its own run directory (default: default)")
    stack.add_argument("--port", action="append", metavar="NAME=PORT", help="override a port, e.g. otlp_grpc=24317 (repeatable)")
    stack.add_argument("--fresh", action="store_true", help="with up: discard the stack's previous data")

    doctor = commands.add_parser("doctor", help="send a probe span, metric and log and check each arrived")
    doctor.add_argument("--endpoint", default="http://127.0.0.1:4317")
    doctor.add_argument("--jaeger", default="http://127.0.0.1:16686")
    doctor.add_argument("--prometheus", default="http://127.0.0.1:9090")
    doctor.add_argument("--loki", default="http://127.0.0.1:3100")
    doctor.add_argument("--timeout", type=float, default=60.0)

    slow = commands.add_parser("slow-queries", help="slow-query and N+1 report from traces in Jaeger")
    slow.add_argument("--jaeger", default="http://127.0.0.1:16686")
    slow.add_argument("--service", required=True)
    slow.add_argument("--lookback", default="1h")
    slow.add_argument("--limit", type=int, default=1000, help="traces to read")
    slow.add_argument("--top", type=int, default=10)
    slow.add_argument("--slow-ms", type=float, default=500.0)
    slow.add_argument("--n-plus-one", type=int, default=10)
    slow.add_argument("--json", action="store_true")

    health = commands.add_parser("health", help="a service's health from its traces in Jaeger (exit status 0/1/2)")
    health.add_argument("--jaeger", default="http://127.0.0.1:16686")
    health.add_argument("--service", required=True)
    health.add_argument("--window", default="5m", help="1m or 5m (default 5m)")
    health.add_argument("--limit", type=int, default=5000, help="traces to read")
    health.add_argument("--min-requests", type=int)
    health.add_argument("--error-rate-degraded", type=float)
    health.add_argument("--error-rate-unhealthy", type=float)
    health.add_argument("--p95-degraded-ms", type=float)
    health.add_argument("--p95-unhealthy-ms", type=float)
    health.add_argument("--json", action="store_true")

    traces = commands.add_parser("traces", help="list recent traces of a service from Jaeger")
    traces.add_argument("--jaeger", default="http://127.0.0.1:16686")
    traces.add_argument("--service", required=True)
    traces.add_argument("--lookback", default="15m")
    traces.add_argument("--limit", type=int, default=20)
    traces.add_argument("--errors", action="store_true", help="only traces with an error span")
    traces.add_argument("--json", action="store_true")

    trace = commands.add_parser("trace", help="one trace from Jaeger as a text waterfall")
    trace.add_argument("trace_id")
    trace.add_argument("--jaeger", default="http://127.0.0.1:16686")
    trace.add_argument("--width", type=int, default=30, help="width of the time bars in characters")
    trace.add_argument("--json", action="store_true", help="Jaeger's JSON for the trace instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "stack":
        return main_stack(args.action, _stack_from(args), fresh=args.fresh)
    if args.command == "doctor":
        from otel_kit.cli import doctor

        return doctor.run(endpoint=args.endpoint, jaeger=args.jaeger, prometheus=args.prometheus, loki=args.loki, timeout=args.timeout)
    if args.command == "health":
        from otel_kit.cli import health

        policy = {name: getattr(args, name) for name in ("min_requests", "error_rate_degraded", "error_rate_unhealthy", "p95_degraded_ms", "p95_unhealthy_ms")}
        return health.run(jaeger=args.jaeger, service=args.service, window=args.window, limit=args.limit, as_json=args.json, policy=policy)
    if args.command in ("traces", "trace"):
        from otel_kit.cli import traces

        if args.command == "trace":
            return traces.run_trace(jaeger=args.jaeger, trace_id=args.trace_id, as_json=args.json, width=max(10, args.width))
        return traces.run_traces(jaeger=args.jaeger, service=args.service, lookback=args.lookback, limit=args.limit, errors_only=args.errors, as_json=args.json)
    from otel_kit.cli import slow_queries

    return slow_queries.run(
        jaeger=args.jaeger, service=args.service, lookback=args.lookback, limit=args.limit, top=args.top,
        slow_ms=args.slow_ms, n_plus_one=args.n_plus_one, as_json=args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
