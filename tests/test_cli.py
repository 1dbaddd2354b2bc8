"""The otel-kit command: clear errors instead of tracebacks, port handling, stack bookkeeping."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from otel_kit.cli import main, stack


def test_missing_go_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a Go toolchain, install names what is missing and exits 1 (no traceback)."""
    monkeypatch.setattr(stack.shutil, "which", lambda name: None)
    monkeypatch.setattr(stack, "GO_FALLBACKS", ())
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    assert main.main(["stack", "install"]) == 1
    err = capsys.readouterr().err
    assert "no Go toolchain found" in err and "Traceback" not in err


def test_up_before_install_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`stack up` on an empty cache says to run `stack install`."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    monkeypatch.setattr(stack.shutil, "which", lambda name: None)
    assert main.main(["stack", "up"]) == 1
    assert "otel-kit stack install" in capsys.readouterr().err


def test_port_in_use_is_reported(tmp_path: Path) -> None:
    """Starting a service on a busy port fails with the port named."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        service = stack.Service("demo", ["true"], "http://127.0.0.1:1/", [port])
        with pytest.raises(stack.StackError, match=f"port {port}"):
            stack.Stack(name="t", root=tmp_path).start(service)


def test_invalid_port_option() -> None:
    """--port must be NAME=PORT with a known name."""
    with pytest.raises(SystemExit, match="invalid --port"):
        main.main(["stack", "status", "--port", "nonsense=1"])


def test_status_of_stopped_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """status lists every service as stopped and exits 1 when the stack is not running."""
    monkeypatch.setenv("OTEL_KIT_HOME", str(tmp_path))
    (tmp_path / "bin").mkdir()
    for name in ("otelcol", "jaeger", "loki", "prometheus", "promtool"):
        (tmp_path / "bin" / name).write_text("")
    assert main.main(["stack", "status", "--name", "nothing"]) == 1
    out = capsys.readouterr().out
    assert out.count("stopped") == 4 and "127.0.0.1:16686" in out
