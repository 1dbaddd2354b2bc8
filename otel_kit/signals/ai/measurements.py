"""Histogram measurements taken on the call path and handed to the OpenTelemetry SDK off it.

One SDK histogram measurement costs 6-15 µs on the calling thread (the SDK cleans, copies and hashes
the attributes once per metric reader); a streamed GenAI call takes four. Here the call only appends
the histogram, the attributes, the value and its span's ids to a flat list, about half a microsecond,
and allocates no object that the garbage collector tracks. The SDK gets the measurements, unchanged
and with their exemplar's span:

- when a metric reader collects: the AI monitor's observable callbacks drain the list, and the SDK
  runs every callback before it reads its storages, so a collection sees every call that ended
  before it (periodic export, a Prometheus scrape, ``force_flush`` and the final collection at
  shutdown alike);
- from a background thread once ``wake_at`` measurements wait (a busy service between two
  collections), in slices that let the application's threads take the GIL in between;
- past ``limit`` waiting (the background thread cannot keep up), the caller records its own
  measurement directly: memory stays bounded and nothing is dropped.

After a fork the child starts empty: the parent exports what it had taken. The CPU cost is moved,
not removed: ``benchmarks/bench_ai.py`` reports it per call ("at collection").
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

__all__ = ["DeferredMeasurements"]

_NO_SPAN = trace.set_span_in_context(trace.INVALID_SPAN)
"""The context of a measurement whose span is not sampled: the draining thread's own span must not
become its exemplar (an empty context would not do: the SDK takes the current one instead)."""
_WIDTH = 5
"""Slots per measurement in the list: histogram, attributes, value, trace id, span id (0: no exemplar)."""


class DeferredMeasurements:
    """A bounded list of histogram measurements, recorded into the SDK by :meth:`drain`."""

    SLICE = 64
    """Measurements recorded by the background thread before it lets other threads run."""

    def __init__(self, *, wake_at: int = 512, limit: int = 32_768, on_error: Callable[[BaseException], None] | None = None) -> None:
        self.wake_at = wake_at
        self.limit = limit
        self._wake_slots = wake_at * _WIDTH
        self._limit_slots = limit * _WIDTH
        self.recorded = 0
        """Measurements handed to the SDK so far."""
        self._pending: list[Any] = []
        self._lock = threading.Lock()
        """Guards ``_pending`` (appends of a measurement's slots and the swap in ``drain``)."""
        self._draining = threading.Lock()
        """Held while a drained batch is recorded: a collection waits for the background thread's batch."""
        self._on_error = on_error
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_pid = 0
        self._closed = False
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def _after_fork_in_child() -> None:
                live = ref()
                if live is not None:
                    live._reset_after_fork()

            os.register_at_fork(after_in_child=_after_fork_in_child)

    def __len__(self) -> int:
        return len(self._pending) // _WIDTH

    def add(self, histogram: Any, value: float, attributes: Any, trace_id: int, span_id: int) -> None:
        """Take one measurement; ``trace_id``/``span_id`` are its sampled span's (the exemplar), else 0."""
        with self._lock:
            pending = self._pending
            waiting = len(pending)
            if waiting < self._limit_slots:
                pending.extend((histogram, attributes, value, trace_id, span_id))
                waiting = -1 if waiting + _WIDTH < self._wake_slots or self._closed else 0
        if waiting == 0:
            if not self._wake.is_set():
                self._start_drainer()
                self._wake.set()
        elif waiting > 0:
            # The background thread is behind: this caller pays for its own measurement.
            self._record(histogram, value, attributes, _context(trace_id, span_id))

    def drain(self, *, pause: bool = False) -> int:
        """Record every waiting measurement into the SDK; returns how many. Never raises.

        ``pause``: let other threads run after every ``SLICE`` measurements (the background thread).
        """
        if not self._pending and not self._draining.locked():
            return 0
        # Also when nothing is waiting: a batch the background thread is recording must be in the SDK
        # before a collection (or the final one at shutdown) reads it.
        with self._draining:
            with self._lock:
                pending, self._pending = self._pending, []
            last_span = -1
            context = _NO_SPAN
            record = self._record
            for start in range(0, len(pending), _WIDTH):
                histogram, attributes, value, trace_id, span_id = pending[start : start + _WIDTH]
                if span_id != last_span:
                    # The measurements of one operation are taken together: one context for them.
                    last_span = span_id
                    context = _context(trace_id, span_id)
                record(histogram, value, attributes, context)
                if pause and start % (self.SLICE * _WIDTH) == 0 and start:
                    time.sleep(0)
            count = len(pending) // _WIDTH
            self.recorded += count
        return count

    def close(self) -> None:
        """Stop the background thread (after the final collection has drained the list)."""
        self._closed = True
        self._wake.set()

    def _record(self, histogram: Any, value: float, attributes: Any, context: Context) -> None:
        try:
            histogram.record(value, attributes, context=context)
        except Exception as exc:  # noqa: BLE001 - a metric failure must not reach the reader or the caller
            if self._on_error is not None:
                self._on_error(exc)

    def _start_drainer(self) -> None:
        pid = os.getpid()
        if self._thread is not None and self._thread_pid == pid:
            return
        self._thread_pid = pid
        thread = threading.Thread(target=_drain_forever, args=(weakref.ref(self), self._wake), name="otel-kit-ai-metrics", daemon=True)
        self._thread = thread
        thread.start()

    def _reset_after_fork(self) -> None:
        self._pending = []
        self._lock = threading.Lock()
        self._draining = threading.Lock()
        self._wake = threading.Event()
        self._thread = None


def _context(trace_id: int, span_id: int) -> Context:
    if not span_id:
        return _NO_SPAN
    span = NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)))
    return trace.set_span_in_context(span)


def _drain_forever(ref: weakref.ref[DeferredMeasurements], wake: threading.Event) -> None:
    # Holds the monitor's list only while draining, so a monitor that is let go of is freed, and its thread ends.
    while True:
        woken = wake.wait(30.0)
        live = ref()
        if live is None or live._closed:
            return
        if woken:
            wake.clear()
            live.drain(pause=True)
        del live
