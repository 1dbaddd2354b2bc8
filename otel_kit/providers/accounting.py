"""What each signal's pipeline counts, and how often otel-kit warns about it.

``ExportStats`` is filled by the processors built in this layer (spans a full queue drops) and by the
export below ``telemetry`` (sent, refused, retried, spooled); ``OncePerMinuteFilter`` keeps the SDK's
and otel-kit's own repeated warnings to one a minute, so the SDK never logs itself into a loop.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

__all__ = ["WARN_INTERVAL_SECONDS", "ExportStats", "OncePerMinuteFilter"]

WARN_INTERVAL_SECONDS = 60.0


@dataclass
class ExportStats:
    """Per-signal counters; ``dropped`` is telemetry lost for good (never delivered, never kept)."""

    exported: int = 0
    failed_exports: int = 0
    dropped: int = 0
    retried: int = 0
    spooled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, exported: int = 0, dropped: int = 0, failed: int = 0, retried: int = 0, spooled: int = 0) -> None:
        with self._lock:
            self.exported += exported
            self.dropped += dropped
            self.failed_exports += failed
            self.retried += retried
            self.spooled += spooled

    def as_dict(self) -> dict[str, int]:
        return {
            "exported": self.exported, "dropped": self.dropped, "failed_exports": self.failed_exports,
            "retried": self.retried, "spooled": self.spooled,
        }


class OncePerMinuteFilter(logging.Filter):
    """Lets each distinct message template through at most once per interval."""

    def __init__(self, interval: float = WARN_INTERVAL_SECONDS) -> None:
        super().__init__()
        self._interval = interval
        self._seen: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.msg)
        now = time.monotonic()
        last = self._seen.get(key)
        if last is not None and now - last < self._interval:
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[key] = now
        return True
