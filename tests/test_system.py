"""System metrics: semconv names, isolation of failing callbacks, correct numbers after fork."""

from __future__ import annotations

import os

import pytest

from otel_kit.testing import capture

EXPECTED = {
    "system.cpu.utilization", "system.memory.usage", "system.memory.utilization", "system.filesystem.usage",
    "system.filesystem.utilization", "system.disk.io", "system.network.io", "process.cpu.utilization",
    "process.memory.usage", "process.thread.count", "process.open_file_descriptor.count", "process.uptime",
}


def test_semantic_convention_names() -> None:
    """setup() registers psutil instruments with semantic-convention names and units."""
    with capture(system_metrics=True) as cap:
        points = cap.metric_points()
        names = {p.name for p in points}
        assert EXPECTED <= names, EXPECTED - names
        memory = {p.attributes["system.memory.state"]: p.value for p in points if p.name == "system.memory.usage"}
        assert memory["used"] > 0 and memory["free"] > 0
        assert next(p for p in points if p.name == "process.memory.usage").unit == "By"
        utilization = [p.value for p in points if p.name == "system.cpu.utilization"]
        assert utilization and all(0 <= v <= 1 for v in utilization)


def test_one_failing_callback_does_not_break_others(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reading that raises yields nothing for its instrument; the others still report."""
    with capture(system_metrics=True) as cap:
        system = cap.telemetry.system
        assert system is not None

        def broken() -> int:
            raise PermissionError("no /proc access")

        monkeypatch.setattr(system._process_handle(), "num_fds", broken)
        names = {p.name for p in cap.metric_points()}
        assert "process.open_file_descriptor.count" not in names and "process.thread.count" in names
        assert system.failures["process.open_file_descriptor.count"] >= 1


def test_process_handle_recreated_after_fork() -> None:
    """In a forked child the psutil process handle is recreated, so the child reports its own pid."""
    with capture(system_metrics=True) as cap:
        system = cap.telemetry.system
        assert system is not None
        assert system.pid == os.getpid()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                handle = system._process_handle()
                os.write(write, f"{handle.pid},{system.pid}".encode())
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        handle_pid, reported = (int(x) for x in os.read(read, 64).decode().split(","))
        assert handle_pid == pid and reported == pid


def test_disabled_by_setting() -> None:
    """system_metrics=False registers none of them."""
    with capture(system_metrics=False) as cap:
        assert not EXPECTED & {p.name for p in cap.metric_points()}
