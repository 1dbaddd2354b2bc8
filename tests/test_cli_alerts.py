"""``otel-kit alerts`` against small stand-ins for Prometheus, Loki's ruler and Alertmanager's APIs
(the real ones are in tests/e2e/test_alerts.py); parsing Alertmanager's status, metrics and logs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from otel_kit.cli import alerts
from otel_kit.cli.errors import EXIT_UNREACHABLE, EXIT_USAGE, UsageError
from otel_kit.cli.main import main

# /api/v2/status's config.original as Alertmanager 0.25 prints it (trimmed to the test receiver).
STATUS_CONFIG = """receivers:
- name: page
  webhook_configs:
  - send_resolved: true
    url: http://127.0.0.1:1/page
- name: otel-kit-test
  email_configs:
  - send_resolved: true
    to: ops@example.test
    smarthost: smtp.example.test:587
    headers:
      Subject: '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname
        }}'
    require_tls: true
  webhook_configs:
  - send_resolved: true
    http_config:
      follow_redirects: true
    url: https://hooks.example.test/path/s3cret-token
    max_alerts: 0
  - send_resolved: true
    url: <secret>
  pagerduty_configs:
  - routing_key: <secret>
templates: []
"""


def _alert(name: str, state: str, severity: str, **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, "severity": severity, **labels}, "annotations": {"summary": f"{name} summary", "runbook_url": "r#x"},
            "state": state, "activeAt": "2026-11-23T10:00:00Z", "value": "1"}


class FakeBackends(BaseHTTPRequestHandler):
    """Prometheus, Loki's ruler and Alertmanager on one port; Alertmanager delivers webhooks and fails email."""

    prometheus: list[dict[str, Any]] = []
    loki_status = 200
    posted: list[list[dict[str, Any]]] = []
    attempts = {"webhook": 0.0, "email": 0.0, "pagerduty": 0.0}
    failed = {"webhook": 0.0, "email": 0.0, "pagerduty": 0.0}
    log: Path | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, body: Any, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        cls = type(self)
        if self.path == "/api/v1/alerts":
            self._json({"status": "success", "data": {"alerts": cls.prometheus}})
        elif self.path == "/prometheus/api/v1/alerts":
            self._json({"status": "success", "data": {"alerts": [_alert("CriticalSecurityEvent", "firing", "critical", service="shop", service_name="shop")]}}, cls.loki_status)
        elif self.path.startswith("/api/v2/alerts"):
            self._json([{"labels": {"alertname": "HighCPU", "severity": "warning", "job": "shop", "service": "shop"},
                         "status": {"state": "suppressed", "inhibitedBy": ["abc"], "silencedBy": []}}])
        elif self.path == "/api/v2/status":
            self._json({"config": {"original": STATUS_CONFIG}})
        elif self.path == "/metrics":
            lines = [f'alertmanager_notification_requests_total{{integration="{k}"}} {v}' for k, v in cls.attempts.items()]
            lines += [f'alertmanager_notification_requests_failed_total{{integration="{k}"}} {v}' for k, v in cls.failed.items()]
            body = ("\n".join(lines) + "\n").encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
        else:
            self._json({"error": "not found"}, 404)

    def do_POST(self) -> None:
        cls = type(self)
        cls.posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        if len(cls.posted) == 1:  # the firing test alert: what Alertmanager would do with it
            cls.attempts["webhook"] += 2
            cls.attempts["pagerduty"] += 1
            cls.attempts["email"] += 1
            cls.failed["email"] += 1
            assert cls.log is not None
            with cls.log.open("a") as handle:
                handle.write('ts=2026-11-23T19:49:55Z caller=notify.go:732 level=warn component=dispatcher receiver=notify integration=email[0] '
                             'msg="Notify attempt failed, will retry later" attempts=1 err="an alert of another receiver"\n')
                handle.write('time=2026-11-23T19:49:56Z level=WARN source=retry_stage.go:150 msg="Notify attempt failed, will retry later" '
                             'component=dispatcher receiver=otel-kit-test integration=email[0] aggrGroup="{}" attempts=1 '
                             'err="establish connection to server: dial tcp 10.0.0.5:587: connect: connection refused"\n')
        self._json({})


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[str]:
    FakeBackends.prometheus = [
        _alert("HighCPU", "firing", "warning", job="shop"), _alert("HighCPU", "firing", "critical", job="shop"),
        _alert("ServiceRestarted", "pending", "info", job="api"),
    ]
    FakeBackends.loki_status = 200
    FakeBackends.posted = []
    FakeBackends.attempts = {"webhook": 5.0, "email": 0.0, "pagerduty": 0.0}
    FakeBackends.failed = {"webhook": 1.0, "email": 0.0, "pagerduty": 0.0}
    FakeBackends.log = tmp_path / "alertmanager.log"
    FakeBackends.log.write_text('level=warn receiver=otel-kit-test integration=webhook[0] msg="Notify attempt failed" err="before the test"\n')
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeBackends)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_list_orders_firing_first_and_marks_what_alertmanager_holds_back(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Firing before pending, critical before warning; Loki's alerts included; an inhibited alert is marked."""
    assert main(["alerts", "--prometheus", backend, "--loki", backend, "--alertmanager", backend]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "3 firing, 1 pending"
    assert [line.split()[:3] for line in lines[1:]] == [
        ["firing", "critical", "CriticalSecurityEvent"], ["firing", "critical", "HighCPU"], ["firing", "(inhibited)", "warning"], ["pending", "info", "ServiceRestarted"],
    ]
    assert "HighCPU summary" in lines[2]


def test_list_json_and_an_unreachable_ruler(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--json carries summaries, sources and runbooks; Loki answering an error is a note, not a failure."""
    FakeBackends.loki_status = 500
    assert main(["alerts", "--prometheus", backend, "--loki", backend, "--alertmanager", backend, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {(a["alertname"], a["source"], a["held_back"]) for a in report["alerts"]} == {
        ("HighCPU", "prometheus", ""), ("HighCPU", "prometheus", "inhibited"), ("ServiceRestarted", "prometheus", "")}
    assert report["notes"] and "Loki's ruler" in report["notes"][0]
    assert all(a["summary"] and a["runbook_url"] == "r#x" for a in report["alerts"])


def test_unreachable_prometheus_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    """No Prometheus: one line naming its URL and the option, exit 4."""
    assert main(["alerts", "--prometheus", "http://127.0.0.1:9", "--loki", "http://127.0.0.1:9", "--alertmanager", "http://127.0.0.1:9"]) == EXIT_UNREACHABLE
    assert "cannot reach Prometheus at http://127.0.0.1:9" in capsys.readouterr().err


def test_test_receiver_integrations_are_read_from_alertmanager_status() -> None:
    """Each integration of the otel-kit-test receiver, numbered per kind, shown without its secret."""
    found = alerts.test_integrations(STATUS_CONFIG)
    assert found is not None
    assert [(i.name, i.shown) for i in found] == [
        ("email[0]", "ops@example.test via smtp.example.test:587"), ("webhook[0]", "https://hooks.example.test"), ("webhook[1]", "webhook"),
        ("pagerduty[0]", "Events API v2"),
    ]
    assert alerts.test_integrations("receivers:\n- name: page\n") is None
    assert alerts.test_integrations("receivers:\n- name: otel-kit-test\ntemplates: []\n") == []


def test_metrics_and_log_parsing_for_both_alertmanager_versions() -> None:
    """Attempts and failures per integration summed over receivers; the test receiver's failures from 0.25's and 0.34's log lines."""
    metrics = (
        '# HELP x\nalertmanager_notification_requests_total{integration="email",receiver_name="page"} 3\n'
        'alertmanager_notification_requests_total{integration="email",receiver_name="otel-kit-test"} 2\n'
        'alertmanager_notification_requests_failed_total{integration="email",receiver_name="page"} 1\n'
        'alertmanager_notifications_total{integration="email"} 99\n'
    )
    assert alerts.notification_counts(metrics) == {"email": (5.0, 1.0)}
    log = (
        'ts=1 level=warn component=dispatcher receiver=otel-kit-test integration=slack[0] msg="Notify attempt failed, will retry later" '
        'attempts=1 err="Post \\"https://hooks.slack.com/<redacted>\\": 404"\n'
        'time=2 level=WARN msg="Notify attempt failed, will retry later" receiver=otel-kit-test integration=email[0] attempts=2 err="535 auth failed"\n'
        'time=3 level=WARN msg="Notify attempt failed, will retry later" receiver=page integration=webhook[0] attempts=2 err="other receiver"\n'
        'time=4 level=DEBUG msg="Notify success" receiver=otel-kit-test integration=webhook[0]\n'
    )
    assert alerts.failure_reasons(log) == {"slack[0]": 'Post "https://hooks.slack.com/<redacted>": 404', "email[0]": "535 auth failed"}


def test_test_reports_each_receiver_with_the_reason(backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Delivered where Alertmanager's counters say so, failed with the logged reason, and the test alert is resolved at the end."""
    code = alerts.run_test(alertmanager=backend, log=FakeBackends.log, timeout=5, as_json=True)
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["delivered"] is False
    outcomes = {r["name"]: (r["outcome"], r["reason"]) for r in report["receivers"]}
    assert outcomes == {
        "email[0]": ("failed", "establish connection to server: dial tcp 10.0.0.5:587: connect: connection refused"),
        "webhook[0]": ("delivered", ""), "webhook[1]": ("delivered", ""), "pagerduty[0]": ("delivered", ""),
    }
    firing, resolved = FakeBackends.posted
    assert firing[0]["labels"]["alertname"] == "OtelKitTestAlert" and firing[0]["labels"]["test_id"] == report["test_id"]
    assert resolved[0]["labels"] == firing[0]["labels"] and resolved[0]["endsAt"] < firing[0]["endsAt"]


def test_test_without_receivers_or_without_otel_kit_config(backend: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """No configured receiver, or an Alertmanager without otel-kit's routes: exit 1 with what to do, nothing sent."""
    monkeypatch.setattr(alerts, "test_integrations", lambda text: [])
    assert alerts.run_test(alertmanager=backend, timeout=1) == 1
    assert "set OTEL_KIT_ALERT_WEBHOOK_URL" in capsys.readouterr().err
    monkeypatch.setattr(alerts, "test_integrations", lambda text: None)
    assert alerts.run_test(alertmanager=backend, timeout=1) == 1
    assert "has no 'otel-kit-test' receiver" in capsys.readouterr().err
    assert FakeBackends.posted == []


def test_config_writes_a_private_file_and_needs_output(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`alerts config --output FILE` renders this environment's receivers (mode 0600, secret not printed); without --output it is a usage error."""
    monkeypatch.setenv("OTEL_KIT_SLACK_WEBHOOK_URL", "https://hooks.slack.example.test/services/T/B/sl-s3cret")
    target = tmp_path / "alertmanager.local.yml"
    assert main(["alerts", "config", "--output", str(target)]) == 0
    out = capsys.readouterr().out
    assert "slack (https://hooks.slack.example.test)" in out and "s3cret" not in out
    assert target.stat().st_mode & 0o777 == 0o600 and "sl-s3cret" in target.read_text()
    with pytest.raises(UsageError) as raised:
        main(["alerts", "config"])
    assert raised.value.code == EXIT_USAGE and "--output FILE is required" in raised.value.message
    with pytest.raises(UsageError):
        main(["alerts", "test", "--alertmanager", "http://127.0.0.1:9", "--timeout", "0"])
