"""What ``otel-kit stack up`` reads from the environment for alerting and storage: Alertmanager's
receivers and timings, the AI budget, the runbook and dashboard links, and each backend's retention.

Only the receivers that are configured become active. Their secrets (webhook URLs, keys, the SMTP
password) go only into the stack's rendered ``alertmanager.yml``, created with mode 0600; what is
printed or returned for display names a channel by its host or address, never by its secret. An
invalid value warns once and falls back, like every other otel-kit variable.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_kit.config import environment as env

# Prometheus/Alertmanager durations: 90s, 5m, 1h30m, 7d, 2w.
_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
DEFAULT_RETENTION = {"jaeger": "7d", "loki": "30d", "prometheus": "15d"}
RETENTION_VARIABLES = {"jaeger": env.OTEL_KIT_JAEGER_RETENTION, "loki": env.OTEL_KIT_LOKI_RETENTION, "prometheus": env.OTEL_KIT_PROMETHEUS_RETENTION}
TIMINGS = {"group_wait": (env.OTEL_KIT_ALERT_GROUP_WAIT, "30s"), "group_interval": (env.OTEL_KIT_ALERT_GROUP_INTERVAL, "5m"), "repeat_interval": (env.OTEL_KIT_ALERT_REPEAT_INTERVAL, "4h")}
DEFAULT_AI_DAILY_BUDGET_USD = 50.0
DEFAULT_GRAFANA_URL = "http://127.0.0.1:3000"
# The receivers of the shipped alertmanager.yml, and which channels each gets.
NOTIFY, PAGE, TEST = "notify", "page", "otel-kit-test"
TEST_ALERT = "OtelKitTestAlert"
PAGING = ("pagerduty", "pushover")
SECRET_VARIABLES = (
    env.OTEL_KIT_ALERT_WEBHOOK_URL, env.OTEL_KIT_SLACK_WEBHOOK_URL, env.OTEL_KIT_PAGERDUTY_ROUTING_KEY,
    env.OTEL_KIT_PUSHOVER_USER_KEY, env.OTEL_KIT_PUSHOVER_TOKEN, env.OTEL_KIT_SMTP_PASSWORD,
)

Warn = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"otel-kit: {message}", file=sys.stderr, flush=True)


def seconds(duration: str) -> float:
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION_PART.findall(duration))


def duration(environ: Mapping[str, str], name: str, default: str, warn: Warn = _stderr) -> str:
    """``name``'s duration (``90s``, ``5m``, ``7d``); an invalid one warns and gives ``default``."""
    value = (environ.get(name) or "").strip()
    if not value:
        return default
    if not _DURATION.match(value) or seconds(value) <= 0:
        warn(f"{name}={value!r} is not a duration like 30s, 5m, 12h or 7d: using {default}")
        return default
    return value


def retention(backend: str, environ: Mapping[str, str] | None = None, warn: Warn = _stderr) -> str:
    """How long ``backend`` (jaeger, loki, prometheus) keeps data: its variable, else its default."""
    source = os.environ if environ is None else environ
    return duration(source, RETENTION_VARIABLES[backend], DEFAULT_RETENTION[backend], warn)


def go_duration(value: str) -> str:
    """A Prometheus-style duration as Go's ``time.ParseDuration`` reads it (no days or weeks)."""
    total = seconds(value)
    return f"{total / 3600:g}h" if total >= 3600 else f"{total:g}s"


def ai_daily_budget(environ: Mapping[str, str], warn: Warn = _stderr) -> float:
    raw = (environ.get(env.OTEL_KIT_AI_DAILY_BUDGET_USD) or "").strip()
    if not raw:
        return DEFAULT_AI_DAILY_BUDGET_USD
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        warn(f"{env.OTEL_KIT_AI_DAILY_BUDGET_USD}={raw!r} is not a positive number of USD: using {DEFAULT_AI_DAILY_BUDGET_USD:g}")
        return DEFAULT_AI_DAILY_BUDGET_USD
    return value


def _url(environ: Mapping[str, str], name: str, warn: Warn) -> str | None:
    value = (environ.get(name) or "").strip()
    if not value:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        warn(f"{name} is not an http:// or https:// URL: that receiver stays off")  # the value may be a secret: not shown
        return None
    return value


def where(url: str) -> str:
    """A URL as it may be shown: scheme and host, never the path or query (they often hold a token)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


@dataclass
class Channel:
    """One configured integration: its Alertmanager config block and how it may be shown."""

    kind: str  # Alertmanager's integration name: webhook, email, slack, pagerduty, pushover
    config: dict[str, Any]
    shown: str

    @property
    def paging(self) -> bool:
        return self.kind in PAGING


@dataclass
class Receivers:
    channels: list[Channel] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [channel.kind for channel in self.channels]

    def describe(self) -> str:
        return ", ".join(f"{c.kind} ({c.shown})" for c in self.channels) or "none"


_SUMMARY = '{{ range .Alerts }}[{{ .Status }}] {{ .Annotations.summary }}\n{{ end }}'
_SLACK_TEXT = (
    '{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n'
    '{{ if .Annotations.runbook_url }}Runbook: {{ .Annotations.runbook_url }}\n{{ end }}'
    '{{ if .Annotations.dashboard }}Dashboard: {{ .Annotations.dashboard }}\n{{ end }}{{ end }}'
)


def receivers_from(environ: Mapping[str, str] | None = None, warn: Warn = _stderr) -> Receivers:
    """The channels configured in the environment, each with its Alertmanager config."""
    source = os.environ if environ is None else environ
    found = Receivers()
    webhook = _url(source, env.OTEL_KIT_ALERT_WEBHOOK_URL, warn)
    if webhook:
        found.channels.append(Channel("webhook", {"url": webhook, "send_resolved": True}, where(webhook)))
    email = _email(source, warn)
    if email is not None:
        found.channels.append(email)
    slack = _url(source, env.OTEL_KIT_SLACK_WEBHOOK_URL, warn)
    if slack:
        found.channels.append(Channel("slack", {
            "api_url": slack, "send_resolved": True,
            "title": '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.service }})',
            "text": _SLACK_TEXT,
        }, where(slack)))
    routing_key = (source.get(env.OTEL_KIT_PAGERDUTY_ROUTING_KEY) or "").strip()
    if routing_key:
        found.channels.append(Channel("pagerduty", {
            "routing_key": routing_key, "send_resolved": True,
            "severity": '{{ if eq .CommonLabels.severity "critical" }}critical{{ else }}warning{{ end }}',
            "description": '{{ .CommonLabels.alertname }} ({{ .CommonLabels.service }}): {{ .CommonAnnotations.summary }}',
        }, "Events API v2"))
    user_key = (source.get(env.OTEL_KIT_PUSHOVER_USER_KEY) or "").strip()
    token = (source.get(env.OTEL_KIT_PUSHOVER_TOKEN) or "").strip()
    if user_key and token:
        found.channels.append(Channel("pushover", {
            "user_key": user_key, "token": token, "send_resolved": True,
            "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.service }})',
            "message": _SUMMARY, "priority": '{{ if eq .Status "firing" }}1{{ else }}0{{ end }}',
        }, "api.pushover.net"))
    elif user_key or token:
        missing = env.OTEL_KIT_PUSHOVER_TOKEN if user_key else env.OTEL_KIT_PUSHOVER_USER_KEY
        warn(f"Pushover needs both {env.OTEL_KIT_PUSHOVER_USER_KEY} and {env.OTEL_KIT_PUSHOVER_TOKEN}; {missing} is not set: that receiver stays off")
    return found


_ADDRESS = re.compile(r"^[^@\s,<>]+@[^@\s,<>]+$")


def _email(source: Mapping[str, str], warn: Warn) -> Channel | None:
    to = [part.strip() for part in (source.get(env.OTEL_KIT_ALERT_EMAIL_TO) or "").split(",") if part.strip()]
    host = (source.get(env.OTEL_KIT_SMTP_HOST) or "").strip()
    if not to and not host:
        return None
    if not to or not host:
        missing = env.OTEL_KIT_SMTP_HOST if to else env.OTEL_KIT_ALERT_EMAIL_TO
        warn(f"email alerts need {env.OTEL_KIT_ALERT_EMAIL_TO} and {env.OTEL_KIT_SMTP_HOST}; {missing} is not set: that receiver stays off")
        return None
    bad = [address for address in to if not _ADDRESS.match(address)]
    if bad or any(c.isspace() or c in "/@" for c in host):
        warn(f"{env.OTEL_KIT_ALERT_EMAIL_TO}/{env.OTEL_KIT_SMTP_HOST}: {', '.join(bad) or host!r} is not an address: that receiver stays off")
        return None
    tls = _flag(source, env.OTEL_KIT_SMTP_TLS, True, warn)
    port_text = (source.get(env.OTEL_KIT_SMTP_PORT) or "").strip()
    port = 587
    if port_text:
        if port_text.isdigit() and 0 < int(port_text) < 65536:
            port = int(port_text)
        else:
            warn(f"{env.OTEL_KIT_SMTP_PORT}={port_text!r} is not a port (1-65535): using 587")
    sender = (source.get(env.OTEL_KIT_SMTP_FROM) or "").strip() or "otel-kit-alerts@localhost"
    if not _ADDRESS.match(sender):
        warn(f"{env.OTEL_KIT_SMTP_FROM}={sender!r} is not an address: using otel-kit-alerts@localhost")
        sender = "otel-kit-alerts@localhost"
    config: dict[str, Any] = {
        "to": ", ".join(to), "from": sender, "smarthost": f"{host}:{port}", "require_tls": tls, "send_resolved": True,
        "headers": {"Subject": '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.service }})'},
    }
    user = (source.get(env.OTEL_KIT_SMTP_USER) or "").strip()
    password = source.get(env.OTEL_KIT_SMTP_PASSWORD) or ""
    if user:
        config["auth_username"] = user
        config["auth_password"] = password
        if not tls:
            warn(f"{env.OTEL_KIT_SMTP_USER} is set with {env.OTEL_KIT_SMTP_TLS}=false: the SMTP password would cross the network in clear text")
    return Channel("email", config, f"{', '.join(to)} via {host}:{port}")


def _flag(source: Mapping[str, str], name: str, default: bool, warn: Warn) -> bool:
    raw = (source.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    warn(f"{name}={raw!r} is not true or false: using {str(default).lower()}")
    return default


_RECEIVER_LINE = "  - name: {name}\n"
_TIMING_LINE = re.compile(r"^  (group_wait|group_interval|repeat_interval): \S+$", re.MULTILINE)


def render_alertmanager(shipped: str, receivers: Receivers, environ: Mapping[str, str] | None = None, warn: Warn = _stderr) -> str:
    """The shipped alertmanager.yml with the top-level timings from the environment and each
    receiver's integrations filled in (JSON flow style: valid YAML, and no quoting to get wrong)."""
    source = os.environ if environ is None else environ

    def timing(match: re.Match[str]) -> str:
        variable, default = TIMINGS[match.group(1)]
        return f"  {match.group(1)}: {duration(source, variable, default, warn)}"

    text = _TIMING_LINE.sub(timing, shipped)
    members = {NOTIFY: [c for c in receivers.channels if not c.paging], PAGE: receivers.channels, TEST: receivers.channels}
    for name, channels in members.items():
        line = _RECEIVER_LINE.format(name=name)
        if line not in text:
            if channels:
                warn(f"alertmanager.yml has no receiver {name!r}: the configured channels do not reach it")
            continue
        blocks: dict[str, list[dict[str, Any]]] = {}
        for channel in channels:
            blocks.setdefault(f"{channel.kind}_configs", []).append(channel.config)
        body = "".join(f"    {key}: {json.dumps(value)}\n" for key, value in blocks.items())
        text = text.replace(line, line + body, 1)
    return text


def write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by its owner only, from the first byte (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)  # whatever the umask did
    tmp.replace(path)


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` (an error from Alertmanager's log) without URLs' paths or the configured secrets."""
    source = os.environ if environ is None else environ
    text = re.sub(r"(https?://[^/\s\"']+)/[^\s\"']*", r"\1/<redacted>", text)
    for name in SECRET_VARIABLES:
        secret = (source.get(name) or "").strip()
        if len(secret) >= 4:
            text = text.replace(secret, "<secret>")
    return text
