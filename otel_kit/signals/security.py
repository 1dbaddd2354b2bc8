"""Security signals: auth attempts, brute force, rate abuse, attack detection, IP blocking, audit.

Outputs are OpenTelemetry-native: a log record with ``event.name`` for each security event, an
event on the current (request) span, and metrics ``security.events`` (by type and severity) and
``security.auth.attempts`` (by result and method). IPs and user names never become metric
attributes (unbounded cardinality); they stay on log records and spans.

Detection patterns use only bounded repetition, so each runs in time linear in its input; the
middleware inspects the path, query string, selected headers and a bounded prefix of the body.
Enforcement (403 for blocked IPs and high-severity findings) is opt-in; observing is the default.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from opentelemetry import context as otel_context
from opentelemetry import trace

_log = logging.getLogger("otel_kit.security")

SEVERITIES = ("low", "medium", "high", "critical")
INSPECTED_HEADERS = (b"user-agent", b"referer", b"x-forwarded-host", b"x-original-url", b"x-rewrite-url")
MAX_FIELD = 8192
BODY_PREFIX = 8192
MAX_KEYS = 10_000

# --- detection -------------------------------------------------------------------------------------

# Cheap gate: text without any of these characters/words cannot match any pattern below, so
# most benign values cost one scan.
_SUSPICIOUS = re.compile(
    r"['\"<>;|`$\\(){}\ufffd\n]|\.\.|--|/\*|&|%00|\x00|%c0|"
    r"\b(?:or|and|xor|union|sleep|benchmark|etc|proc|exec|select|drop|shutdown|waitfor|having|order|script|javascript|vbscript|data|on[a-z]{2,20}|passwd|cmd|powershell|whoami|ping|nslookup|boot|win)\b",
    re.IGNORECASE,
)

_SQL_OPERAND = r"(?:['\"][^'\"]{0,30}['\"]|[\w@.]{1,30}(?:\s{0,5}\([^)]{0,60}\))?)"
_SQL_COMPARE = r"(?:=|<>|!=|<=?|>=?|\blike\b|\bis\b|\bin\b|\bbetween\b|\bregexp\b)"
_SHELL_COMMANDS = r"(?:cat|ls|id|whoami|uname|rm|wget|curl|nc|ncat|netcat|bash|sh|zsh|python\d?|perl|ruby|php|chmod|chown|ping|nslookup|echo|powershell|cmd(?:\.exe)?|ifconfig|env)"

_PATTERNS: dict[str, list[tuple[str, str, re.Pattern[str]]]] = {
    "sql_injection": [
        ("tautology", "high", re.compile(
            r"['\"`)]\s{0,10}(?:(?:or|and|xor)\s{1,10}|(?:\|\||&&)\s{0,10})\(?\s{0,5}" + _SQL_OPERAND + r"\s{0,5}" + _SQL_COMPARE, re.I)),
        ("boolean_suffix", "high", re.compile(r"['\"`)]\s{0,10}(?:or|and)\s{1,10}(?:true|false|not\s|sleep\s{0,5}\(|\d{1,10}\s{0,5}(?:--|#|$))", re.I)),
        ("numeric_tautology", "high", re.compile(r"\b(?:or|and)\s{1,10}\(?\s{0,5}(\d{1,10})\s{0,5}=\s{0,5}\1\b", re.I)),
        ("union_select", "critical", re.compile(r"\bunion(?:\s{1,10}|/\*.{0,40}?\*/)(?:all\s{1,10}|distinct\s{1,10})?(?:/\*.{0,40}?\*/)?select\b", re.I)),
        ("stacked_query", "critical", re.compile(
            r";\s{0,10}(?:(?:drop|delete|insert|update|alter|create|truncate|exec(?:ute)?|declare|select)\s{1,10}(?:table|from|into|database|user|@|\*|pg_sleep|\w{1,40}\s{0,5}(?:set|\(|values|where|from))|shutdown\b)", re.I)),
        ("time_based", "critical", re.compile(r"\b(?:sleep|pg_sleep|benchmark)\s{0,5}\(\s{0,5}\d|\bwaitfor\s{1,10}delay\s{1,10}['\"]", re.I)),
        ("error_based", "high", re.compile(r"\b(?:extractvalue|updatexml|geometrycollection|multipoint)\s{0,5}\(|\bexp\s{0,5}\(\s{0,5}~", re.I)),
        ("structure_probe", "high", re.compile(r"['\"`)]\s{0,10}(?:order\s{1,10}by\s{1,10}\d|group\s{1,10}by\b|having\s{1,10}\d)|\border\s{1,10}by\s{1,10}\d{1,3}\s{0,5}(?:--|#)", re.I)),
        ("comment_terminator", "medium", re.compile(r"['\"]\s{0,10}(?:\)\s{0,5})?(?:--|#|/\*|;\s{0,5}--)", re.I)),
        ("schema_probe", "high", re.compile(r"\b(?:information_schema|pg_catalog|sysobjects|syscolumns|sqlite_master|mysql\.user|pg_user)\b|\bxp_cmdshell\b|\b(?:load_file\s{0,5}\(|into\s{1,5}(?:out|dump)file\b)|@@version\b", re.I)),
        ("select_from", "high", re.compile(r"\bselect\s{1,10}(?:\*\s{0,10}from\b|@@\w{1,30}|(?:concat|group_concat|version|user|database|substring|ascii|char)\s{0,5}\(|[\w.]{1,40}\s{0,5},\s{0,5}[\w.]{1,40}\s{1,10}from\s{1,10}\w)", re.I)),
    ],
    "xss": [
        ("script_tag", "high", re.compile(r"<\s{0,5}/?\s{0,5}script\b", re.I)),
        ("event_handler", "high", re.compile(r"<[^>]{0,300}?[\s/\"'`]on[a-z]{2,20}\s{0,5}=", re.I)),
        ("js_uri", "high", re.compile(r"(?:java|vb)script\s{0,5}(?::|&colon;)|data\s{0,5}:\s{0,5}text/html", re.I)),
        ("dangerous_tag", "medium", re.compile(r"<\s{0,5}(?:iframe|object|embed|svg|math|base|meta|link|form|details|marquee|keygen|audio|video|style|body|textarea|select|input)\b[^>]{0,300}?(?:\son|src|href|action|content|@import|autofocus|srcdoc)", re.I)),
        ("dom_sink", "medium", re.compile(r"\b(?:document\.(?:cookie|domain|write)|window\.location|alert\s{0,5}[(`]|prompt\s{0,5}\(|confirm\s{0,5}\(|eval\s{0,5}\(\s{0,5}(?:atob|string|unescape)|fromcharcode)", re.I)),
        ("css_expression", "medium", re.compile(r"expression\s{0,5}\(\s{0,5}\w{1,20}\s{0,5}\(|url\s{0,5}\(\s{0,5}['\"]?\s{0,5}javascript", re.I)),
    ],
    "path_traversal": [
        ("dot_dot", "high", re.compile(r"(?:^|[/\\=;])\.{2,4}(?:[/\\]|\ufffd|;)|[/\\]\.{2,3}(?:$|[/\\?;])")),
        ("sensitive_file", "critical", re.compile(r"(?:\betc/(?:passwd|shadow|hosts|group)\b|/proc/self/|c:\\{1,2}windows\\{1,2}|\bboot\.ini\b|\bwin\.ini\b|\.ssh/|\.aws/credentials|/\.env\b|\.git/config|\bweb\.config\b|/var/log/auth)", re.I)),
        ("null_byte", "high", re.compile(r"\x00|%00")),
    ],
    "command_injection": [
        ("chained_command", "critical", re.compile(
            r"(?:;|\|\|?|&&|&|\n)\s{0,10}" + _SHELL_COMMANDS + r"\b(?:\s{1,10}[-/\w.$'\"]|\$\{ifs\}|\s{0,5}(?:$|[\"'`;|&)]))", re.I)),
        ("substitution", "critical", re.compile(r"\$\(\s{0,5}" + _SHELL_COMMANDS + r"\b[^)]{0,200}\)|`\s{0,5}" + _SHELL_COMMANDS + r"\b[^`]{0,200}`", re.I)),
        ("shell_path", "high", re.compile(r"/bin/(?:ba|z|c|k)?sh\b|/usr/bin/(?:env|python|perl|nc)\b|\bcmd(?:\.exe)?\s{1,5}/c\b|\bpowershell(?:\.exe)?\s{1,5}-", re.I)),
        ("reverse_shell", "critical", re.compile(r"\b(?:nc|ncat|netcat)\s{1,10}-[a-z]{0,5}[el]\b|/dev/tcp/", re.I)),
    ],
}
ATTACK_TYPES = tuple(_PATTERNS)


@dataclass(frozen=True)
class Finding:
    """One detected attack indicator."""

    type: str
    severity: str
    pattern: str
    location: str
    excerpt: str

    def as_attributes(self) -> dict[str, str]:
        return {
            "security.attack.type": self.type,
            "security.severity": self.severity,
            "security.attack.pattern": self.pattern,
            "security.attack.location": self.location,
            "security.attack.excerpt": self.excerpt,
        }


def normalize(text: str) -> str:
    """URL-decode up to four times (attackers multiply-encode) and bound the length."""
    text = text[:MAX_FIELD * 2]
    for _ in range(4):
        if "%" not in text and "+" not in text:
            break
        decoded = unquote_plus(text, errors="replace")
        if decoded == text:
            break
        text = decoded
    return text[:MAX_FIELD]


def inspect_text(text: str, location: str = "input", *, types: Iterable[str] = ATTACK_TYPES) -> list[Finding]:
    """All findings in ``text``; never raises, whatever the input."""
    try:
        if not isinstance(text, str) or not text:
            return []
        value = normalize(text)
        if _SUSPICIOUS.search(value) is None:
            return []
        findings = []
        for attack in types:
            for name, severity, pattern in _PATTERNS[attack]:
                match = pattern.search(value)
                if match is not None:
                    start = max(match.start() - 20, 0)
                    findings.append(Finding(attack, severity, name, location, value[start : match.end() + 20][:120]))
                    break
        return findings
    except Exception:  # noqa: BLE001 - a detector must never raise into the request
        return []


def _severity_at_least(severity: str, floor: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(floor)


# --- windows -----------------------------------------------------------------------------------------


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


# --- the monitor ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityPolicy:
    """Thresholds: brute force at ``failed_logins`` failures per IP or user within ``login_window_s``."""

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


class SecurityMonitor:
    """Records security events as logs, span events and metrics; detects and optionally blocks."""

    def __init__(self, telemetry: Any, *, enforce: bool = False, audit_key: str | None = None, policy: SecurityPolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.enforce = enforce
        self.policy = policy or SecurityPolicy()
        self._audit_key = audit_key.encode() if audit_key else None
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

    def inspect(self, values: Iterable[tuple[str, str]], ip: str | None = None) -> list[Finding]:
        findings: list[Finding] = []
        for location, text in values:
            for finding in inspect_text(text, location):
                findings.append(finding)
                self.event(f"attack.{finding.type}", finding.severity, f"{finding.type.replace('_', ' ')} in {location}", **finding.as_attributes(), **{"client.address": ip})
        return findings

    def should_refuse(self, findings: Iterable[Finding]) -> bool:
        return self.enforce and any(_severity_at_least(f.severity, self.policy.enforce_severity) for f in findings)

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


_SEVERITY_NUMBER = {"low": 9, "medium": 13, "high": 17, "critical": 21}


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


# --- ASGI middleware ---------------------------------------------------------------------------------

ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _client_ip(scope: Mapping[str, Any]) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


class SecurityMiddleware:
    """Inspects each HTTP request; refuses blocked IPs and attacks only when enforcing."""

    def __init__(self, app: ASGIApp, monitor: SecurityMonitor | None = None) -> None:
        self.app = app
        self._monitor = monitor

    def _active(self) -> SecurityMonitor | None:
        if self._monitor is not None:
            return self._monitor
        from otel_kit import telemetry

        state = telemetry.current()
        return state.security if state is not None else None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        monitor = self._active()
        if scope.get("type") != "http" or monitor is None:
            await self.app(scope, receive, send)
            return
        refuse = False
        try:
            ip = _client_ip(scope)
            if monitor.blocklist.is_blocked(ip):
                monitor._blocked_requests.add(1, {"security.reason": "blocked_ip"})
                refuse = monitor.enforce
            monitor.request(ip)
            values = [("path", scope.get("path", ""))]
            query = scope.get("query_string", b"")
            if query:
                values.append(("query", query.decode("latin-1")))
            for name, value in scope.get("headers", ()):
                if name in INSPECTED_HEADERS:
                    values.append((f"header.{name.decode()}", value.decode("latin-1")))
            findings = monitor.inspect(values, ip)
            if monitor.should_refuse(findings):
                monitor._blocked_requests.add(1, {"security.reason": "attack"})
                refuse = True
        except Exception:  # noqa: BLE001 - inspection must never fail a request
            refuse = False
        if refuse:
            await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b'{"detail":"Forbidden"}'})
            return
        await self.app(scope, self._inspecting_receive(receive, monitor, _client_ip(scope)), send)

    @staticmethod
    def _inspecting_receive(receive: Callable[[], Awaitable[Any]], monitor: SecurityMonitor, ip: str | None) -> Callable[[], Awaitable[Any]]:
        seen = 0

        async def wrapped() -> Any:
            nonlocal seen
            message = await receive()
            if seen < BODY_PREFIX and message.get("type") == "http.request":
                chunk = message.get("body", b"")[: BODY_PREFIX - seen]
                seen += len(chunk)
                if chunk:
                    try:
                        monitor.inspect([("body", chunk.decode("utf-8", errors="replace"))], ip)
                    except Exception:  # noqa: BLE001
                        pass
            return message

        return wrapped


# --- module-level API --------------------------------------------------------------------------------


def monitor() -> SecurityMonitor | None:
    from otel_kit import telemetry

    state = telemetry.current()
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
