"""Ordered, at-least-once delivery of encoded OTLP batches through collector outages.

Each signal has one :class:`Outbox` and one daemon sender thread. ``put()`` never blocks on the
network: the SDK's batch thread hands over the encoded bytes and returns. The sender sends the
oldest batch first and retries it with backoff until the collector answers, so a batch is never
re-ordered or sent twice by us. A shared :class:`ByteBudget` bounds the memory held by all
signals; what does not fit is moved to a :class:`Spool` directory when the user named one, and
otherwise dropped oldest-first and counted. At shutdown the sender tries each remaining batch once
(a refused connection gives up at once instead of backing off), and whatever is still unsent is
spooled for the next process or counted as dropped.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from otel_kit.export.transport import Outcome, Result, Transport
from otel_kit.providers.accounting import WARN_INTERVAL_SECONDS, ExportStats

_log = logging.getLogger("otel_kit.export")
BACKOFF_FIRST = 0.25
BACKOFF_MAX = 5.0
SPOOL_POLL_SECONDS = 5.0
_SUFFIX = ".otlp"


class RateLimitedWarning:
    """At most one warning per interval; the count of suppressed ones is reported next time."""

    def __init__(self, interval: float = WARN_INTERVAL_SECONDS) -> None:
        self._interval = interval
        self._last = -interval
        self._suppressed = 0
        self._lock = threading.Lock()

    def warn(self, message: str, *args: object) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self._interval:
                self._suppressed += 1
                return False
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        suffix = f" ({suppressed} similar messages suppressed)" if suppressed else ""
        _log.warning(message + suffix, *args)
        return True


class ByteBudget:
    """Bytes held in memory by every outbox of one configuration."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self.used + size > self.limit:
                return False
            self.used += size
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self.used = max(self.used - size, 0)


class _Batch:
    __slots__ = ("count", "done", "payload")

    def __init__(self, payload: bytes, count: int) -> None:
        self.payload = payload
        self.count = count
        # Set once the batch is accounted for (exported, dropped or spooled), so a late answer to
        # an abandoned send cannot count it twice.
        self.done = False


class Spool:
    """Batches on disk, one file each: ``<time_ns>-<pid>-<seq>.otlp`` holding ``count\\n`` + payload.

    Files are written under a temporary name and renamed into place, and claimed by renaming
    before sending, so several processes (gunicorn workers) can share one directory and each
    file is sent by one of them only.
    """

    def __init__(self, directory: str | os.PathLike[str], signal: str, limit: int) -> None:
        self.directory = Path(directory) / signal.lower()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.limit = limit
        self._seq = 0
        self._lock = threading.Lock()
        self._recover_claims()

    def _recover_claims(self) -> None:
        """Give back files claimed by processes that died before sending them."""
        for path in self.directory.glob(f"*{_SUFFIX}.*"):
            owner = path.suffix[1:]
            if owner.isdigit() and not _alive(int(owner)):
                try:
                    path.rename(path.with_suffix(""))
                except OSError:
                    pass

    def write(self, payload: bytes, count: int) -> int:
        """Store one batch; returns the item count dropped to stay under the disk limit."""
        with self._lock:
            self._seq += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:08d}{_SUFFIX}"
        temporary = self.directory / (name + ".tmp")
        with open(temporary, "wb") as handle:
            handle.write(b"%d\n" % count)
            handle.write(payload)
        os.replace(temporary, self.directory / name)
        return self._trim()

    def _files(self) -> list[Path]:
        try:
            return sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))
        except OSError:
            return []

    def _trim(self) -> int:
        files = self._files()
        sizes = []
        for path in files:
            try:
                sizes.append(path.stat().st_size)
            except OSError:
                sizes.append(0)
        total = sum(sizes)
        dropped = 0
        for path, size in zip(files, sizes, strict=True):
            if total <= self.limit:
                break
            claimed = self.claim(path)
            if claimed is None:
                continue
            dropped += _read(claimed)[1]
            claimed.unlink(missing_ok=True)
            total -= size
        return dropped

    def oldest(self) -> Path | None:
        files = self._files()
        return files[0] if files else None

    def claim(self, path: Path) -> Path | None:
        claimed = path.with_name(f"{path.name}.{os.getpid()}")
        try:
            path.rename(claimed)
        except OSError:
            return None
        return claimed

    @staticmethod
    def release(claimed: Path) -> None:
        try:
            claimed.rename(claimed.with_suffix(""))
        except OSError:
            pass


def _read(path: Path) -> tuple[bytes, int]:
    data = path.read_bytes()
    header, _, payload = data.partition(b"\n")
    try:
        return payload, int(header)
    except ValueError:
        return b"", 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class Outbox:
    """One signal's queue of encoded batches and the thread that delivers them in order."""

    def __init__(
        self,
        name: str,
        target: str,
        transport: Callable[[], Transport],
        stats: ExportStats,
        *,
        export_timeout: float,
        budget: ByteBudget,
        spool: Spool | None = None,
    ) -> None:
        self.name = name
        self.target = target
        self.stats = stats
        self._factory = transport
        self._transport: Transport | None = None
        self._export_timeout = export_timeout
        self._budget = budget
        self._spool = spool
        self._items: deque[_Batch] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closing = False
        self._closed = False
        self._deadline: float | None = None
        self._nudged = False
        self._inflight: _Batch | None = None
        self._warning = RateLimitedWarning()
        self._overflow_warning = RateLimitedWarning()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    # --- producer side (the SDK's batch/metric threads) ------------------------------------

    def put(self, payload: bytes, count: int) -> None:
        """Queue one encoded batch; never blocks on the network."""
        batch = _Batch(payload, count)
        with self._cond:
            if self._closed:
                self.stats.add(dropped=count)
                return
            while not self._budget.take(len(payload)):
                victim = self._evictable()
                if victim is None:
                    # Nothing of ours left to evict (another signal holds the memory): this batch
                    # goes to disk or is lost.
                    batch.done = True
                    self._lose(batch)
                    return
                self._budget.give(len(victim.payload))
                victim.done = True
                self._lose(victim)
            self._items.append(batch)
            self._cond.notify()
        self._ensure_thread()

    def _evictable(self) -> _Batch | None:
        """The oldest batch not being sent right now (evicting that one could duplicate it)."""
        for index, batch in enumerate(self._items):
            if batch is not self._inflight:
                del self._items[index]
                return batch
        return None

    def _lose(self, batch: _Batch) -> None:
        if self._spool_batch(batch):
            return
        self.stats.add(dropped=batch.count)
        self._overflow_warning.warn(
            "otel-kit: the export retry buffer is full (%d MB); dropped the oldest %d %s (%d dropped so far)",
            self._budget.limit // (1 << 20), batch.count, self.name, self.stats.dropped,
        )

    def _spool_batch(self, batch: _Batch) -> bool:
        if self._spool is None:
            return False
        try:
            trimmed = self._spool.write(batch.payload, batch.count)
        except OSError as exc:
            self._warning.warn("otel-kit: cannot spool %s to %s: %s", self.name, self._spool.directory, exc)
            return False
        self.stats.add(spooled=batch.count, dropped=trimmed)
        return True

    # --- control ---------------------------------------------------------------------------

    def pending(self) -> int:
        """Items (spans, records, points) waiting in memory."""
        with self._cond:
            return sum(b.count for b in self._items if not b.done)

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far was delivered (or given up); False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            if not self._items:
                return True
            last = self._items[-1]
            self._nudged = True
            self._cond.notify_all()
        self._ensure_thread()
        with self._cond:
            while not last.done:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def set_deadline(self, deadline: float) -> None:
        """Bound every later send and the close to ``deadline`` (``time.monotonic()`` based)."""
        with self._cond:
            self._deadline = deadline if self._deadline is None else min(self._deadline, deadline)

    def close(self, timeout: float) -> None:
        """Try each remaining batch once within ``timeout``; spool or count what is left."""
        self.set_deadline(time.monotonic() + max(timeout, 0.0))
        with self._cond:
            if self._closed:
                return
            self._closing = True
            self._cond.notify_all()
            thread = self._thread if self._pid == os.getpid() else None
        if thread is not None and thread.is_alive():
            with self._cond:
                deadline = self._deadline or time.monotonic()
            thread.join(max(deadline - time.monotonic(), 0.0))
        elif self._items:
            self._drain_once()
        self.abandon()

    def abandon(self) -> None:
        """Account for everything still queued (spooled when a spool exists, else dropped)."""
        with self._cond:
            self._closed = True
            self._closing = True
            left = [b for b in self._items if not b.done]
            for batch in self._items:
                self._budget.give(len(batch.payload))
            self._items.clear()
            for batch in left:
                batch.done = True
            self._cond.notify_all()
        lost = 0
        for batch in left:
            if not self._spool_batch(batch):
                lost += batch.count
        if lost:
            self.stats.add(dropped=lost)
            _log.warning("otel-kit: %d %s could not be delivered to %s before shutdown and were dropped", lost, self.name, self.target)
        transport, self._transport = self._transport, None
        if transport is not None:
            try:
                transport.close()
            except Exception:  # noqa: BLE001
                pass

    # --- the sender thread -----------------------------------------------------------------

    def _after_fork(self) -> None:
        # The parent's queue belongs to the parent (it sends it); the child starts empty.
        self._cond = threading.Condition(threading.Lock())
        for batch in self._items:
            self._budget.give(len(batch.payload))
        self._items = deque()
        self._thread = None
        self._transport = None
        self._pid = os.getpid()

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._cond:
            if self._closed or (self._thread is not None and self._pid == os.getpid()):
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=f"otel-kit-export-{self.name.replace(' ', '-')}", daemon=True)
        self._thread.start()

    def start(self) -> None:
        """Start the sender now (to pick up batches spooled by earlier processes)."""
        self._ensure_thread()

    def _transport_now(self) -> Transport:
        if self._transport is None:
            self._transport = self._factory()
        return self._transport

    def _timeout(self) -> float:
        if self._deadline is None:
            return self._export_timeout
        return max(min(self._export_timeout, self._deadline - time.monotonic()), 0.001)

    def _send(self, payload: bytes) -> Result:
        try:
            return self._transport_now().send(payload, self._timeout())
        except Exception as exc:  # noqa: BLE001 - a transport bug must not kill the sender
            return Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}"[:200])

    def _run(self) -> None:
        from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, set_value

        # Our own HTTP requests must not be traced by the requests/urllib3 instrumentation:
        # each export would create spans to export.
        attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        backoff = BACKOFF_FIRST
        while True:
            claimed: Path | None = None
            with self._cond:
                while not self._items and not self._closing:
                    if self._spool is not None and self._spool.oldest() is not None:
                        break
                    self._cond.wait(SPOOL_POLL_SECONDS if self._spool is not None else None)
                if self._closed or (self._closing and (self._deadline is not None and time.monotonic() >= self._deadline)):
                    return
                batch = self._items[0] if self._items else None
                self._inflight = batch
            if self._spool is not None:
                oldest = self._spool.oldest()
                if oldest is not None:
                    claimed = self._spool.claim(oldest)
            if claimed is not None:
                try:
                    payload, count = _read(claimed)
                except OSError:
                    continue
            elif batch is not None:
                payload, count = batch.payload, batch.count
            elif self._closing:
                return
            else:
                continue  # another process claimed the spooled file first
            result = self._send(payload)
            if result.outcome is Outcome.SENT:
                backoff = BACKOFF_FIRST
                if claimed is not None:
                    claimed.unlink(missing_ok=True)
                    self.stats.add(exported=count)
                else:
                    self._finish(batch, exported=True)
                continue
            if result.outcome is Outcome.REJECTED:
                if claimed is not None:
                    claimed.unlink(missing_ok=True)
                    self.stats.add(dropped=count, failed=1)
                else:
                    self._finish(batch, exported=False)
                self._warning.warn(
                    "otel-kit: %s refused %d %s (%s); dropped (%d so far)", self.target, count, self.name, result.detail, self.stats.dropped,
                )
                continue
            # RETRY: keep the batch at the head; nothing behind it may overtake it.
            if claimed is not None:
                Spool.release(claimed)
            self.stats.add(failed=1, retried=count)
            self._warning.warn(
                "otel-kit: could not export %d %s to %s (%s); keeping them to retry (%d waiting). Is the collector running?",
                count, self.name, self.target, result.detail, self.pending(),
            )
            with self._cond:
                if self._closing:
                    return  # fast give-up: close() spools or counts the rest
                wait = result.retry_after if result.retry_after is not None else backoff * random.uniform(0.8, 1.2)
                self._nudged = False
                end = time.monotonic() + wait
                while not self._closing and not self._nudged:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _finish(self, batch: _Batch | None, *, exported: bool) -> None:
        if batch is None:
            return
        with self._cond:
            if self._items and self._items[0] is batch:
                self._items.popleft()
                self._budget.give(len(batch.payload))
            if batch.done:
                return
            batch.done = True
            self._cond.notify_all()
        if exported:
            self.stats.add(exported=batch.count)
        else:
            self.stats.add(dropped=batch.count, failed=1)

    def _drain_once(self) -> None:
        """Close without a sender thread (none was started, or we are a forked child)."""
        while True:
            with self._cond:
                batch = self._items[0] if self._items else None
            if batch is None or (self._deadline is not None and time.monotonic() >= self._deadline):
                return
            result = self._send(batch.payload)
            if result.outcome is Outcome.RETRY:
                return
            self._finish(batch, exported=result.outcome is Outcome.SENT)
