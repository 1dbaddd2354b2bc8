"""Pipeline accounting: per-signal counters and the once-a-minute warning filter."""

from __future__ import annotations

import logging
import threading

from otel_kit.providers.accounting import ExportStats, OncePerMinuteFilter


def test_once_per_minute_filter() -> None:
    """The noisy-logger filter lets a repeated warning through once per interval."""
    log_filter = OncePerMinuteFilter()
    record = logging.makeLogRecord({"name": "opentelemetry.exporter", "msg": "Transient error %s", "levelno": logging.WARNING})
    assert log_filter.filter(record) and not log_filter.filter(record)
    debug = logging.makeLogRecord({"name": "x", "msg": "d", "levelno": logging.DEBUG})
    assert log_filter.filter(debug) and log_filter.filter(debug)


def test_export_stats_count_across_threads() -> None:
    """Counts added from many threads at once all arrive."""
    stats = ExportStats()

    def add() -> None:
        for _ in range(1_000):
            stats.add(exported=2, dropped=1)

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stats.as_dict() == {"exported": 16_000, "dropped": 8_000, "failed_exports": 0, "retried": 0, "spooled": 0}
