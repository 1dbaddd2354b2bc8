"""The ``otel-kit`` command: ``stack``, ``doctor``, ``slow-queries``, ``health``, ``traces``, ``trace``, ``ai-costs`` and ``alerts``.

Failures are one line on stderr, never a traceback: an invalid option exits 64, a backend that
cannot be reached exits 4 naming its URL and the fix, a closed pipe (``| head``) ends quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from otel_kit.cli.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_UNREACHABLE, EXIT_USAGE, BackendError, UsageError
from otel_kit.cli.stack import DEFAULT_PORTS, Stack, StackError, home, main_stack
from otel_kit.cli.stack.runtime import known_stacks, saved_ports

DEFAULT_JAEGER = "http://127.0.0.1:16686"
DEFAULT_PROMETHEUS = "http://127.0.0.1:9090"
DEFAULT_LOKI = "http://127.0.0.1:3100"
DEFAULT_ENDPOINT = "http://127.0.0.1:4317"
DEFAULT_ALERTMANAGER = "http://127.0.0.1:9093"
_OPTION_OF = {"Jaeger": "--jaeger", "Prometheus": "--prometheus", "Loki": "--loki", "Alertmanager": "--alertmanager"}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 64 (2 would read as ``otel-kit health``'s "unhealthy")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _stack_from(args: argparse.Namespace) -> Stack:
    """The stack named by ``--name``: its saved ports, or the defaults shifted by ``--port-offset``, then each ``--port``."""
    root = home()
    try:
        ports = dict(Stack.load(args.name, root).ports)
    except StackError as exc:
        raise UsageError(f"otel-kit stack: {exc}") from None
    if args.port_offset is not None:
        ports = {key: port + args.port_offset for key, port in DEFAULT_PORTS.items()}
    for item in args.port or []:
        key, _, value = item.partition("=")
        if key not in ports or not value.isdigit() or not 0 < int(value) < 65536:
            raise UsageError(f"otel-kit: invalid --port {item!r}: expected NAME=PORT with NAME one of {', '.join(ports)} and PORT 1-65535")
        ports[key] = int(value)
    try:
        return Stack(name=args.name, ports=ports, root=root)
    except StackError as exc:
        raise UsageError(f"otel-kit stack: {exc}") from None


def _named_stack(name: str) -> Stack:
    """A stack that has been brought up before (``--stack NAME`` on the report commands)."""
    root = home()
    try:
        stack = Stack.load(name, root)
    except StackError as exc:
        raise UsageError(f"otel-kit: {exc}") from None
    if saved_ports(stack.run_dir) is None:
        known = known_stacks(root)
        raise UsageError(f"otel-kit: no stack named {name!r} in {root / 'run'}" + (f" (there are: {', '.join(known)})" if known else " (`otel-kit stack up --name NAME` creates one)"))
    return stack


def _stack_for(args: argparse.Namespace) -> Stack | None:
    """``--stack NAME``; without it the default stack when it was brought up (its ports may not be the defaults)."""
    if args.stack:
        return _named_stack(args.stack)
    stack = Stack.load("default", home())
    return stack if saved_ports(stack.run_dir) is not None else None


def _jaeger(args: argparse.Namespace) -> str:
    if args.jaeger:
        return str(args.jaeger).rstrip("/")
    stack = _stack_for(args)
    return stack.jaeger_url if stack is not None else DEFAULT_JAEGER


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="otel-kit", description="otel-kit: local OpenTelemetry stack and span analysis")
    commands = parser.add_subparsers(dest="command", required=True)

    stack = commands.add_parser("stack", help="build, start, check and stop Collector, Jaeger, Prometheus and Loki; export their configuration")
    stack.add_argument("action", choices=["install", "up", "status", "down", "config"])
    stack.add_argument("--name", default="default", help="stack name: its own ports, run directory and processes (default: default)")
    stack.add_argument("--port", action="append", metavar="NAME=PORT", help="override a port, e.g. otlp_grpc=24317 (repeatable); remembered by the stack")
    stack.add_argument("--port-offset", type=int, metavar="N", help="every default port plus N, e.g. 100 gives OTLP on 4417 (remembered by the stack; 1000 would clash with the defaults)")
    stack.add_argument("--fresh", action="store_true", help="with up: discard the stack's previous data")
    stack.add_argument(
        "--topology", choices=["single", "scale"], default="single",
        help="with up/status: 'scale' adds two agent and two gateway Collectors on loopback in front of the stack (down stops them too)",
    )
    stack.add_argument("--export", metavar="DIR", help="with config: write the configuration files into DIR, for your own Collector or docker compose")
    stack.add_argument("--force", action="store_true", help="with config --export: overwrite files that differ")
    stack.add_argument("--json", action="store_true", help="with status or config: JSON output")

    doctor = commands.add_parser("doctor", help="send a probe span, metric and log and check each arrived")
    doctor.add_argument("--stack", metavar="NAME", help="use the ports of this named stack (default: the default stack's, else the standard ports)")
    doctor.add_argument("--endpoint", help=f"OTLP gRPC endpoint (default {DEFAULT_ENDPOINT})")
    doctor.add_argument("--jaeger", help=f"Jaeger query API (default {DEFAULT_JAEGER})")
    doctor.add_argument("--prometheus", help=f"Prometheus (default {DEFAULT_PROMETHEUS})")
    doctor.add_argument("--loki", help=f"Loki (default {DEFAULT_LOKI})")
    doctor.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each probe to arrive")
    doctor.add_argument("--json", action="store_true")

    slow = commands.add_parser("slow-queries", help="slow-query and N+1 report from traces in Jaeger")
    health = commands.add_parser("health", help="a service's health from its traces in Jaeger (exit status 0 healthy, 1 degraded, 2 unhealthy, 3 no data)")
    traces = commands.add_parser("traces", help="list recent traces of a service from Jaeger")
    trace = commands.add_parser("trace", help="one trace from Jaeger as a text waterfall")
    for sub in (slow, health, traces, trace):
        sub.add_argument("--jaeger", help=f"Jaeger query API (default {DEFAULT_JAEGER})")
        sub.add_argument("--stack", metavar="NAME", help="read the Jaeger of this named stack (default: the default stack's)")

    slow.add_argument("--service", required=True)
    slow.add_argument("--lookback", default="1h")
    slow.add_argument("--limit", type=int, default=1000, help="traces to read")
    slow.add_argument("--top", type=int, default=10)
    slow.add_argument("--slow-ms", type=float, default=500.0)
    slow.add_argument("--n-plus-one", type=int, default=10)
    slow.add_argument("--json", action="store_true")

    health.add_argument("--service", required=True)
    health.add_argument("--window", default="5m", help="1m or 5m (default 5m)")
    health.add_argument("--limit", type=int, default=5000, help="traces to read")
    health.add_argument("--min-requests", type=int)
    health.add_argument("--error-rate-degraded", type=float)
    health.add_argument("--error-rate-unhealthy", type=float)
    health.add_argument("--p95-degraded-ms", type=float)
    health.add_argument("--p95-unhealthy-ms", type=float)
    health.add_argument("--json", action="store_true")

    traces.add_argument("--service", required=True)
    traces.add_argument("--lookback", default="15m")
    traces.add_argument("--limit", type=int, default=20)
    traces.add_argument("--errors", action="store_true", help="only traces with an error span")
    traces.add_argument("--json", action="store_true")

    costs = commands.add_parser("ai-costs", help="AI spend and tokens by model from Prometheus: a window, the month so far and a month-end projection")
    costs.add_argument("--prometheus", help=f"Prometheus (default {DEFAULT_PROMETHEUS})")
    costs.add_argument("--stack", metavar="NAME", help="read the Prometheus of this named stack")
    costs.add_argument("--service", help="the job (service.name) to report; all jobs when left out")
    costs.add_argument("--window", default="24h", help="Prometheus duration for the per-model table (default 24h)")
    costs.add_argument("--json", action="store_true")

    alerts = commands.add_parser("alerts", help="firing and pending alerts; `alerts test` sends a test alert to every configured receiver")
    alerts.add_argument("action", nargs="?", choices=["list", "test", "config"], default="list",
                        help="list (default); test: a synthetic alert through Alertmanager, each receiver delivered or failed; "
                             "config --output FILE: alertmanager.yml with this environment's receivers")
    alerts.add_argument("--stack", metavar="NAME", help="use this named stack's backends (default: the default stack's)")
    alerts.add_argument("--prometheus", help=f"Prometheus (default {DEFAULT_PROMETHEUS})")
    alerts.add_argument("--loki", help=f"Loki, for log-based alerts (default {DEFAULT_LOKI})")
    alerts.add_argument("--alertmanager", help=f"Alertmanager (default {DEFAULT_ALERTMANAGER})")
    alerts.add_argument("--timeout", type=float, default=60.0, help="with test: seconds to wait for each receiver")
    alerts.add_argument("--output", metavar="FILE", help="with config: where to write alertmanager.yml (mode 0600)")
    alerts.add_argument("--json", action="store_true")

    trace.add_argument("trace_id")
    trace.add_argument("--width", type=int, default=30, help="width of the time bars in characters")
    trace.add_argument("--json", action="store_true", help="Jaeger's JSON for the trace instead")
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "stack":
        return main_stack(
            args.action, _stack_from(args), fresh=args.fresh, as_json=args.json, export=args.export, force=args.force, topology=args.topology,
        )
    if args.command == "doctor":
        from otel_kit.cli import doctor

        named = _stack_for(args)
        return doctor.run(
            endpoint=args.endpoint or (named.otlp_grpc if named else DEFAULT_ENDPOINT),
            jaeger=(args.jaeger or (named.jaeger_url if named else DEFAULT_JAEGER)).rstrip("/"),
            prometheus=(args.prometheus or (named.prometheus_url if named else DEFAULT_PROMETHEUS)).rstrip("/"),
            loki=(args.loki or (named.loki_url if named else DEFAULT_LOKI)).rstrip("/"),
            timeout=args.timeout, as_json=args.json, stack_hint=f" --name {args.stack}" if args.stack else "",
        )
    if args.command == "ai-costs":
        from otel_kit.cli import ai_costs

        prometheus = args.prometheus or (_named_stack(args.stack).prometheus_url if args.stack else DEFAULT_PROMETHEUS)
        return ai_costs.run(prometheus=prometheus.rstrip("/"), service=args.service, window=args.window, as_json=args.json)
    if args.command == "alerts":
        return _alerts(args)
    jaeger = _jaeger(args)
    if args.command == "health":
        from otel_kit.cli import health

        policy = {name: getattr(args, name) for name in ("min_requests", "error_rate_degraded", "error_rate_unhealthy", "p95_degraded_ms", "p95_unhealthy_ms")}
        return health.run(jaeger=jaeger, service=args.service, window=args.window, limit=args.limit, as_json=args.json, policy=policy)
    if args.command in ("traces", "trace"):
        from otel_kit.cli import traces

        if args.command == "trace":
            return traces.run_trace(jaeger=jaeger, trace_id=args.trace_id, as_json=args.json, width=max(10, args.width))
        return traces.run_traces(jaeger=jaeger, service=args.service, lookback=args.lookback, limit=args.limit, errors_only=args.errors, as_json=args.json)
    from otel_kit.cli import slow_queries

    return slow_queries.run(
        jaeger=jaeger, service=args.service, lookback=args.lookback, limit=args.limit, top=args.top,
        slow_ms=args.slow_ms, n_plus_one=args.n_plus_one, as_json=args.json,
    )


def _alerts(args: argparse.Namespace) -> int:
    from otel_kit.cli import alerts

    if args.action == "config":
        if not args.output:
            raise UsageError("otel-kit alerts config: --output FILE is required (the file holds the receivers' secrets)")
        return alerts.run_config(args.output)
    named = _stack_for(args)
    alertmanager = (args.alertmanager or (named.alertmanager_url if named else DEFAULT_ALERTMANAGER)).rstrip("/")
    if args.action == "test":
        if args.timeout <= 0:
            raise UsageError(f"otel-kit alerts test: invalid --timeout {args.timeout:g}: expected seconds > 0")
        # the stack's log has the reason of a failed delivery (only when it is that stack's Alertmanager)
        log = named.run_dir / "alertmanager.log" if named is not None and not args.alertmanager else None
        return alerts.run_test(alertmanager=alertmanager, log=log, timeout=args.timeout, as_json=args.json)
    return alerts.run_list(
        prometheus=(args.prometheus or (named.prometheus_url if named else DEFAULT_PROMETHEUS)).rstrip("/"),
        loki=(args.loki or (named.loki_url if named else DEFAULT_LOKI)).rstrip("/"),
        alertmanager=alertmanager, as_json=args.json,
    )


def _discard_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (captured in tests): replace the object
        sys.stdout = open(os.devnull, "w")  # lives until the process ends


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe must surface here, not in the interpreter's exit flush
        return code
    except UsageError as exc:
        print(exc.message, file=sys.stderr)
        raise
    except BackendError as exc:
        print(exc.line(args.command, _OPTION_OF.get(exc.backend)), file=sys.stderr)
        return EXIT_UNREACHABLE
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("otel-kit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
