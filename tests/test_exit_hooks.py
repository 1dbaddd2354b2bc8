"""Exit hooks: what was recorded before exit, SIGTERM or a worker restart is exported, in real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_kit.receiver import Receiver

BIN = Path(sys.executable).parent

APP = textwrap.dedent(
    """
    import logging, os
    import otel_kit
    from fastapi import FastAPI

    telemetry = otel_kit.setup("exit-svc", metric_interval=3600, log_format="none")
    app = FastAPI()

    @app.get("/work/{n}")
    def work(n: int) -> dict:
        logging.getLogger("exit-app").warning("served %d", n)
        return {"n": n, "pid": os.getpid()}
    """
)

SCRIPT = textwrap.dedent(
    """
    import logging, sys, time
    import otel_kit

    telemetry = otel_kit.setup("script-svc", metric_interval=3600, log_format="none", shutdown_timeout=2)
    counter = telemetry.meter.create_counter("script.jobs")
    for index in range(25):
        with telemetry.tracer.start_as_current_span(f"job-{index}"):
            logging.getLogger("script").warning("job %d", index)
            counter.add(1)
    print("ready", flush=True)
    if sys.argv[1] == "wait":
        time.sleep(60)
    """
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver("grpc") as running:
        yield running


def _env(receiver: Receiver, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({"OTEL_KIT_ENDPOINT": receiver.endpoint, "OTEL_KIT_PROTOCOL": "grpc", "OTEL_KIT_SYSTEM_METRICS": "false"})
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(port: int, path: str) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        assert response.status == 200


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else "server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


def _work_spans(receiver: Receiver) -> list[str]:
    return [s.name for s in receiver.spans() if s.name.startswith("GET /work")]


def test_normal_exit_exports_everything(tmp_path: Path, receiver: Receiver) -> None:
    """A script that ends without calling shutdown() still exports its spans, logs and final metrics."""
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    subprocess.run([sys.executable, str(script), "exit"], env=_env(receiver), check=True, timeout=60, capture_output=True)
    assert len([s for s in receiver.spans() if s.name.startswith("job-")]) == 25
    assert len(receiver.log_records()) == 25
    assert [p.as_int for n, p in receiver.metric_points() if n == "script.jobs"] == [25]


def test_sigterm_to_a_plain_process_exports_then_dies_by_the_signal(tmp_path: Path, receiver: Receiver) -> None:
    """SIGTERM to a process without its own handler exports first; the exit status still says SIGTERM."""
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    process = subprocess.Popen([sys.executable, str(script), "wait"], env=_env(receiver), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == -signal.SIGTERM
    assert len([s for s in receiver.spans() if s.name.startswith("job-")]) == 25
    assert [p.as_int for n, p in receiver.metric_points() if n == "script.jobs"] == [25]


def test_sigterm_to_uvicorn_exports_the_last_requests(tmp_path: Path, receiver: Receiver) -> None:
    """uvicorn re-raises SIGTERM after its graceful shutdown; the last requests' spans and metrics still arrive."""
    (tmp_path / "exitapp.py").write_text(APP)
    port = _free_port()
    process = subprocess.Popen(
        [str(BIN / "uvicorn"), "exitapp:app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path, env=_env(receiver), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, process)
        for index in range(200):
            _get(port, f"/work/{index}")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert len(_work_spans(receiver)) == 200
    assert "http.server.request.duration" in receiver.metric_names()


@pytest.mark.parametrize("restart", ["max_requests", "hup"])
def test_gunicorn_worker_restarts_lose_nothing(tmp_path: Path, receiver: Receiver, restart: str) -> None:
    """Workers recycled by max_requests or replaced on SIGHUP export every request they served."""
    (tmp_path / "exitapp.py").write_text(APP)
    port = _free_port()
    command = [
        str(BIN / "gunicorn"), "exitapp:app", "-k", "uvicorn.workers.UvicornWorker", "-w", "1", "-b", f"127.0.0.1:{port}",
        "--graceful-timeout", "10", "--log-level", "warning",
    ]
    if restart == "max_requests":
        command += ["--max-requests", "50"]
    process = subprocess.Popen(command, cwd=tmp_path, env=_env(receiver), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, process)
        served = 0
        for round_ in range(4):
            for _ in range(50):
                for _attempt in range(50):  # a recycling worker briefly refuses connections
                    try:
                        _get(port, f"/work/{served}")
                        break
                    except OSError:
                        time.sleep(0.1)
                served += 1
            if restart == "hup" and round_ < 3:
                process.send_signal(signal.SIGHUP)
                time.sleep(1.0)
        assert receiver.wait_for(lambda: len(_work_spans(receiver)) >= 150, timeout=30)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    assert receiver.wait_for(lambda: len(_work_spans(receiver)) >= 200, timeout=10)
    assert len(_work_spans(receiver)) == 200


def test_blackholed_collector_cannot_keep_the_process_alive(tmp_path: Path) -> None:
    """Logging at exit with a collector that never answers: the process still ends (no unbounded flush thread)."""
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    with Receiver("grpc") as receiver:
        receiver.set_mode("blackhole")
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(script), "exit"], env=_env(receiver, OTEL_KIT_EXPORT_TIMEOUT="60"), timeout=60, capture_output=True,
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 0
    # Not a speed test: an unbounded flush waits the 60 s export timeout and hits the timeout above.
    assert elapsed < 40, result.stderr.decode()[-2000:]
