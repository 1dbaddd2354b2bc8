"""`otel-kit health`: a verdict from Jaeger traces, printed or as JSON, with the level as exit status."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from otel_kit.cli import backends, main
from tests.test_offline import _request


@pytest.fixture(autouse=True)
def _own_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No default stack saved with other ports can change the Jaeger URL these tests expect."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))


def _serve(monkeypatch: pytest.MonkeyPatch, traces: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    calls: list[tuple[str, str, int]] = []

    def fake(base: str, service: str, lookback: str = "1h", limit: int = 1000, tags: Any = None) -> list[dict[str, Any]]:
        calls.append((service, lookback, limit))
        return traces

    monkeypatch.setattr(backends, "jaeger_traces", fake)
    return calls


def test_unhealthy_service_exits_2_with_reasons(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """A failing route makes the verdict unhealthy: reasons and a table are printed, exit status 2, no log noise."""
    now = time.time()
    calls = _serve(monkeypatch, [_request(i, now - 30, "/pay", 500) for i in range(1, 26)])
    assert main.main(["health", "--service", "shop"]) == 2
    out = capsys.readouterr().out.splitlines()
    assert calls == [("shop", "5m", 5000)]
    assert out[0] == "health of 'shop' from 25 traces in http://127.0.0.1:16686, window 5m: unhealthy"
    assert out[1] == "  - GET /pay: 100% errors over 5m, threshold 5%"
    assert any(line.split()[:3] == ["route", "GET", "/pay"] and line.endswith("unhealthy") for line in out)
    assert not [r for r in caplog.records if r.name.startswith("otel_kit")]  # an offline report announces no transitions


def test_healthy_json_and_policy_options(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Policy options apply; --json gives the verdict and targets; the limit note appears when reached."""
    now = time.time()
    _serve(monkeypatch, [_request(i, now - 5, "/pay", 500 if i == 1 else 200) for i in range(1, 11)])
    assert main.main(["health", "--service", "shop", "--window", "1m", "--json"]) == 0  # 10 requests: below the minimum of 20
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "healthy" and report["window"] == "1m" and report["traces"] == 10 and not report["limit_reached"]
    assert main.main(["health", "--service", "shop", "--min-requests", "5", "--error-rate-unhealthy", "0.5", "--limit", "10"]) == 1
    out = capsys.readouterr().out
    assert "10.0% errors over 5m, threshold 1%" in out and "--limit of 10 traces was reached" in out


def test_invalid_options_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad window, limit or threshold is rejected with the option, the value and what is accepted."""
    _serve(monkeypatch, [])
    with pytest.raises(SystemExit, match="invalid --window '1h': expected one of 1m, 5m"):
        main.main(["health", "--service", "shop", "--window", "1h"])
    with pytest.raises(SystemExit, match="invalid --limit 0"):
        main.main(["health", "--service", "shop", "--limit", "0"])
    with pytest.raises(SystemExit, match="invalid min_requests=0: expected an integer >= 1"):
        main.main(["health", "--service", "shop", "--min-requests", "0"])


def test_unknown_service_is_no_data_exit_3(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A service with no traces (a typo) is 'no data', exit 3, naming the services Jaeger has: a deploy gate cannot pass it."""
    _serve(monkeypatch, [])
    monkeypatch.setattr(backends, "jaeger_services", lambda base: ["billing", "shop"])
    assert main.main(["health", "--service", "shpo"]) == 3
    out = capsys.readouterr().out.splitlines()
    assert out == ["health of 'shpo' from http://127.0.0.1:16686, window 5m: no data", "  - Jaeger has no service 'shpo' (it has: billing, shop)"]
    assert main.main(["health", "--service", "shop", "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "no_data" and report["reasons"] == ["no traces of 'shop' in the last 5m"] and report["traces"] == 0


def test_traces_without_server_or_client_spans_are_no_data(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Traces that hold only internal spans give health nothing to judge: exit 3, saying so."""
    now = time.time()
    internal = _request(1, now - 10, "/pay", 200)
    for span in internal["spans"]:
        span["tags"] = [t for t in span["tags"] if t["key"] != "span.kind"] + [{"key": "span.kind", "type": "string", "value": "internal"}]
    _serve(monkeypatch, [internal])
    assert main.main(["health", "--service", "shop"]) == 3
    assert "1 traces of 'shop' in the last 5m, but no server or client span to judge" in capsys.readouterr().out
