"""``otel-kit alerts``: what fires and what is pending, and ``otel-kit alerts test``: a synthetic alert
through Alertmanager to every configured receiver, each reported delivered or failed with the reason.

The list reads the rule evaluators (Prometheus, and Loki's ruler for log-based alerts) and marks
what Alertmanager holds back (inhibited, silenced). The test posts ``OtelKitTestAlert``, which the
shipped alertmanager.yml routes to the ``otel-kit-test`` receiver (every configured channel), then
watches Alertmanager's notification counters per integration and, for a local stack, its log for
the reason of a failure; it resolves the alert at the end. Nothing printed carries a secret: URLs
are shown by host, the configured secrets are masked in reasons.
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from otel_kit.cli import backends
from otel_kit.cli.errors import BackendError
from otel_kit.cli.stack.alerting import TEST, TEST_ALERT, redact, where

_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
_STATE_ORDER = {"firing": 0, "pending": 1}


# --- otel-kit alerts ------------------------------------------------------------------------------


def _rule_alerts(base: str, path: str, backend: str, source: str) -> list[dict[str, Any]]:
    data = backends.get_json(f"{base}{path}", backend=backend)
    rows = []
    for alert in data.get("data", {}).get("alerts", []) or []:
        labels = dict(alert.get("labels") or {})
        annotations = alert.get("annotations") or {}
        rows.append({
            "alertname": labels.get("alertname", ""), "state": alert.get("state", ""), "severity": labels.get("severity", ""),
            "service": labels.get("service") or labels.get("job") or labels.get("service_name") or "",
            "summary": annotations.get("summary", ""), "since": alert.get("activeAt", ""), "source": source, "labels": labels,
            "runbook_url": annotations.get("runbook_url", ""),
        })
    return rows


def _held_back(alertmanager: str) -> list[dict[str, Any]]:
    """Alertmanager's alerts that are suppressed, with why (inhibited, silenced)."""
    url = f"{alertmanager}/api/v2/alerts?active=false&silenced=true&inhibited=true&unprocessed=false"
    try:
        with urllib.request.urlopen(url, timeout=backends.TIMEOUT_S) as response:
            data = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return []
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _suppression(row: dict[str, Any], held: list[dict[str, Any]]) -> str:
    for item in held:
        labels = item.get("labels") or {}
        if all(labels.get(key) == value for key, value in row["labels"].items()):
            status = item.get("status") or {}
            if status.get("inhibitedBy"):
                return "inhibited"
            if status.get("silencedBy"):
                return "silenced"
    return ""


def run_list(*, prometheus: str, loki: str | None, alertmanager: str | None, as_json: bool) -> int:
    rows = _rule_alerts(prometheus, "/api/v1/alerts", "Prometheus", "prometheus")
    notes = []
    if loki:
        try:
            rows += _rule_alerts(loki, "/prometheus/api/v1/alerts", "Loki", "loki")
        except BackendError as exc:
            notes.append(f"log-based alerts not shown: Loki's ruler at {exc.base} answered {exc.reason}")
    held = _held_back(alertmanager) if alertmanager else []
    for row in rows:
        row["held_back"] = _suppression(row, held) if row["state"] == "firing" else ""
    rows.sort(key=lambda r: (_STATE_ORDER.get(r["state"], 9), _SEVERITY_ORDER.get(r["severity"], 9), r["alertname"], r["service"]))
    if as_json:
        print(json.dumps({"alerts": [{k: v for k, v in row.items() if k != "labels"} | {"labels": row["labels"]} for row in rows], "notes": notes}, indent=2))
        return 0
    for note in notes:
        print(f"otel-kit alerts: {note}", file=sys.stderr)
    firing = sum(1 for r in rows if r["state"] == "firing")
    print(f"{firing} firing, {len(rows) - firing} pending")
    for row in rows:
        state = row["state"] + (f" ({row['held_back']})" if row["held_back"] else "")
        where_ = row["service"] or "-"
        print(f"  {state:<20} {row['severity'] or '-':<8} {row['alertname']:<24} {where_:<20} {row['summary']}")
    return 0


# --- otel-kit alerts test -------------------------------------------------------------------------


@dataclass
class Integration:
    kind: str  # webhook, email, slack, pagerduty, pushover
    index: int
    shown: str
    outcome: str = "no attempt"  # delivered | failed | no attempt
    reason: str = ""
    attempts: int = 0

    @property
    def name(self) -> str:
        return f"{self.kind}[{self.index}]"


_HEADER = re.compile(r"^  (\w+)_configs:$")
_FIELD = re.compile(r"^ {4}(\w+): (.*)$")


def test_integrations(config_text: str) -> list[Integration] | None:
    """The integrations of the ``otel-kit-test`` receiver in Alertmanager's configuration as its
    /api/v2/status prints it (its own YAML layout); None when there is no such receiver."""
    lines = config_text.splitlines()
    try:
        start = lines.index(f"- name: {TEST}") + 1
    except ValueError:
        return None
    found: list[tuple[Integration, dict[str, str]]] = []
    kind = ""
    for line in lines[start:]:
        if line.startswith("- ") or (line and not line.startswith(" ")):
            break  # the next receiver, or the next top-level key
        header = _HEADER.match(line)
        if header:
            kind = header.group(1)
            continue
        if kind and line.startswith("  - "):
            found.append((Integration(kind, sum(1 for i, _ in found if i.kind == kind), kind), {}))
            line = "    " + line[4:]
        field = _FIELD.match(line)
        if found and field:
            found[-1][1][field.group(1)] = field.group(2).strip().strip("'\"")
    for integration, fields in found:
        integration.shown = _shown(integration.kind, fields)
    return [integration for integration, _ in found]


def _shown(kind: str, fields: dict[str, str]) -> str:
    if kind == "email":
        return f"{fields.get('to', '?')} via {fields.get('smarthost', '?')}"
    for key in ("url", "api_url"):
        value = fields.get(key, "")
        if value.startswith(("http://", "https://")):
            return where(value)
    return {"pagerduty": "Events API v2", "pushover": "api.pushover.net", "slack": "Slack"}.get(kind, kind)


_SAMPLE = re.compile(r'^alertmanager_notification_requests(_failed)?_total\{([^}]*)\}\s+([0-9.eE+-]+)$', re.MULTILINE)


def notification_counts(metrics_text: str) -> dict[str, tuple[float, float]]:
    """Attempted and failed notification requests per integration (summed over receivers)."""
    counts: dict[str, list[float]] = {}
    for failed, labels, value in _SAMPLE.findall(metrics_text):
        match = re.search(r'integration="([^"]*)"', labels)
        if match:
            pair = counts.setdefault(match.group(1), [0.0, 0.0])
            pair[1 if failed else 0] += float(value)
    return {kind: (pair[0], pair[1]) for kind, pair in counts.items()}


_LOGFMT = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def failure_reasons(log_text: str) -> dict[str, str]:
    """The last failure Alertmanager logged per ``kind[i]`` integration of the test receiver."""
    reasons: dict[str, str] = {}
    for line in log_text.splitlines():
        if "Notify attempt failed" not in line and "Notify for alerts failed" not in line:
            continue
        fields = {key: value[1:-1].replace('\\"', '"') if value.startswith('"') else value for key, value in _LOGFMT.findall(line)}
        integration = fields.get("integration", "")
        if fields.get("receiver") == TEST and integration and fields.get("err"):
            reasons[integration] = fields["err"]
    return reasons


def _http(url: str, body: Any = None, timeout: float = 10.0) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        raise BackendError("Alertmanager", _base(url), urllib.parse.urlsplit(url).path, f"HTTP {exc.code}", exc.code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BackendError("Alertmanager", _base(url), urllib.parse.urlsplit(url).path, backends._reason(exc)) from None


def _base(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _alert(test_id: str, ends: datetime) -> list[dict[str, Any]]:
    now = datetime.now(timezone.utc)
    return [{
        "labels": {"alertname": TEST_ALERT, "severity": "info", "service": "otel-kit", "test_id": test_id},
        "annotations": {
            "summary": f"otel-kit alerts test {test_id}: this channel receives otel-kit's alerts",
            "description": "Sent by `otel-kit alerts test` to check delivery; nothing is wrong.",
        },
        "startsAt": now.isoformat(), "endsAt": ends.isoformat(),
    }]


def _log_tail(log: Path | None, offset: int) -> str:
    if log is None:
        return ""
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_test(*, alertmanager: str, log: Path | None = None, timeout: float = 60.0, as_json: bool = False) -> int:
    status = json.loads(_http(f"{alertmanager}/api/v2/status"))
    integrations = test_integrations(str((status.get("config") or {}).get("original") or ""))
    if integrations is None:
        print(f"otel-kit alerts test: Alertmanager at {alertmanager} has no {TEST!r} receiver: it does not run otel-kit's alertmanager.yml "
              "(`otel-kit stack up` renders it; `otel-kit alerts config --output FILE` writes it for another Alertmanager)", file=sys.stderr)
        return 1
    if not integrations:
        print("otel-kit alerts test: no receiver is configured: set OTEL_KIT_ALERT_WEBHOOK_URL, OTEL_KIT_ALERT_EMAIL_TO + OTEL_KIT_SMTP_HOST, "
              "OTEL_KIT_SLACK_WEBHOOK_URL, OTEL_KIT_PAGERDUTY_ROUTING_KEY or OTEL_KIT_PUSHOVER_USER_KEY + OTEL_KIT_PUSHOVER_TOKEN, "
              "then `otel-kit stack up` again (a running stack reloads them)", file=sys.stderr)
        return 1
    offset = log.stat().st_size if log is not None and log.exists() else 0
    before = notification_counts(_http(f"{alertmanager}/metrics").decode("utf-8", "replace"))
    test_id = uuid.uuid4().hex[:12]
    started = time.monotonic()
    _http(f"{alertmanager}/api/v2/alerts", _alert(test_id, datetime.now(timezone.utc) + timedelta(minutes=10)))
    kinds = sorted({i.kind for i in integrations})
    deadline = started + timeout
    while True:
        after = notification_counts(_http(f"{alertmanager}/metrics").decode("utf-8", "replace"))
        reasons = failure_reasons(_log_tail(log, offset))
        pending = False
        for kind in kinds:
            total = after.get(kind, (0.0, 0.0))[0] - before.get(kind, (0.0, 0.0))[0]
            failed = after.get(kind, (0.0, 0.0))[1] - before.get(kind, (0.0, 0.0))[1]
            members = [i for i in integrations if i.kind == kind]
            for member in members:
                member.attempts = int(total / len(members))
                reason = reasons.get(member.name, "")
                if total - failed >= len(members):
                    member.outcome, member.reason = "delivered", ""
                elif reason or failed >= 2 * len(members):
                    # two failed attempts (Alertmanager retries with backoff): report, do not wait out the retries
                    member.outcome = "failed"
                    member.reason = redact(reason) if reason else f"{int(failed)} failed attempts (the reason is in Alertmanager's log)"
                else:
                    pending = True
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    for member in integrations:
        if member.outcome == "no attempt":
            member.reason = f"Alertmanager made no attempt within {timeout:g} s"
    # resolved: the channels that take resolved notifications see the test end; PagerDuty closes its incident
    try:
        _http(f"{alertmanager}/api/v2/alerts", _alert(test_id, datetime.now(timezone.utc)))
    except BackendError:
        pass
    delivered = all(i.outcome == "delivered" for i in integrations)
    if as_json:
        print(json.dumps({"alertmanager": alertmanager, "test_id": test_id, "delivered": delivered,
                          "receivers": [asdict(i) | {"name": i.name} for i in integrations]}, indent=2))
    else:
        print(f"otel-kit alerts test: sent {TEST_ALERT} (test_id {test_id}) through {alertmanager}")
        width = max(len(i.name) for i in integrations)
        for i in integrations:
            verdict = "delivered" if i.outcome == "delivered" else f"{i.outcome}: {i.reason}"
            print(f"  {i.name.ljust(width)}  {i.shown:<36} {verdict}")
    return 0 if delivered else 1


# --- otel-kit alerts config -----------------------------------------------------------------------


def run_config(output: str) -> int:
    """Write alertmanager.yml with the receivers of this environment, for an Alertmanager of your own
    (docker-compose): the same rendering as `otel-kit stack up`, into a file only its owner reads."""
    from otel_kit.cli.stack import config_dir
    from otel_kit.cli.stack.alerting import receivers_from, render_alertmanager, write_private

    receivers = receivers_from()
    target = Path(output).expanduser()
    write_private(target, render_alertmanager((config_dir() / "alertmanager.yml").read_text(), receivers))
    print(f"wrote {target} (mode 0600) with receivers: {receivers.describe()}")
    return 0
