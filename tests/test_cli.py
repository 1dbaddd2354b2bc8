"""The otel-kit command: one line and a distinct exit status instead of tracebacks, quiet broken pipes, --json, --stack."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from otel_kit import telemetry
from otel_kit.cli import main
from tests.test_cli_traces import TRACE_ID, _trace

REPORTS = [
    ["traces", "--service", "shop"],
    ["health", "--service", "shop"],
    ["slow-queries", "--service", "shop"],
    ["trace", TRACE_ID],
]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeJaeger:
    """Jaeger's query API on a real socket, answering from ``traces`` (or with ``body``/``status`` when set)."""

    def __init__(self, traces: list[dict[str, Any]]) -> None:
        self.traces = traces
        self.body: bytes | None = None
        self.status = 200
        self.paths: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.paths.append(self.path)
                if fake.body is not None:
                    payload = fake.body
                elif self.path.startswith("/api/services"):
                    payload = json.dumps({"data": ["shop"]}).encode()
                elif self.path.startswith(f"/api/traces/{TRACE_ID}"):
                    payload = json.dumps({"data": fake.traces[:1]}).encode()
                else:
                    payload = json.dumps({"data": fake.traces if "service=shop" in self.path else []}).encode()
                self.send_response(fake.status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jaeger() -> Iterator[FakeJaeger]:
    fake = FakeJaeger([_trace()])
    yield fake
    fake.close()


@pytest.mark.parametrize("argv", REPORTS, ids=lambda argv: argv[0])
def test_unreachable_jaeger_is_one_line_and_exit_4(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """With Jaeger down every report prints one line naming the URL and the fix, and exits 4 (never a verdict's status)."""
    url = f"http://127.0.0.1:{_closed_port()}"
    assert main.main([*argv, "--jaeger", url]) == 4
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith(f"otel-kit {argv[0]}: cannot reach Jaeger at {url} (connection refused)")
    assert "`otel-kit stack up`" in line and "--jaeger URL" in line and not captured.out


def test_doctor_with_every_backend_down(capsys: pytest.CaptureFixture[str]) -> None:
    """doctor checks every backend first: with all down it names each URL, sends nothing and exits 4 at once."""
    urls = {option: f"http://127.0.0.1:{_closed_port()}" for option in ("--endpoint", "--jaeger", "--prometheus", "--loki")}
    assert main.main(["doctor", *[x for pair in urls.items() for x in pair]]) == 4
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4
    for line, (option, url), name in zip(lines, urls.items(), ("the Collector", "Jaeger", "Prometheus", "Loki"), strict=True):
        assert line.startswith(f"otel-kit doctor: cannot reach {name} at {url}") and f"or pass {option} URL" in line
    assert telemetry.current() is None  # no setup() for probes that cannot arrive
    assert main.main(["doctor", "--json", *[x for pair in urls.items() for x in pair]]) == 4
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and [u["backend"] for u in report["unreachable"]] == ["the Collector", "Jaeger", "Prometheus", "Loki"]


def test_backend_answering_something_else(jaeger: FakeJaeger, capsys: pytest.CaptureFixture[str]) -> None:
    """A URL that answers, but not with Jaeger's API (an HTML page, an HTTP error), is one line and exit 4 too."""
    jaeger.body = b"<html>login</html>"
    assert main.main(["traces", "--service", "shop", "--jaeger", jaeger.url]) == 4
    assert capsys.readouterr().err.strip() == (
        f"otel-kit traces: Jaeger at {jaeger.url} answered something that is not its JSON API for /api/traces: check that --jaeger points at Jaeger's API"
    )
    jaeger.status = 502
    jaeger.body = b"bad gateway"
    assert main.main(["health", "--service", "shop", "--jaeger", jaeger.url]) == 4
    assert "answered HTTP 502 (bad gateway) for /api/traces" in capsys.readouterr().err


def test_usage_errors_exit_64(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse errors and invalid option values exit 64, so a deploy gate never reads them as 1 (degraded) or 2 (unhealthy)."""
    with pytest.raises(SystemExit) as missing:
        main.main(["health"])
    assert missing.value.code == 64 and "--service" in capsys.readouterr().err
    with pytest.raises(SystemExit) as invalid:
        main.main(["health", "--service", "shop", "--window", "1h"])
    assert invalid.value.code == 64
    assert capsys.readouterr().err.strip() == "otel-kit health: invalid --window '1h': expected one of 1m, 5m"


def test_broken_pipe_ends_quietly(jaeger: FakeJaeger) -> None:
    """`otel-kit traces ... | head -1`: the reader goes away mid-output; no traceback, exit status 141 like `yes | head`."""
    jaeger.traces = [{**_trace(), "traceID": f"{i:032x}"} for i in range(3000)]  # far more output than a pipe buffers
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_kit.cli.main", "traces", "--service", "shop", "--limit", "3000", "--jaeger", jaeger.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1],
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    assert process.wait(60) == 141
    assert first.startswith(b"3000 traces of 'shop'") and process.stderr.read() == b""


def test_json_on_every_report(jaeger: FakeJaeger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every report command takes --json and prints one JSON document."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    (tmp_path / "bin").mkdir()
    for name in ("otelcol", "jaeger", "loki", "prometheus", "promtool"):
        (tmp_path / "bin" / name).write_text("")
    commands = [*[[*argv, "--jaeger", jaeger.url] for argv in REPORTS], ["stack", "status"], ["stack", "config"]]
    for argv in commands:
        main.main([*argv, "--json"])
        json.loads(capsys.readouterr().out)


def test_stack_option_reads_a_named_stack(jaeger: FakeJaeger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--stack NAME queries that stack's Jaeger (its saved port); an unknown name is a usage error listing the known ones."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    run_dir = tmp_path / "run" / "mine"
    run_dir.mkdir(parents=True)
    (run_dir / "stack.json").write_text(json.dumps({"name": "mine", "ports": {"jaeger_query": int(jaeger.url.rsplit(":", 1)[1])}}))
    assert main.main(["traces", "--stack", "mine", "--service", "shop"]) == 0
    assert jaeger.paths and "1 traces of 'shop'" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main.main(["traces", "--stack", "other", "--service", "shop"])
    assert info.value.code == 64 and "no stack named 'other'" in capsys.readouterr().err and "(there are: mine)" in str(info.value)


def test_empty_listing_names_the_services_jaeger_knows(jaeger: FakeJaeger, capsys: pytest.CaptureFixture[str]) -> None:
    """A service Jaeger has never seen (a typo) is said so, with the services it has."""
    assert main.main(["traces", "--service", "shpo", "--jaeger", jaeger.url]) == 0
    assert "Jaeger has no service 'shpo'; it has: shop" in capsys.readouterr().out
    assert main.main(["slow-queries", "--service", "shpo", "--jaeger", jaeger.url]) == 0
    assert "Jaeger has no service 'shpo'; it has: shop" in capsys.readouterr().out


def test_default_stack_ports_are_the_default_urls(jaeger: FakeJaeger, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --jaeger or --stack, a default stack brought up on other ports is the one asked."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    run_dir = tmp_path / "run" / "default"
    run_dir.mkdir(parents=True)
    (run_dir / "stack.json").write_text(json.dumps({"name": "default", "ports": {"jaeger_query": int(jaeger.url.rsplit(":", 1)[1])}}))
    assert main.main(["traces", "--service", "shop"]) == 0
    assert f"from {jaeger.url}" in capsys.readouterr().out
