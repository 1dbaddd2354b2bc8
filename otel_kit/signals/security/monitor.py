"""The security monitor: events, logins and brute force, rate abuse, IP blocking, signed audit.

Outputs are OpenTelemetry-native: a log record with ``event.name`` for each security event, an
event on the current (request) span, and metrics ``security.events`` (by type and severity) and
``security.auth.attempts`` (by result and method). IPs and user names never become metric
attributes (unbounded cardinality); they stay on log records and spans. Attack findings carry
the rule, location, shape and a keyed hash — never request content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_kit.signals.security.detect import ATTACK_TYPES, SEVERITIES, Finding, inspect_fields, severity_at_least
from otel_kit.signals.security.fields import VALUE, Field, is_sensitive_name

_log = logging.getLogger("otel_kit.security")

MAX_KEYS = 10_000
_SEVERITY_NUMBER = {"low": 9, "medium": 13, "high": 17, "critical": 21}


class SlidingCounter:
    """Counts events per key within a sliding window; bounded number of keys (LRU)."""

    def __init__(self, window_seconds: float, *, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS) -> None:
        self.window = window_seconds
        self._clock = clock
        self._max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> int:
        now = self._clock()
        with self._lock:
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= self._max_keys:
                    self._events.popitem(last=False)
                events = self._events[key] = deque()
            else:
                self._events.move_to_end(key)
            events.append(now)
            horizon = now - self.window
            while events and events[0] <= horizon:
                events.popleft()
            return len(events)

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


class BlockList:
    """IP addresses blocked until an expiry time."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._blocked: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def block(self, ip: str, seconds: float, reason: str = "") -> None:
        with self._lock:
            self._blocked[ip] = (self._clock() + seconds, reason)

    def unblock(self, ip: str) -> None:
        with self._lock:
            self._blocked.pop(ip, None)

    def is_blocked(self, ip: str | None) -> bool:
        if not ip or not self._blocked:
            return False
        with self._lock:
            entry = self._blocked.get(ip)
            if entry is None:
                return False
            if entry[0] <= self._clock():
                del self._blocked[ip]
                return False
            return True

    def entries(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        with self._lock:
            return {ip: {"expires_in_s": round(until - now, 1), "reason": reason} for ip, (until, reason) in self._blocked.items() if until > now}


@dataclass(frozen=True)
class SecurityPolicy:
    """Thresholds: brute force at ``failed_logins`` failures per IP or user within ``login_window_s``.

    ``enforce_severity`` is the lowest finding severity refused with 403 when enforcing; "high"
    flags under 0.1 % of the benign development corpus (see benchmarks/bench_security.py).
    """

    failed_logins: int = 5
    login_window_s: float = 300.0
    requests_per_window: int = 300
    request_window_s: float = 60.0
    block_seconds: float = 900.0
    block_on_brute_force: bool = True
    enforce_severity: str = "high"

    def __post_init__(self) -> None:
        from otel_kit.config.settings import ConfigError

        if self.failed_logins < 1:
            raise ConfigError("failed_logins", self.failed_logins, "an integer >= 1")
        if self.requests_per_window < 1:
            raise ConfigError("requests_per_window", self.requests_per_window, "an integer >= 1")
        if self.enforce_severity not in SEVERITIES:
            raise ConfigError("enforce_severity", self.enforce_severity, "one of " + ", ".join(SEVERITIES))


def _canonical(event: Mapping[str, Any]) -> bytes:
    payload = {k: v for k, v in event.items() if k != "signature"}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def sign(event: Mapping[str, Any], key: bytes | str) -> str:
    secret = key.encode() if isinstance(key, str) else key
    return hmac.new(secret, _canonical(event), hashlib.sha256).hexdigest()


def verify_audit(event: Mapping[str, Any], key: bytes | str) -> bool:
    """True when ``event['signature']`` matches the event's content under ``key``."""
    signature = event.get("signature")
    if not isinstance(signature, str):
        return False
    return hmac.compare_digest(signature, sign(event, key))


def _as_field(item: Field | tuple[str, str]) -> Field:
    if isinstance(item, Field):
        return item
    location, text = item
    return Field(location, text, VALUE, is_sensitive_name(location.rsplit(".", 1)[-1]))


class SecurityMonitor:
    """Records security events as logs, span events and metrics; detects and optionally blocks."""

    def __init__(self, telemetry: Any, *, enforce: bool = False, audit_key: str | None = None, policy: SecurityPolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.enforce = enforce
        self.policy = policy or SecurityPolicy()
        self._audit_key = audit_key.encode() if audit_key else None
        # Findings hash values for correlation with a key that never leaves the process: derived
        # from the audit key when there is one (stable across workers), else random per process.
        self.hash_key = hmac.new(self._audit_key, b"otel-kit security value hash", hashlib.sha256).digest() if self._audit_key else secrets.token_bytes(32)
        self._audit_warned = False
        self.blocklist = BlockList(clock=clock)
        self._failures_ip = SlidingCounter(self.policy.login_window_s, clock=clock)
        self._failures_user = SlidingCounter(self.policy.login_window_s, clock=clock)
        self._requests = SlidingCounter(self.policy.request_window_s, clock=clock)
        self._service = telemetry.settings.service_name
        provider = telemetry.logger_provider
        self._logger = provider.get_logger("otel_kit.security") if provider is not None else None
        meter = telemetry.meter
        self._events = meter.create_counter("security.events", unit="{event}", description="Security events by type and severity")
        self._auth = meter.create_counter("security.auth.attempts", unit="{attempt}", description="Authentication attempts by result and method")
        self._blocked_requests = meter.create_counter("security.blocked_requests", unit="{request}", description="Requests refused with 403 by enforcement")
        self._start_alerted_series_at_zero()

    def _start_alerted_series_at_zero(self) -> None:
        """Export the series the alert rules read with increase() from the start, at 0: the first
        attack, brute force or failed login of a fresh process then has an earlier sample to
        increase from (rules/security.yml)."""
        try:
            for attack in ATTACK_TYPES:
                for severity in ("high", "critical"):
                    self._events.add(0, {"security.event.type": f"attack.{attack}", "security.severity": severity})
            self._events.add(0, {"security.event.type": "brute_force", "security.severity": "high"})
            self._events.add(0, {"security.event.type": "rate_limit.exceeded", "security.severity": "medium"})
            self._auth.add(0, {"security.auth.result": "failure", "security.auth.method": "password"})
        except Exception:  # noqa: BLE001 - telemetry never breaks the host app
            _log.debug("security series at 0 failed", exc_info=True)

    # --- output ------------------------------------------------------------------------------------

    def event(self, event_type: str, severity: str = "medium", message: str = "", **attributes: Any) -> None:
        """Record a security event: log record + span event + ``security.events`` metric."""
        try:
            if severity not in SEVERITIES:
                severity = "medium"
            attrs: dict[str, Any] = {"security.event.type": event_type, "security.severity": severity}
            attrs.update({k: v for k, v in attributes.items() if v is not None and isinstance(v, (str, bool, int, float))})
            self._events.add(1, {"security.event.type": event_type, "security.severity": severity})
            span = trace.get_current_span()
            if span.is_recording():
                span.add_event(f"security.{event_type}", attrs)
            self._emit(f"security.{event_type}", message or event_type.replace("_", " "), attrs, _SEVERITY_NUMBER[severity])
        except Exception:  # noqa: BLE001
            _log.debug("security event failed", exc_info=True)

    def _emit(self, event_name: str, body: str, attributes: Mapping[str, Any], severity_number: int) -> None:
        if self._logger is None:
            return
        from opentelemetry._logs import LogRecord, SeverityNumber

        number = SeverityNumber(severity_number)
        self._logger.emit(
            LogRecord(
                timestamp=time.time_ns(), body=body, severity_number=number, severity_text=number.name,
                attributes=dict(attributes), event_name=event_name, context=otel_context.get_current(),
            )
        )

    def report(self, findings: Iterable[Finding], ip: str | None = None, **extra: Any) -> None:
        """Record each finding as ``security.attack.<type>`` (log record, span event, metric)."""
        for finding in findings:
            self.event(f"attack.{finding.type}", finding.severity, f"{finding.type.replace('_', ' ')} in {finding.location}", **finding.as_attributes(), **{"client.address": ip}, **extra)

    # --- app API -----------------------------------------------------------------------------------

    def auth_attempt(self, user: str | None, ip: str | None, success: bool, *, method: str = "password", reason: str | None = None) -> bool:
        """Record a login; returns True when this attempt tipped the IP or user into brute force."""
        try:
            result = "success" if success else "failure"
            self._auth.add(1, {"security.auth.result": result, "security.auth.method": method})
            if success:
                self.event("auth.success", "low", f"login succeeded for {user}", **{"user.name": user, "client.address": ip, "security.auth.method": method})
                return False
            self.event("auth.failure", "medium", f"login failed for {user}: {reason or 'invalid credentials'}", **{"user.name": user, "client.address": ip, "security.auth.method": method, "security.reason": reason})
            brute = False
            limit = self.policy.failed_logins
            if ip:
                count = self._failures_ip.add(ip)
                if count == limit:
                    brute = True
                    self._brute_force("client.address", ip, count)
            if user:
                count = self._failures_user.add(user)
                if count == limit:
                    brute = True
                    self._brute_force("user.name", user, count)
            return brute
        except Exception:  # noqa: BLE001
            return False

    def _brute_force(self, key: str, value: str, count: int) -> None:
        window = self.policy.login_window_s
        self.event("brute_force", "high", f"brute force: {count} failed logins for {key}={value} within {window:g} s", **{key: value, "security.failures": count, "security.window_s": window})
        if key == "client.address" and self.policy.block_on_brute_force:
            self.block_ip(value, self.policy.block_seconds, reason="brute_force")

    def authorization_failure(self, user: str | None, resource: str, action: str, ip: str | None = None) -> None:
        self.event("authz.denied", "medium", f"{user} may not {action} {resource}", **{"user.name": user, "client.address": ip, "security.resource": resource, "security.action": action})

    def block_ip(self, ip: str, seconds: float | None = None, *, reason: str = "manual") -> None:
        duration = self.policy.block_seconds if seconds is None else seconds
        self.blocklist.block(ip, duration, reason)
        self.event("ip.blocked", "high", f"blocked {ip} for {duration:g} s ({reason})", **{"client.address": ip, "security.block_seconds": duration, "security.reason": reason})

    def request(self, ip: str | None) -> bool:
        """Count a request from ``ip``; returns True when it crosses the rate-abuse threshold."""
        if not ip:
            return False
        count = self._requests.add(ip)
        if count == self.policy.requests_per_window + 1:
            self.event("rate_limit.exceeded", "medium", f"{ip} sent more than {self.policy.requests_per_window} requests in {self.policy.request_window_s:g} s", **{"client.address": ip, "security.requests": count})
            return True
        return False

    def detect(self, fields: Iterable[Field | tuple[str, str]]) -> list[Finding]:
        """Findings for ``fields`` without recording them (safe to run in a worker thread)."""
        return inspect_fields((_as_field(item) for item in fields), key=self.hash_key)

    def inspect(self, values: Iterable[Field | tuple[str, str]], ip: str | None = None) -> list[Finding]:
        """Detect and record: ``values`` are fields or ``(location, text)`` pairs."""
        findings = self.detect(values)
        self.report(findings, ip)
        return findings

    def should_refuse(self, findings: Iterable[Finding]) -> bool:
        return self.enforce and any(severity_at_least(f.severity, self.policy.enforce_severity) for f in findings)

    def count_refusal(self, reason: str) -> None:
        self._blocked_requests.add(1, {"security.reason": reason})

    # --- audit -------------------------------------------------------------------------------------

    def audit(self, action: str, *, actor: str, target: str = "", outcome: str = "success", **details: Any) -> dict[str, Any]:
        """Emit a signed audit event; returns the event (with ``signature``) as recorded."""
        event = {
            "timestamp": time.time(),
            "service": self._service,
            "action": action,
            "actor": actor,
            "target": target,
            "outcome": outcome,
            "details": {k: v for k, v in sorted(details.items())},
        }
        if self._audit_key is not None:
            event["signature"] = sign(event, self._audit_key)
        elif not self._audit_warned:
            self._audit_warned = True
            _log.warning("otel-kit: audit events are unsigned; set audit_key= or OTEL_KIT_AUDIT_KEY")
        attributes = {
            "audit.action": action, "audit.actor": actor, "audit.target": target, "audit.outcome": outcome,
            "audit.timestamp": event["timestamp"], "audit.details": json.dumps(event["details"], sort_keys=True, default=str),
            "audit.signature": event.get("signature", ""), "audit.signed": "signature" in event,
        }
        try:
            self._emit("security.audit", f"audit: {actor} {action} {target} ({outcome})", attributes, 9)
        except Exception:  # noqa: BLE001
            pass
        return event
