"""System and process metrics from psutil, with semantic-convention names.

Each callback is isolated: one that raises (a permission error on a file-descriptor count, say)
yields nothing for that instrument and the others still report. The process handle is re-created
after ``fork()`` so a worker reports its own numbers, not its parent's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

_log = logging.getLogger("otel_kit.system")


class SystemMetrics:
    """Registers observable instruments on a meter; ``close()`` stops reporting."""

    def __init__(self, meter_provider: MeterProvider, *, filesystem_path: str = "/") -> None:
        import psutil

        self._psutil = psutil
        self._path = filesystem_path
        self._lock = threading.Lock()
        self._pid = -1
        self._process: Any = None
        self._started = time.time()
        self._closed = False
        self.failures: dict[str, int] = {}
        self._process_handle()
        # Prime the CPU counters: the first cpu_percent(None) call always returns 0.0.
        psutil.cpu_percent(interval=None, percpu=True)
        meter = meter_provider.get_meter("otel_kit.system")
        gauges: list[tuple[str, str, str, Callable[[], Iterable[Observation]]]] = [
            ("system.cpu.utilization", "1", "CPU busy fraction per logical CPU", self._cpu),
            ("system.memory.utilization", "1", "Memory in use, as a fraction", self._memory_utilization),
            ("system.filesystem.utilization", "1", "Filesystem space used, as a fraction", self._fs_utilization),
            ("process.cpu.utilization", "1", "This process's CPU use as a fraction of all CPUs", self._process_cpu),
            ("process.uptime", "s", "Seconds since this process (or worker) started reporting", self._uptime),
        ]
        sums: list[tuple[str, str, str, Callable[[], Iterable[Observation]]]] = [
            ("system.memory.usage", "By", "Memory by state", self._memory_usage),
            ("system.filesystem.usage", "By", "Filesystem space by state", self._fs_usage),
            ("process.memory.usage", "By", "Resident memory of this process", self._process_memory),
            ("process.thread.count", "{thread}", "Threads in this process", self._threads),
            ("process.open_file_descriptor.count", "{file_descriptor}", "Open file descriptors", self._fds),
        ]
        counters: list[tuple[str, str, str, Callable[[], Iterable[Observation]]]] = [
            ("system.disk.io", "By", "Disk bytes read and written", self._disk_io),
            ("system.network.io", "By", "Network bytes sent and received", self._network_io),
        ]
        for name, unit, description, read in gauges:
            meter.create_observable_gauge(name, callbacks=[self._guard(name, read)], unit=unit, description=description)
        for name, unit, description, read in sums:
            meter.create_observable_up_down_counter(name, callbacks=[self._guard(name, read)], unit=unit, description=description)
        for name, unit, description, read in counters:
            meter.create_observable_counter(name, callbacks=[self._guard(name, read)], unit=unit, description=description)

    def close(self) -> None:
        self._closed = True

    def _guard(self, name: str, read: Callable[[], Iterable[Observation]]) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            if self._closed:
                return []
            try:
                return list(read())
            except Exception as exc:  # noqa: BLE001 - one failing reading must not break the others
                self.failures[name] = self.failures.get(name, 0) + 1
                if self.failures[name] == 1:
                    _log.debug("otel-kit: system metric %s failed: %s", name, exc)
                return []

        return callback

    def _process_handle(self) -> Any:
        pid = os.getpid()
        if pid != self._pid:
            with self._lock:
                if pid != self._pid:
                    self._process = self._psutil.Process(pid)
                    self._process.cpu_percent(interval=None)
                    self._started = time.time()
                    self._pid = pid
        return self._process

    @property
    def pid(self) -> int:
        return self._pid

    def _cpu(self) -> Iterable[Observation]:
        for index, percent in enumerate(self._psutil.cpu_percent(interval=None, percpu=True)):
            yield Observation(percent / 100, {"cpu.logical_number": index})

    def _memory_usage(self) -> Iterable[Observation]:
        memory = self._psutil.virtual_memory()
        yield Observation(memory.total - memory.available, {"system.memory.state": "used"})
        yield Observation(memory.available, {"system.memory.state": "free"})

    def _memory_utilization(self) -> Iterable[Observation]:
        yield Observation(self._psutil.virtual_memory().percent / 100, {"system.memory.state": "used"})

    def _fs_usage(self) -> Iterable[Observation]:
        usage = self._psutil.disk_usage(self._path)
        yield Observation(usage.used, {"system.filesystem.state": "used", "system.filesystem.mountpoint": self._path})
        yield Observation(usage.free, {"system.filesystem.state": "free", "system.filesystem.mountpoint": self._path})

    def _fs_utilization(self) -> Iterable[Observation]:
        usage = self._psutil.disk_usage(self._path)
        yield Observation(usage.percent / 100, {"system.filesystem.state": "used", "system.filesystem.mountpoint": self._path})

    def _disk_io(self) -> Iterable[Observation]:
        counters = self._psutil.disk_io_counters()
        if counters is None:
            return
        yield Observation(counters.read_bytes, {"disk.io.direction": "read"})
        yield Observation(counters.write_bytes, {"disk.io.direction": "write"})

    def _network_io(self) -> Iterable[Observation]:
        counters = self._psutil.net_io_counters()
        yield Observation(counters.bytes_recv, {"network.io.direction": "receive"})
        yield Observation(counters.bytes_sent, {"network.io.direction": "transmit"})

    def _process_cpu(self) -> Iterable[Observation]:
        count = self._psutil.cpu_count() or 1
        yield Observation(self._process_handle().cpu_percent(interval=None) / 100 / count)

    def _process_memory(self) -> Iterable[Observation]:
        yield Observation(self._process_handle().memory_info().rss)

    def _threads(self) -> Iterable[Observation]:
        yield Observation(self._process_handle().num_threads())

    def _fds(self) -> Iterable[Observation]:
        yield Observation(self._process_handle().num_fds())

    def _uptime(self) -> Iterable[Observation]:
        self._process_handle()
        yield Observation(time.time() - self._started)
