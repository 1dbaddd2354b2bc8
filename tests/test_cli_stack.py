"""`otel-kit stack`: isolated named stacks (ports, files, processes), install errors, configuration export.

Stacks here run small stand-in servers (``python -m http.server``) instead of the real backends, so
the process bookkeeping is tested on real processes in a couple of seconds.
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_kit.cli import main
from otel_kit.cli.stack import DEFAULT_PORTS, Service, Stack, StackError, build, command, config, processes
from otel_kit.cli.stack.sources import origin

REPO = Path(__file__).resolve().parents[1]


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _ports() -> dict[str, int]:
    return dict(zip(DEFAULT_PORTS, _free_ports(len(DEFAULT_PORTS)), strict=True))


def _http(name: str, port: int) -> Service:
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return Service(name, command, f"http://127.0.0.1:{port}/", [port], {}, f"http://127.0.0.1:{port}")


class FakeStack(Stack):
    """A stack whose Jaeger and Collector are stand-in HTTP servers on the stack's own ports."""

    broken = False

    def services(self) -> list[Service]:
        second = _http("collector", self.ports["otlp_http"])
        if self.broken:
            second.command = [sys.executable, "-c", "raise SystemExit(3)"]
        return [_http("jaeger", self.ports["jaeger_query"]), second]


@pytest.fixture
def stacks() -> Iterator[list[Stack]]:
    """Stacks created by a test; every one is brought down at the end."""
    made: list[Stack] = []
    yield made
    for stack in made:
        stack.down(timeout=5)


def _fake(stacks: list[Stack], root: Path, name: str, ports: dict[str, int] | None = None) -> FakeStack:
    stack = FakeStack(name=name, ports=ports or _ports(), root=root)
    stacks.append(stack)
    return stack


def _pids(stack: Stack) -> dict[str, processes.PidRecord]:
    return {name: record for name in ("jaeger", "collector") if (record := stack.record(name)) is not None}


# --- isolation --------------------------------------------------------------------------------


def test_down_stops_only_its_own_stack(tmp_path: Path, stacks: list[Stack]) -> None:
    """Two named stacks side by side: `down` of one leaves every process of the other running."""
    first, second = _fake(stacks, tmp_path, "first"), _fake(stacks, tmp_path, "second")
    first.up()
    second.up()
    before = _pids(second)
    assert len(_pids(first)) == len(before) == 2
    first.down()
    assert not _pids(first) and not list(first.run_dir.glob("*.pid"))
    assert _pids(second) == before and all(processes.is_running(r) for r in before.values())


def test_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    """A pid file naming a live process with another start time or working directory is stale: `down` leaves that process alone."""
    stack = Stack(name="stale", root=tmp_path)
    stack.run_dir.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=elsewhere)
    try:
        real = processes.PidRecord.of(stranger.pid, elsewhere, sys.executable)
        cases = {
            "collector": {"pid": stranger.pid, "started": real.started - 100, "cwd": str(stack.run_dir)},  # pid reused since
            "prometheus": {"pid": stranger.pid, "started": real.started, "cwd": str(stack.run_dir)},  # not in this stack's directory
            "loki": stranger.pid,  # an older otel-kit's bare pid: the working directory decides
        }
        for name, content in cases.items():
            (stack.run_dir / f"{name}.pid").write_text(json.dumps(content))
        stack.down(timeout=2)
        assert stranger.poll() is None
        assert not list(stack.run_dir.glob("*.pid"))  # stale files are cleaned up
    finally:
        stranger.kill()
        stranger.wait()


def test_port_in_use_names_port_and_holder(tmp_path: Path, stacks: list[Stack]) -> None:
    """A taken port fails `up` before anything starts, naming the port, its setting and the process holding it."""
    stack = _fake(stacks, tmp_path, "busy")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", stack.ports["otlp_http"]))
        holder.listen()
        with pytest.raises(StackError) as info:
            stack.up()
    message = str(info.value)
    assert f"port {stack.ports['otlp_http']} (otlp_http, for collector) is in use by " in message
    assert f"(pid {os.getpid()})" in message and "--port otlp_http=PORT" in message
    assert not _pids(stack)  # the check runs before the first service starts


def test_port_held_by_another_stack_names_it(tmp_path: Path, stacks: list[Stack]) -> None:
    """When the holder is another otel-kit stack, the error names that stack and how to stop it."""
    first = _fake(stacks, tmp_path, "first")
    first.up()
    clashing = _fake(stacks, tmp_path, "second", ports={**_ports(), "jaeger_query": first.ports["jaeger_query"]})
    with pytest.raises(StackError, match=r"in use by jaeger \(pid \d+\) of otel-kit stack 'first' \(`otel-kit stack down --name first` stops it\)"):
        clashing.up()
    assert not clashing.run_dir.exists()  # a failed first `up` leaves no empty stack behind


def test_failed_service_stops_what_up_started(tmp_path: Path, stacks: list[Stack]) -> None:
    """A service that exits during `up` is reported with its log, and the services started before it are stopped."""
    stack = _fake(stacks, tmp_path, "broken")
    stack.broken = True  # type: ignore[misc]
    with pytest.raises(StackError, match="collector exited with 3"):
        stack.up()
    assert not _pids(stack) and not list(stack.run_dir.glob("*.pid"))
    assert processes.port_free(stack.ports["jaeger_query"])  # the stand-in Jaeger that did start is gone


def test_running_stack_keeps_its_ports(tmp_path: Path, stacks: list[Stack]) -> None:
    """`up` of a running stack with other ports is refused; `Stack.load` and the CLI find the saved ports by name."""
    stack = _fake(stacks, tmp_path, "steady")
    stack.up()
    stack.up()  # already running with the same ports: nothing to do
    moved = FakeStack(name="steady", ports={**stack.ports, "otlp_http": _free_ports(1)[0]}, root=tmp_path)
    with pytest.raises(StackError, match=r"running with other ports \(otlp_http=\d+\): `otel-kit stack down --name steady` first"):
        moved.up()
    assert Stack.load("steady", tmp_path).ports == stack.ports


def test_pid_file_records_start_time_and_directory(tmp_path: Path, stacks: list[Stack]) -> None:
    """Each pid file holds the pid, the process start time and the stack's run directory."""
    stack = _fake(stacks, tmp_path, "recorded")
    stack.up()
    data = json.loads((stack.run_dir / "jaeger.pid").read_text())
    assert set(data) == {"pid", "started", "cwd", "command"} and data["cwd"] == os.path.realpath(stack.run_dir)
    assert data["started"] > 0 and data["command"] == sys.executable


def test_stack_renders_its_own_configuration(tmp_path: Path, stacks: list[Stack]) -> None:
    """`up` writes the stack's own copy of the configs (leaving other entries alone); Prometheus scrapes this stack's Collector metrics port."""
    stack = _fake(stacks, tmp_path, "rendered")
    stack.up()
    rendered = stack.run_dir / "config"
    assert {p.name for p in rendered.iterdir()} == {
        "otelcol.yaml", "jaeger.yaml", "loki.yaml", "prometheus.yml", "rules", "alertmanager.yml", "runbooks.md", "loki-rules", "targets",
    }
    (rendered / "targets" / "tier.json").write_text("[]\n")  # written by a scale-out tier
    (rendered / "rules" / "stale.yml").write_text("groups: []\n")
    stack.up()  # running: nothing starts, the configuration is rendered again
    assert (rendered / "targets" / "tier.json").is_file() and not (rendered / "rules" / "stale.yml").exists()  # others' entries stay, ours are replaced
    prometheus = (rendered / "prometheus.yml").read_text()
    assert f"127.0.0.1:{stack.ports['collector_metrics']}" in prometheus and "127.0.0.1:8888" not in prometheus
    assert sorted(p.name for p in (rendered / "rules").glob("*.yml")) == sorted(p.name for p in (REPO / "collector-config" / "rules").glob("*.yml"))


# --- the command: names, ports, install ---------------------------------------------------------


def _installed(root: Path) -> None:
    (root / "bin").mkdir(parents=True)
    for name in ("otelcol", "jaeger", "loki", "prometheus", "promtool", "alertmanager"):
        (root / "bin" / name).write_text("")


def test_status_json_of_stopped_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """status --json lists every service as stopped with its URL and exits 1 when the stack is not running."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    _installed(tmp_path)
    assert main.main(["stack", "status", "--name", "idle", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["name"] == "idle" and not report["ready"] and report["ports"] == DEFAULT_PORTS
    assert [(s["service"], s["state"], s["pid"]) for s in report["services"]] == [(n, "stopped", None) for n in ("alertmanager", "jaeger", "loki", "prometheus", "collector")]
    assert main.main(["stack", "status", "--name", "idle"]) == 1
    assert "http://127.0.0.1:16686" in capsys.readouterr().out


def test_port_offset_port_overrides_and_saved_ports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--port-offset shifts every default, --port overrides one; a stack's saved ports apply without flags."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    _installed(tmp_path)
    main.main(["stack", "status", "--name", "shifted", "--port-offset", "100", "--port", "loki_http=3999", "--json"])
    ports = json.loads(capsys.readouterr().out)["ports"]
    assert ports == {**{k: v + 100 for k, v in DEFAULT_PORTS.items()}, "loki_http": 3999}
    run_dir = tmp_path / "run" / "saved"
    run_dir.mkdir(parents=True)
    (run_dir / "stack.json").write_text(json.dumps({"name": "saved", "ports": {"otlp_grpc": 5317}}))
    main.main(["stack", "status", "--name", "saved", "--json"])
    assert json.loads(capsys.readouterr().out)["ports"]["otlp_grpc"] == 5317


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "nonsense=1"], "invalid --port 'nonsense=1'"),
        (["--port", "otlp_grpc=4318"], "ports otlp_grpc and otlp_http are both 4318"),
        (["--port-offset", "70000"], "out of range: expected 1-65535"),
        (["--name", "../escape"], "invalid stack name '../escape'"),
    ],
)
def test_invalid_stack_options_exit_64(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Bad ports, clashing ports and unsafe names are usage errors (exit 64) with one clear line."""
    with pytest.raises(SystemExit) as info:
        main.main(["stack", "status", *argv])
    assert info.value.code == 64 and message in capsys.readouterr().err


def test_missing_go_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a Go toolchain, install names what is missing and exits 1 (no traceback)."""
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    monkeypatch.setattr(build, "GO_FALLBACKS", ())
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    monkeypatch.setenv("OTEL_KIT_STACK_SOURCE", "build")  # no release download, whatever network the machine has
    assert main.main(["stack", "install"]) == 1
    err = capsys.readouterr().err
    assert "no Go toolchain found" in err and "Traceback" not in err


def test_status_shows_where_each_binary_came_from_and_the_ui(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """status names each binary's source (release, Go build, PATH) and whether Jaeger's UI is real, in text and JSON."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    _installed(tmp_path)
    (tmp_path / "bin" / "alertmanager").unlink()
    (tmp_path / "path").mkdir()
    debian = tmp_path / "path" / "prometheus-alertmanager"
    debian.write_text("")
    debian.chmod(0o755)
    (tmp_path / "bin" / "jaeger.version").write_text("v1.76.0\n")
    origin.write(tmp_path, origin.Origin("loki", "release", "3.7.8", str(tmp_path / "bin" / "loki"), sha256="ab" * 32))
    assert main.main(["stack", "status", "--name", "src"]) == 1
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines["jaeger"].endswith("Go build v1.76.0") and lines["loki"].endswith("release 3.7.8 (SHA-256 verified)")
    assert lines["alertmanager"].endswith(f"found on PATH ({debian})")
    assert lines["Jaeger"].strip().startswith("Jaeger UI: not installed (a Jaeger built from source serves a placeholder page); view traces with `otel-kit traces`")
    assets = origin.ui_dir(tmp_path)
    assets.mkdir(parents=True)
    (assets / "index.html").write_text("<!doctype html>")
    main.main(["stack", "status", "--name", "src", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert {s["service"]: (s["source"] or {}).get("source") for s in report["services"]} == {
        "alertmanager": "system", "jaeger": "build", "loki": "release", "prometheus": "build", "collector": "build",
    }
    assert report["jaeger_ui"] == {"real": True, "state": "assets", "assets_path": str(assets)}


def test_up_says_in_one_line_how_to_see_traces(tmp_path: Path, stacks: list[Stack], capsys: pytest.CaptureFixture[str]) -> None:
    """`stack up` with a Jaeger that has no UI points at `otel-kit traces` and how to get the UI; with one, at the UI's URL."""
    stack = _fake(stacks, tmp_path, "ui")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "jaeger").write_text("")
    assert command.main_stack("up", stack) == 0
    hints = [line for line in capsys.readouterr().out.splitlines() if "otel-kit traces" in line]
    assert hints == [
        "Jaeger UI: not installed (a Jaeger built from source serves a placeholder page); view traces with `otel-kit traces` / "
        "`otel-kit trace ID`; `otel-kit stack install` where https://github.com (or OTEL_KIT_RELEASE_MIRROR) is reachable adds the UI"
    ]
    origin.write(tmp_path, origin.Origin("jaeger", "release", "2.13.0", str(tmp_path / "bin" / "jaeger")))
    assert command.main_stack("up", stack) == 0
    assert f"traces: the Jaeger UI at {stack.jaeger_url}, or `otel-kit traces` / `otel-kit trace ID`" in capsys.readouterr().out.splitlines()


def test_up_before_install_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`stack up` on an empty cache says to run `stack install` and creates nothing."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    assert main.main(["stack", "up"]) == 1
    assert "otel-kit stack install" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_down_of_unknown_stack_is_quiet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`down` of a stack that never ran says so and succeeds."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    assert main.main(["stack", "down", "--name", "never"]) == 0
    assert "nothing to stop" in capsys.readouterr().out


# --- configuration: shipped files, export, packaging ---------------------------------------------


def test_export_writes_every_shipped_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`stack config --export DIR` copies the whole shipped configuration, byte for byte; --json lists the files."""
    target = tmp_path / "mine"
    assert main.main(["stack", "config", "--export", str(target), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["files"]
    source = REPO / "collector-config"
    expected = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    assert sorted(Path(p).relative_to(target) for p in listed) == expected
    assert all((target / rel).read_bytes() == (source / rel).read_bytes() for rel in expected)


def test_export_keeps_edited_files_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Re-exporting over an edited file is refused naming it; --force overwrites; an identical tree re-exports fine."""
    target = tmp_path / "mine"
    assert main.main(["stack", "config", "--export", str(target)]) == 0
    assert main.main(["stack", "config", "--export", str(target)]) == 0
    (target / "otelcol.yaml").write_text("# edited\n")
    capsys.readouterr()
    assert main.main(["stack", "config", "--export", str(target)]) == 1
    assert "otelcol.yaml" in capsys.readouterr().err and (target / "otelcol.yaml").read_text() == "# edited\n"
    assert main.main(["stack", "config", "--export", str(target), "--force"]) == 0
    assert (target / "otelcol.yaml").read_bytes() == (REPO / "collector-config" / "otelcol.yaml").read_bytes()


def test_config_dir_prefers_override_then_package_then_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """OTEL_KIT_CONFIG_DIR wins (and must hold otelcol.yaml); an installed package's files come before a checkout's."""
    assert config.config_dir() == REPO / "collector-config"
    packaged = tmp_path / "site-packages" / "otel_kit" / "collector_config"
    packaged.mkdir(parents=True)
    (packaged / "otelcol.yaml").write_text("receivers: {}\n")
    monkeypatch.setattr(config, "PACKAGED", packaged)
    assert config.config_dir() == packaged
    monkeypatch.setenv("OTEL_KIT_CONFIG_DIR", str(tmp_path / "empty"))
    with pytest.raises(StackError, match=r"OTEL_KIT_CONFIG_DIR=.*empty has no otelcol\.yaml"):
        config.config_dir()
    monkeypatch.setenv("OTEL_KIT_CONFIG_DIR", str(REPO / "collector-config"))
    assert config.config_dir() == REPO / "collector-config"


def test_wheel_patterns_cover_every_configuration_file() -> None:
    """setup.py's package-data patterns match every file under collector-config/, so the wheel ships them all."""
    setup = runpy.run_path(str(REPO / "setup.py"), run_name="otel_kit_setup")
    base = REPO / setup["STACK_CONFIG_DIR"]
    matched = {p for pattern in setup["STACK_CONFIG_FILES"] for p in base.glob(pattern) if p.is_file()}
    assert matched == {p for p in base.rglob("*") if p.is_file()}


# --- alerting and retention: receivers from the environment, private config, links, durations -----

from otel_kit.cli.stack import alerting  # noqa: E402 - the section's own import

SECRETS = {
    "OTEL_KIT_ALERT_WEBHOOK_URL": "https://hooks.example.test/alerts/wh-s3cret",
    "OTEL_KIT_SLACK_WEBHOOK_URL": "https://hooks.slack.example.test/services/T0/B0/sl-s3cret",
    "OTEL_KIT_PAGERDUTY_ROUTING_KEY": "pd-s3cret",
    "OTEL_KIT_PUSHOVER_USER_KEY": "po-user-s3cret",
    "OTEL_KIT_PUSHOVER_TOKEN": "po-token-s3cret",
    "OTEL_KIT_SMTP_PASSWORD": "smtp-s3cret",
}


def test_up_renders_only_configured_receivers_into_a_private_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stacks: list[Stack], capsys: pytest.CaptureFixture[str]
) -> None:
    """`up` writes alertmanager.yml (mode 0600) with the configured channels only, pages only on critical, and prints no secret."""
    import yaml

    monkeypatch.setenv("OTEL_KIT_ALERT_WEBHOOK_URL", SECRETS["OTEL_KIT_ALERT_WEBHOOK_URL"])
    monkeypatch.setenv("OTEL_KIT_PAGERDUTY_ROUTING_KEY", SECRETS["OTEL_KIT_PAGERDUTY_ROUTING_KEY"])
    monkeypatch.setenv("OTEL_KIT_ALERT_REPEAT_INTERVAL", "2h")
    monkeypatch.setenv("OTEL_KIT_AI_DAILY_BUDGET_USD", "12.5")
    monkeypatch.setenv("OTEL_KIT_GRAFANA_URL", "https://grafana.example.test/")
    stack = _fake(stacks, tmp_path, "alerting")
    stack.up()
    rendered = stack.run_dir / "config" / "alertmanager.yml"
    assert rendered.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(rendered.read_text())
    receivers = {r["name"]: sorted(k for k in r if k != "name") for r in config["receivers"]}
    assert receivers == {"notify": ["webhook_configs"], "page": ["pagerduty_configs", "webhook_configs"], "otel-kit-test": ["pagerduty_configs", "webhook_configs"]}
    page = next(r for r in config["receivers"] if r["name"] == "page")
    assert page["webhook_configs"][0]["url"] == SECRETS["OTEL_KIT_ALERT_WEBHOOK_URL"] and page["pagerduty_configs"][0]["routing_key"] == "pd-s3cret"
    assert config["route"]["repeat_interval"] == "2h" and config["route"]["group_wait"] == "30s"
    output = capsys.readouterr()
    assert "webhook (https://hooks.example.test), pagerduty" in output.out
    assert not [s for s in SECRETS.values() if s in output.out + output.err]
    # Prometheus sends to this stack's Alertmanager; the rules carry this stack's budget and links
    assert f"127.0.0.1:{stack.ports['alertmanager']}" in (stack.run_dir / "config" / "prometheus.yml").read_text()
    ai = (stack.run_dir / "config" / "rules" / "ai.yml").read_text()
    assert "expr: vector(12.5)" in ai and "https://grafana.example.test/d/otel-kit-service/" in ai
    runbooks = (stack.run_dir / "config" / "runbooks.md").resolve().as_uri()
    assert f'runbook_url: "{runbooks}#aidailybudget"' in ai
    assert (stack.run_dir / "config" / "loki-rules" / "fake" / "otel-kit.yaml").is_file()
    assert sorted(p.name for p in (stack.run_dir / "config" / "rules" / "integrations").iterdir()) == ["celery.yml", "database_pool.yml"]


def test_receivers_need_their_whole_setting_and_never_show_secrets() -> None:
    """Each channel needs all its variables; an invalid one warns without its value and stays off; shown forms carry no secret."""
    warnings: list[str] = []
    environ = {**SECRETS, "OTEL_KIT_ALERT_EMAIL_TO": "ops@example.test", "OTEL_KIT_SMTP_HOST": "smtp.example.test", "OTEL_KIT_SMTP_PORT": "465",
               "OTEL_KIT_SMTP_USER": "alerts", "OTEL_KIT_SMTP_TLS": "no"}
    found = alerting.receivers_from(environ, warn=warnings.append)
    assert found.kinds() == ["webhook", "email", "slack", "pagerduty", "pushover"]
    email = found.channels[1].config
    assert email["smarthost"] == "smtp.example.test:465" and email["require_tls"] is False and email["auth_password"] == "smtp-s3cret"
    assert warnings == ["OTEL_KIT_SMTP_USER is set with OTEL_KIT_SMTP_TLS=false: the SMTP password would cross the network in clear text"]
    assert not [s for s in SECRETS.values() if s in found.describe()]
    warnings.clear()
    partial = {"OTEL_KIT_ALERT_WEBHOOK_URL": "ftp://hooks.example.test/x-s3cret", "OTEL_KIT_ALERT_EMAIL_TO": "ops@example.test",
               "OTEL_KIT_PUSHOVER_TOKEN": "po-token-s3cret", "OTEL_KIT_SMTP_PORT": "smtp"}
    assert alerting.receivers_from(partial, warn=warnings.append).kinds() == []
    assert len(warnings) == 3 and not [w for w in warnings if "s3cret" in w]
    assert "OTEL_KIT_SMTP_HOST is not set" in warnings[1] and "OTEL_KIT_PUSHOVER_USER_KEY is not set" in warnings[2]
    assert alerting.redact('Post "https://hooks.example.test/alerts/wh-s3cret": 404; key pd-s3cret', SECRETS) == 'Post "https://hooks.example.test/<redacted>": 404; key <secret>'


def test_timings_budget_and_retention_fall_back_with_one_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Invalid durations and budgets warn, naming the variable, and use the default; valid ones reach each backend's flags and environment."""
    warnings: list[str] = []
    assert alerting.duration({"X": "5 minutes"}, "X", "5m", warnings.append) == "5m" and "X='5 minutes' is not a duration" in warnings[0]
    assert alerting.duration({"X": "0s"}, "X", "5m", warnings.append) == "5m" and len(warnings) == 2
    assert alerting.duration({"X": "1h30m"}, "X", "5m", warnings.append) == "1h30m" and len(warnings) == 2
    assert alerting.ai_daily_budget({"OTEL_KIT_AI_DAILY_BUDGET_USD": "-3"}, warnings.append) == 50.0 and len(warnings) == 3
    assert [alerting.go_duration(v) for v in ("7d", "36h", "90s", "2w")] == ["168h", "36h", "90s", "336h"]
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    _installed(tmp_path)
    monkeypatch.setenv("OTEL_KIT_JAEGER_RETENTION", "3d")
    monkeypatch.setenv("OTEL_KIT_LOKI_RETENTION", "forever")
    monkeypatch.setenv("OTEL_KIT_PROMETHEUS_RETENTION", "90d")
    services = {s.name: s for s in Stack(name="kept", root=tmp_path).services()}
    assert services["jaeger"].environment["JAEGER_TRACES_TTL"] == "72h"
    assert services["jaeger"].environment["JAEGER_BADGER_DIR"] == str(tmp_path / "run" / "kept" / "jaeger-data")
    assert services["loki"].environment["LOKI_RETENTION"] == "30d"
    assert "--storage.tsdb.retention.time=90d" in services["prometheus"].command
    assert "--cluster.listen-address=" in services["alertmanager"].command


def test_alertmanager_is_found_or_built_with_a_stand_in_ui(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Our bin/ first, then Debian's prometheus-alertmanager on PATH; without root the Go build gets a page for the UI it cannot embed."""
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    assert build.find_alertmanager(tmp_path) is None
    (tmp_path / "path").mkdir()
    debian = tmp_path / "path" / "prometheus-alertmanager"
    debian.write_text("#!/bin/sh\n")
    debian.chmod(0o755)
    assert build.find_alertmanager(tmp_path) == debian
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "alertmanager").write_text("")
    assert build.find_alertmanager(tmp_path) == tmp_path / "bin" / "alertmanager"
    build._placeholder_ui(tmp_path / "work")
    assert "built without its web UI" in (tmp_path / "work" / "ui" / "app" / "dist" / "index.html").read_text()


def test_alertmanager_log_keeps_only_the_host_of_urls(tmp_path: Path) -> None:
    """The filter Alertmanager's output passes through cuts every URL to its host (a webhook's path holds its token)."""
    from otel_kit.cli.stack.runtime import _REDACTING_SHELL

    line = r'level=warn integration=webhook[0] err="Post \"http://127.0.0.1:9999/hook/t0ken\": refused" slack=https://hooks.slack.com/services/T/B/x ok'
    result = subprocess.run([*_REDACTING_SHELL, "echo", line], capture_output=True, text=True, timeout=10, check=True)
    assert result.stdout == r'level=warn integration=webhook[0] err="Post \"http://127.0.0.1:9999/<redacted>\": refused" slack=https://hooks.slack.com/<redacted> ok' + "\n"
