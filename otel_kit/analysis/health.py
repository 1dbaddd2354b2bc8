"""Service health computed from the service's own spans, plus component checks.

A span processor keeps, per server route and per outgoing dependency, sliding windows (10 s slots
covering 5 minutes) of request count, error count and a latency sketch. A policy turns a window
into healthy / degraded / unhealthy with the reason in words. Component checks (database, disk,
memory, CPU, your own) run concurrently, each with a timeout, so a hanging check is reported as
unhealthy instead of hanging the health endpoint.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor

from otel_kit.analysis.processor import AnalysisProcessor
from otel_kit.analysis.quantiles import QuantileSketch

SLOT_SECONDS = 10.0
WINDOWS = {"1m": 60.0, "5m": 300.0}
MAX_TARGETS = 500
TRANSITION_EVENT = "otel_kit.health.changed"
_log = logging.getLogger("otel_kit.health")


class Status(str, enum.Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    @property
    def level(self) -> int:
        return _LEVELS[self]


_LEVELS = {Status.HEALTHY: 0, Status.DEGRADED: 1, Status.UNHEALTHY: 2}


def worst(statuses: Iterable[Status]) -> Status:
    return max(statuses, key=lambda s: s.level, default=Status.HEALTHY)


@dataclass(frozen=True)
class HealthPolicy:
    """Thresholds; defaults follow the alert rules of the monitoring guides otel-kit replaces."""

    error_rate_degraded: float = 0.01
    error_rate_unhealthy: float = 0.05
    p95_degraded_ms: float = 1000.0
    p95_unhealthy_ms: float = 2000.0
    min_requests: int = 20
    window: str = "5m"

    def __post_init__(self) -> None:
        from otel_kit.config.settings import ConfigError

        if not 0 <= self.error_rate_degraded <= self.error_rate_unhealthy <= 1:
            raise ConfigError("error_rate_degraded/error_rate_unhealthy", (self.error_rate_degraded, self.error_rate_unhealthy), "0 <= degraded <= unhealthy <= 1")
        if not 0 < self.p95_degraded_ms <= self.p95_unhealthy_ms:
            raise ConfigError("p95_degraded_ms/p95_unhealthy_ms", (self.p95_degraded_ms, self.p95_unhealthy_ms), "0 < degraded <= unhealthy")
        if self.min_requests < 1:
            raise ConfigError("min_requests", self.min_requests, "an integer >= 1")
        if self.window not in WINDOWS:
            raise ConfigError("window", self.window, "one of " + ", ".join(WINDOWS))


@dataclass(slots=True)  # updated on every span: slots make attribute writes cheaper
class _Slot:
    index: int
    count: int = 0
    errors: int = 0
    sketch: QuantileSketch = field(default_factory=QuantileSketch)


class SlidingWindow:
    """A ring of fixed slots; reading merges the slots that fall inside the requested span.

    Its own lock keeps a reader's merge from seeing a sketch mid-update; one lock per window
    means spans of different routes never wait for each other.
    """

    __slots__ = ("_current", "_current_end", "_current_start", "_lock", "_slot_seconds", "_slots")

    def __init__(self, horizon: float = max(WINDOWS.values()), slot_seconds: float = SLOT_SECONDS) -> None:
        self._slot_seconds = slot_seconds
        self._slots: list[_Slot | None] = [None] * (int(horizon / slot_seconds) + 1)
        self._lock = threading.Lock()
        # the slot being filled and its time range: most adds land there without index arithmetic
        self._current: _Slot | None = None
        self._current_start = self._current_end = 0.0

    def add(self, now: float, seconds: float, error: bool) -> None:
        # acquire/release rather than ``with``: half the cost (~70 ns against ~150) on every span
        lock = self._lock
        lock.acquire()
        try:
            slot = self._current
            if slot is None or not self._current_start <= now < self._current_end:
                slot = self._slot_at(now)
            slot.count += 1
            if error:
                slot.errors += 1
            slot.sketch.add(seconds)
        finally:
            lock.release()

    def _slot_at(self, now: float) -> _Slot:
        index = int(now // self._slot_seconds)
        position = index % len(self._slots)
        slot = self._slots[position]
        if slot is None or slot.index != index:
            slot = self._slots[position] = _Slot(index)
        if index >= (self._current.index if self._current is not None else index):
            # only a newer slot becomes current; a late span for an older slot just lands there
            self._current = slot
            self._current_start = index * self._slot_seconds
            self._current_end = self._current_start + self._slot_seconds
        return slot

    def read(self, now: float, seconds: float) -> tuple[int, int, QuantileSketch]:
        newest = int(now // self._slot_seconds)
        oldest = newest - int(seconds // self._slot_seconds) + 1
        count = errors = 0
        sketch = QuantileSketch()
        with self._lock:
            for slot in self._slots:
                if slot is not None and oldest <= slot.index <= newest:
                    count += slot.count
                    errors += slot.errors
                    sketch.merge(slot.sketch)
        return count, errors, sketch


@dataclass(frozen=True)
class TargetHealth:
    kind: str  # "route", "task" or "dependency"
    name: str
    status: Status
    requests: int
    errors: int
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    window: str
    reason: str

    def as_dict(self, *, brief: bool = False) -> dict[str, Any]:
        if brief:
            return {"status": self.status.value, "requests": self.requests, "errors": self.errors, "error_rate": round(self.error_rate, 4), "p95_ms": round(self.p95_ms, 2)}
        return {
            "kind": self.kind, "name": self.name, "status": self.status.value, "requests": self.requests,
            "errors": self.errors, "error_rate": round(self.error_rate, 4), "p50_ms": round(self.p50_ms, 2),
            "p95_ms": round(self.p95_ms, 2), "p99_ms": round(self.p99_ms, 2), "window": self.window, "reason": self.reason,
        }


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    duration_ms: float
    critical: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail, "duration_ms": round(self.duration_ms, 2), "critical": self.critical}


@dataclass(frozen=True)
class Transition:
    """A target's status changed between two evaluations (``at`` in the monitor's clock, seconds)."""

    at: float
    kind: str
    name: str
    previous: Status
    status: Status
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"at": round(self.at, 3), "kind": self.kind, "name": self.name, "previous": self.previous.value, "status": self.status.value, "reason": self.reason}


CheckFunction = Callable[[], Any] | Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class _Check:
    function: CheckFunction
    timeout: float
    critical: bool


class HealthMonitor:
    """Per-route and per-dependency windows, a policy, and registered component checks."""

    def __init__(self, policy: HealthPolicy | None = None, *, clock: Callable[[], float] = time.time, log_transitions: bool = True) -> None:
        self.policy = policy or HealthPolicy()
        self.clock = clock
        self._lock = threading.Lock()
        # past MAX_TARGETS the oldest target goes; OrderedDict for an O(1) eviction (see QueryStatistics._per_trace)
        self._targets: OrderedDict[tuple[str, str], SlidingWindow] = OrderedDict()
        # the same windows keyed by raw span attribute values, so the processor builds no name per span
        self._by_span: dict[tuple[Any, ...], SlidingWindow] = {}
        self._checks: dict[str, _Check] = {}
        self._last_checks: dict[str, CheckResult] = {}
        self._statuses: dict[tuple[str, str], Status] = {}
        self.transitions: deque[Transition] = deque(maxlen=100)
        self._otel_logger: Any = None
        self._log_transitions = log_transitions
        self.processor: SpanProcessor = AnalysisProcessor(health=self)
        self._checker: threading.Thread | None = None
        self._stop_checks = threading.Event()
        self._wake_checks = threading.Event()
        self._check_interval = 30.0

    # --- recording ----------------------------------------------------------------------------

    def record(self, kind: str, name: str, seconds: float, error: bool, *, now: float | None = None) -> None:
        """Add one request to the ``kind`` ("route" or "dependency") target ``name``."""
        self._window(kind, name).add(self.clock() if now is None else now, seconds, error)

    def _window(self, kind: str, name: str) -> SlidingWindow:
        key = (kind, name)
        window = self._targets.get(key)
        if window is None:
            with self._lock:
                window = self._targets.get(key)
                if window is None:
                    if len(self._targets) >= MAX_TARGETS:
                        self._targets.popitem(last=False)
                        self._by_span.clear()  # it may still point at the evicted window
                    window = self._targets[key] = SlidingWindow()
        return window

    def _span_window(self, key: tuple[Any, ...]) -> SlidingWindow:
        """The window for a processor key: ("route", method, route), ("operation", span name) for non-HTTP
        servers, ("task", name) for consumed messages (Celery tasks), ("db", system, namespace) or ("http", address)."""
        if key[0] == "route":
            kind, name = "route", f"{key[1]} {key[2]}"
        elif key[0] == "operation":
            kind, name = "route", str(key[1])
        elif key[0] == "task":
            kind, name = "task", str(key[1])
        elif key[0] == "db":
            kind, name = "dependency", f"db {key[1]} {key[2]}" if key[2] else f"db {key[1]}"
        else:
            kind, name = "dependency", f"http {key[1]}"
        window = self._by_span[key] = self._window(kind, name)
        return window

    # --- evaluation ---------------------------------------------------------------------------

    def targets(self, window: str | None = None) -> list[TargetHealth]:
        label = window or self.policy.window
        seconds = WINDOWS[label]
        now = self.clock()
        with self._lock:
            items = list(self._targets.items())
        return [self._evaluate(kind, name, *w.read(now, seconds), label) for (kind, name), w in items]

    def _evaluate(self, kind: str, name: str, count: int, errors: int, sketch: QuantileSketch, label: str) -> TargetHealth:
        policy = self.policy
        rate = errors / count if count else 0.0
        p50, p95, p99 = (v * 1000 for v in sketch.quantiles((0.5, 0.95, 0.99)))
        status, reason = Status.HEALTHY, f"{name}: {count} requests over {label}"
        if count < policy.min_requests:
            reason = f"{name}: {count} requests over {label}, below the minimum of {policy.min_requests} to judge"
        else:
            findings: list[tuple[Status, str]] = []
            if rate >= policy.error_rate_unhealthy:
                findings.append((Status.UNHEALTHY, f"{rate:.0%} errors over {label}, threshold {policy.error_rate_unhealthy:.0%}"))
            elif rate >= policy.error_rate_degraded:
                findings.append((Status.DEGRADED, f"{rate:.1%} errors over {label}, threshold {policy.error_rate_degraded:.0%}"))
            if p95 >= policy.p95_unhealthy_ms:
                findings.append((Status.UNHEALTHY, f"p95 {p95:.0f} ms over {label}, threshold {policy.p95_unhealthy_ms:.0f} ms"))
            elif p95 >= policy.p95_degraded_ms:
                findings.append((Status.DEGRADED, f"p95 {p95:.0f} ms over {label}, threshold {policy.p95_degraded_ms:.0f} ms"))
            if findings:
                status = worst(s for s, _ in findings)
                reason = f"{name}: " + "; ".join(text for _, text in findings)
            else:
                reason = f"{name}: {rate:.1%} errors, p95 {p95:.0f} ms over {label}"
        return TargetHealth(kind, name, status, count, errors, rate, p50, p95, p99, label, reason)

    # --- component checks ---------------------------------------------------------------------

    def register_check(self, name: str, function: CheckFunction, *, timeout: float = 2.0, critical: bool = True) -> None:
        """Add a check: sync or async, returning bool, a Status, (Status, detail) or raising."""
        from otel_kit.config.settings import ConfigError

        if not callable(function):
            raise ConfigError("function", function, "a callable")
        if not timeout > 0:
            raise ConfigError("timeout", timeout, "seconds, a number > 0")
        self._checks[name] = _Check(function, float(timeout), critical)
        self._wake_checks.set()  # a new check runs now, not at the next tick

    def unregister_check(self, name: str) -> None:
        self._checks.pop(name, None)

    async def run_checks(self) -> list[CheckResult]:
        results = await asyncio.gather(*(self._run_one(name, check) for name, check in list(self._checks.items())))
        with self._lock:
            self._last_checks = {r.name: r for r in results}
        return list(results)

    async def _run_one(self, name: str, check: _Check) -> CheckResult:
        started = time.perf_counter()
        try:
            if inspect.iscoroutinefunction(check.function):
                outcome = await asyncio.wait_for(check.function(), check.timeout)
            else:
                loop = asyncio.get_running_loop()
                outcome = await asyncio.wait_for(loop.run_in_executor(None, check.function), check.timeout)
            status, detail = _interpret(outcome)
        except asyncio.TimeoutError:
            status, detail = Status.UNHEALTHY, f"timed out after {check.timeout:g} s"
        except Exception as exc:  # noqa: BLE001
            status, detail = Status.UNHEALTHY, f"{type(exc).__name__}: {exc}"[:300]
        return CheckResult(name, status, detail, (time.perf_counter() - started) * 1000, check.critical)

    # --- reports --------------------------------------------------------------------------------

    def span_status(self) -> tuple[Status, list[str]]:
        evaluated = self.targets()
        status = worst(t.status for t in evaluated)
        return status, [t.reason for t in evaluated if t.status is not Status.HEALTHY]

    def evaluate(self, checks: list[CheckResult] | None = None) -> tuple[Status, list[TargetHealth], list[CheckResult], list[str]]:
        """Overall status, targets, checks and reasons; status changes since the last call are recorded.

        ``checks`` defaults to the results of the last ``run_checks()``. A non-critical check can
        make the service degraded, never unhealthy.
        """
        if checks is None:
            with self._lock:
                checks = list(self._last_checks.values())
        evaluated = self.targets()
        check_status = worst(c.status if c.critical else min(c.status, Status.DEGRADED, key=lambda s: s.level) for c in checks)
        overall = worst([*(t.status for t in evaluated), check_status])
        reasons = [t.reason for t in evaluated if t.status is not Status.HEALTHY]
        reasons += [f"check {c.name}: {c.detail}" for c in checks if c.status is not Status.HEALTHY]
        now = self.clock()
        for target in evaluated:
            self._note(target.kind, target.name, target.status, target.reason, now)
        for check in checks:
            self._note("component", check.name, check.status, f"check {check.name}: {check.detail}", now)
        self._note("overall", "service", overall, "; ".join(reasons) or "all targets and checks healthy", now)
        return overall, evaluated, checks, reasons

    def _note(self, kind: str, name: str, status: Status, reason: str, now: float) -> None:
        with self._lock:
            previous = self._statuses.get((kind, name), Status.HEALTHY)
            self._statuses[(kind, name)] = status
            if previous is status:
                return
            change = Transition(now, kind, name, previous, status, reason)
            self.transitions.append(change)
        if not self._log_transitions:
            return
        worse = status.level > previous.level
        message = f"health {kind} {name!r}: {previous.value} -> {status.value}: {reason}"
        # otel-kit's own loggers are kept out of export (no loops), so the record is emitted directly
        _log.log(logging.WARNING if worse else logging.INFO, message)
        if self._otel_logger is not None:
            from opentelemetry._logs import LogRecord, SeverityNumber

            self._otel_logger.emit(
                LogRecord(
                    timestamp=time.time_ns(), body=message, event_name=TRANSITION_EVENT,
                    severity_number=SeverityNumber.WARN if worse else SeverityNumber.INFO, severity_text="WARN" if worse else "INFO",
                    attributes={"target.kind": kind, "target.name": name, "health.previous_status": previous.value, "health.status": status.value, "health.reason": reason[:1000]},
                )
            )

    # --- background checks ---------------------------------------------------------------------

    def start_checks(self, interval: float) -> None:
        """Run the component checks every ``interval`` seconds in a daemon thread.

        Without it, checks run only when someone calls a health endpoint, so a dead database reads
        healthy on dashboards and alerts until then. The thread has its own event loop: checks
        never run on (or block) the application's loop.
        """
        if interval <= 0 or (self._checker is not None and self._checker.is_alive()):
            return
        self._check_interval = interval
        self._stop_checks.clear()
        self._checker = threading.Thread(target=self._check_loop, name="otel-kit-health-checks", daemon=True)
        self._checker.start()

    def stop_checks(self, timeout: float = 1.0) -> None:
        self._stop_checks.set()
        self._wake_checks.set()
        checker, self._checker = self._checker, None
        if checker is not None and checker is not threading.current_thread():
            checker.join(timeout)

    @property
    def checks_in_background(self) -> bool:
        return self._checker is not None and self._checker.is_alive()

    def _check_loop(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while not self._stop_checks.is_set():
                if self._checks:
                    try:
                        results = loop.run_until_complete(self.run_checks())
                        self.evaluate(results)  # records status changes as they happen, not at the next read
                    except Exception:  # noqa: BLE001 - a broken check must not end the loop
                        _log.debug("otel-kit: background health checks failed", exc_info=True)
                self._wake_checks.wait(self._check_interval)
                self._wake_checks.clear()
        finally:
            loop.close()

    async def report(self, *, run_checks: bool | None = None) -> dict[str, Any]:
        """The full health report; checks run now unless they already run in the background."""
        if run_checks is None:
            run_checks = not self.checks_in_background
        checks = await self.run_checks() if run_checks else None
        overall, evaluated, results, reasons = self.evaluate(checks)
        now = self.clock()
        windows: dict[tuple[str, str], dict[str, Any]] = {}
        with self._lock:
            items = list(self._targets.items())
        for (kind, name), window in items:
            windows[(kind, name)] = {
                label: self._evaluate(kind, name, *window.read(now, seconds), label).as_dict(brief=True) for label, seconds in WINDOWS.items()
            }

        def target(t: TargetHealth) -> dict[str, Any]:
            return {**t.as_dict(), "windows": windows.get((t.kind, t.name), {})}

        with self._lock:
            recent = [change.as_dict() for change in list(self.transitions)[-20:]]
        return {
            "status": overall.value,
            "reasons": reasons,
            "routes": [target(t) for t in evaluated if t.kind == "route"],
            "dependencies": [target(t) for t in evaluated if t.kind == "dependency"],
            "tasks": [target(t) for t in evaluated if t.kind == "task"],
            "checks": [c.as_dict() for c in results],
            "transitions": recent,
            "policy": {
                "window": self.policy.window, "min_requests": self.policy.min_requests,
                "error_rate_degraded": self.policy.error_rate_degraded, "error_rate_unhealthy": self.policy.error_rate_unhealthy,
                "p95_degraded_ms": self.policy.p95_degraded_ms, "p95_unhealthy_ms": self.policy.p95_unhealthy_ms,
            },
        }

    def bind(self, telemetry: Any) -> None:
        """Export the status as a metric and status changes as log records, once the providers exist;
        start the background checks at the configured interval."""
        if telemetry.logger_provider is not None:
            self._otel_logger = telemetry.logger_provider.get_logger("otel_kit.health")
        if telemetry.meter_provider is not None:
            self.export_metrics(telemetry.meter)
        self.start_checks(float(getattr(telemetry.settings, "health_check_interval", 30.0)))

    def export_metrics(self, meter: Any) -> None:
        """``otel_kit.health.status`` (0 healthy, 1 degraded, 2 unhealthy) per target, for alerting."""
        from opentelemetry.metrics import CallbackOptions, Observation

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            overall, evaluated, checks, _ = self.evaluate()
            for target in evaluated:
                yield Observation(target.status.level, {"target.kind": target.kind, "target.name": target.name})
            for check in checks:
                yield Observation(check.status.level, {"target.kind": "component", "target.name": check.name})
            yield Observation(overall.level, {"target.kind": "overall", "target.name": "service"})

        meter.create_observable_gauge(
            "otel_kit.health.status", callbacks=[observe], unit="{status}",
            description="Health from spans and checks: 0 healthy, 1 degraded, 2 unhealthy",
        )


def _interpret(outcome: Any) -> tuple[Status, str]:
    if isinstance(outcome, Status):
        return outcome, outcome.value
    if isinstance(outcome, tuple) and len(outcome) == 2 and isinstance(outcome[0], Status):
        return outcome[0], str(outcome[1])
    if isinstance(outcome, Mapping) and "status" in outcome:
        return Status(outcome["status"]), str(outcome.get("detail", ""))
    if outcome is None or outcome is True:
        return Status.HEALTHY, "ok"
    if outcome is False:
        return Status.UNHEALTHY, "check returned False"
    return Status.HEALTHY, str(outcome)[:300]


# --- built-in component checks -----------------------------------------------------------------


def database_check(engine: Any, statement: str = "SELECT 1") -> Callable[[], tuple[Status, str]]:
    """Reachability through the app's own SQLAlchemy engine (sync or async engine)."""
    from sqlalchemy import text

    sync_engine = getattr(engine, "sync_engine", engine)

    def check() -> tuple[Status, str]:
        started = time.perf_counter()
        with sync_engine.connect() as connection:
            connection.execute(text(statement))
        return Status.HEALTHY, f"{sync_engine.dialect.name} reachable in {(time.perf_counter() - started) * 1000:.1f} ms"

    return check


def _headroom(name: str, percent: float, degraded: float, unhealthy: float) -> tuple[Status, str]:
    status = Status.UNHEALTHY if percent >= unhealthy else Status.DEGRADED if percent >= degraded else Status.HEALTHY
    return status, f"{name} {percent:.1f}% used (degraded at {degraded:g}%, unhealthy at {unhealthy:g}%)"


def disk_check(path: str = "/", degraded: float = 75.0, unhealthy: float = 90.0) -> Callable[[], tuple[Status, str]]:
    import psutil

    return lambda: _headroom(f"disk {path}", psutil.disk_usage(path).percent, degraded, unhealthy)


def memory_check(degraded: float = 75.0, unhealthy: float = 90.0) -> Callable[[], tuple[Status, str]]:
    import psutil

    return lambda: _headroom("memory", psutil.virtual_memory().percent, degraded, unhealthy)


def cpu_check(degraded: float = 75.0, unhealthy: float = 90.0) -> Callable[[], tuple[Status, str]]:
    import psutil

    # interval=None compares with the previous call: non-blocking, so the endpoint stays cheap
    psutil.cpu_percent(interval=None)
    return lambda: _headroom("cpu", psutil.cpu_percent(interval=None), degraded, unhealthy)


def register_default_checks(monitor: HealthMonitor, *, engine: Any = None, disk_path: str = "/") -> None:
    """Disk, memory and CPU headroom (non-critical: they degrade, never fail readiness), and the database."""
    monitor.register_check("disk", disk_check(disk_path), critical=False)
    monitor.register_check("memory", memory_check(), critical=False)
    monitor.register_check("cpu", cpu_check(), critical=False)
    if engine is not None:
        monitor.register_check("database", database_check(engine), timeout=2.0, critical=True)
