"""Security signals: auth attempts, brute force, rate abuse, attack detection, IP blocking, audit.

The package is split by job: ``decoding`` (how servers and browsers decode a value),
``fields`` (a request split into named fields), the detectors ``sql``, ``html``, ``paths`` and
``shell``, ``detect`` (findings without request content), ``monitor`` (events, brute force,
blocking, audit), ``taint`` (request values concatenated into SQL) and ``middleware`` (ASGI).
Observing is the default; enforcement (403 for blocked IPs and high-severity findings) is opt-in.
"""

from __future__ import annotations

from typing import Any

from otel_kit.providers import active
from otel_kit.signals.security.decoding import MAX_FIELD, decode, normalize
from otel_kit.signals.security.detect import ATTACK_TYPES, SEVERITIES, Finding, inspect_field, inspect_fields, inspect_text
from otel_kit.signals.security.fields import INSPECTED_HEADERS, Field, body_fields, is_sensitive_name, request_fields
from otel_kit.signals.security.middleware import BODY_PREFIX, SecurityMiddleware
from otel_kit.signals.security.monitor import MAX_KEYS, BlockList, SecurityMonitor, SecurityPolicy, SlidingCounter, sign, verify_audit

__all__ = [
    "ATTACK_TYPES", "BODY_PREFIX", "INSPECTED_HEADERS", "MAX_FIELD", "MAX_KEYS", "SEVERITIES", "BlockList", "Field", "Finding",
    "SecurityMiddleware", "SecurityMonitor", "SecurityPolicy", "SlidingCounter", "audit", "auth_attempt",
    "authorization_failure", "body_fields", "decode", "event", "inspect_field", "inspect_fields", "inspect_text",
    "is_sensitive_name", "monitor", "normalize", "request_fields", "sign", "verify_audit",
]


def monitor() -> SecurityMonitor | None:
    state = active.current()
    return state.security if state is not None else None


def auth_attempt(user: str | None, ip: str | None, success: bool, *, method: str = "password", reason: str | None = None) -> bool:
    active = monitor()
    return active.auth_attempt(user, ip, success, method=method, reason=reason) if active is not None else False


def authorization_failure(user: str | None, resource: str, action: str, ip: str | None = None) -> None:
    active = monitor()
    if active is not None:
        active.authorization_failure(user, resource, action, ip)


def event(event_type: str, severity: str = "medium", message: str = "", **attributes: Any) -> None:
    active = monitor()
    if active is not None:
        active.event(event_type, severity, message, **attributes)


def audit(action: str, *, actor: str, target: str = "", outcome: str = "success", **details: Any) -> dict[str, Any] | None:
    active = monitor()
    return active.audit(action, actor=actor, target=target, outcome=outcome, **details) if active is not None else None
