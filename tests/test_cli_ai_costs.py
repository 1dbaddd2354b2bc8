"""``otel-kit ai-costs`` against a tiny fake Prometheus query API."""

from __future__ import annotations

import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from otel_kit.cli import ai_costs
from otel_kit.cli.errors import EXIT_UNREACHABLE, EXIT_USAGE, UsageError
from otel_kit.cli.main import main

NOW = datetime(2026, 11, 11, 0, 0, tzinfo=timezone.utc)  # 10 days into a 30-day month


def _series(labels: dict[str, str], value: float) -> dict[str, Any]:
    return {"metric": labels, "value": [NOW.timestamp(), str(value)]}


ANSWERS: dict[str, list[dict[str, Any]]] = {
    "otel_kit_ai_cost_USD_total|window": [_series({"gen_ai_request_model": "gpt-4o-mini"}, 1.5), _series({"gen_ai_request_model": "claude-opus-4-5"}, 4.0)],
    "otel_kit_ai_cost_USD_total|month": [_series({"gen_ai_request_model": "gpt-4o-mini"}, 20.0), _series({"gen_ai_request_model": "claude-opus-4-5"}, 40.0)],
    "gen_ai_client_token_usage_sum": [
        _series({"gen_ai_request_model": "gpt-4o-mini", "gen_ai_token_type": "input"}, 12000.4),
        _series({"gen_ai_request_model": "gpt-4o-mini", "gen_ai_token_type": "output"}, 700),
        _series({"gen_ai_request_model": "claude-opus-4-5", "gen_ai_token_type": "input"}, 1700),
    ],
    "otel_kit_ai_tokens_total": [
        _series({"gen_ai_request_model": "gpt-4o-mini", "otel_kit_ai_token_kind": "cache_read"}, 10000),
        _series({"gen_ai_request_model": "gpt-4o-mini", "otel_kit_ai_token_kind": "reasoning"}, 300),
        _series({"gen_ai_request_model": "gpt-4o-mini", "otel_kit_ai_token_kind": "regular"}, 2000),
    ],
    "gen_ai_client_operation_duration_seconds_count": [_series({"gen_ai_request_model": "gpt-4o-mini"}, 100), _series({"gen_ai_request_model": "claude-opus-4-5"}, 10)],
    "otel_kit_ai_unpriced_total": [_series({"gen_ai_request_model": "in-house", "otel_kit_ai_unpriced_reason": "unknown_model"}, 7), _series({"gen_ai_request_model": "x", "otel_kit_ai_unpriced_reason": "no_usage"}, 0.2)],
}


class _Prometheus(BaseHTTPRequestHandler):
    queries: list[dict[str, str]]
    empty = False

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(parts.query))
        type(self).queries.append(params)
        query = params.get("query", "")
        metric = re.search(r"increase\(([a-zA-Z_:]+)", query)
        key = metric.group(1) if metric else ""
        if key == "otel_kit_ai_cost_USD_total":
            key += "|month" if re.search(r"\[\d+s\]", query) else "|window"
        result = [] if type(self).empty else ANSWERS.get(key, [])
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def prometheus() -> Iterator[tuple[str, type[_Prometheus]]]:
    handler = type("Handler", (_Prometheus,), {"queries": [], "empty": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_report_by_model_month_and_projection(prometheus: tuple[str, type[_Prometheus]]) -> None:
    """Spend and tokens per model over the window, the month so far and its projection to the month's end."""
    url, handler = prometheus
    data = ai_costs.report(url, "shop", "24h", now=NOW)
    assert [row["model"] for row in data["models"]] == ["claude-opus-4-5", "gpt-4o-mini"]
    mini = data["models"][1]
    assert (mini["calls"], mini["input_tokens"], mini["cache_read_tokens"], mini["output_tokens"], mini["reasoning_tokens"]) == (100, 12000, 10000, 700, 300)
    assert mini["spend_usd"] == 1.5 and mini["month_to_date_usd"] == 20.0
    assert data["total"]["spend_usd"] == 5.5 and data["total"]["calls"] == 110
    assert data["month"] == {"start": "2026-11-01", "elapsed_days": 10.0, "days": 30, "to_date_usd": 60.0, "projected_usd": pytest.approx(180.0)}
    assert data["unpriced"] == [{"model": "in-house", "reason": "unknown_model", "calls": 7}]
    queries = [q["query"] for q in handler.queries]
    assert all('{job="shop"}' in q for q in queries)
    assert any("[24h]" in q for q in queries) and any(f"[{10 * 86400}s]" in q for q in queries)
    assert all(float(q["time"]) == NOW.timestamp() for q in handler.queries)


def test_text_and_json_output(prometheus: tuple[str, type[_Prometheus]], capsys: pytest.CaptureFixture[str]) -> None:
    """The text report lists models, totals, the projection and unpriced calls; --json is the same data."""
    url, _ = prometheus
    assert ai_costs.run(prometheus=url, service="shop", window="24h", as_json=False, now=NOW) == 0
    text = capsys.readouterr().out
    assert "gpt-4o-mini" in text and "total" in text and "60.00 USD" in text and "180.00 USD" in text
    assert "in-house 7 (unknown_model)" in text
    assert ai_costs.run(prometheus=url, service=None, window="7d", as_json=True, now=NOW) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["window"] == "7d" and data["service"] is None and data["month"]["projected_usd"] == pytest.approx(180.0)


def test_no_data_exits_3(prometheus: tuple[str, type[_Prometheus]], capsys: pytest.CaptureFixture[str]) -> None:
    """No AI metrics for the job: exit 3 with a hint, never a zero-cost report."""
    url, handler = prometheus
    handler.empty = True
    assert ai_costs.run(prometheus=url, service="typo", window="24h", as_json=False, now=NOW) == ai_costs.EXIT_NO_DATA
    assert "no AI metrics" in capsys.readouterr().out


def test_service_label_is_escaped(prometheus: tuple[str, type[_Prometheus]]) -> None:
    """Quotes in --service cannot break out of the label matcher."""
    url, handler = prometheus
    ai_costs.report(url, 'a"b', "1h", now=NOW)
    assert '{job="a\\"b"}' in handler.queries[0]["query"]


def test_invalid_window_and_unreachable_prometheus(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad --window is a usage error (64); a Prometheus that cannot be reached exits 4 naming the URL."""
    with pytest.raises(UsageError):
        ai_costs.report("http://127.0.0.1:1", None, "yesterday")
    with pytest.raises(SystemExit) as exited:
        main(["ai-costs", "--window", "1 day"])
    assert exited.value.code == EXIT_USAGE
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    assert main(["ai-costs", "--prometheus", f"http://127.0.0.1:{closed}"]) == EXIT_UNREACHABLE
    assert f"127.0.0.1:{closed}" in capsys.readouterr().err


def test_growth_counts_series_born_inside_the_window_and_the_dashboard_agrees() -> None:
    """Series seen before the window grow by increase(); newer ones by their highest value; every dashboard increase() does the same."""
    expression = ai_costs.growth('c{job="a"}', "1h")
    assert expression == '(increase(c{job="a"}[1h]) and (c{job="a"} offset 1h)) or (max_over_time(c{job="a"}[1h]) unless (c{job="a"} offset 1h))'
    from tests.test_collector_config import DASHBOARD

    exprs = [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for target in panel.get("targets", [])]
    counted = [(expr, match) for expr in exprs for match in re.findall(r"increase\(([^\[]+)\[([^\]]+)\]\)", expr)]
    assert len(counted) == 4 and {series.split("{")[0] for _, (series, _) in counted} == {
        "otel_kit_ai_cost_USD_total", "db_client_slow_queries_total", "db_client_n_plus_one_total",
    }
    assert [expr for expr, (series, span) in counted if ai_costs.growth(series, span) not in expr] == []


def test_small_spend_keeps_its_digits() -> None:
    """A demo's or test's fraction of a cent prints as such, real money in cents."""
    assert [ai_costs._usd(v) for v in (0.0, 0.0000864, 0.05, 1234.5)] == ["0.00", "0.000086", "0.0500", "1,234.50"]
