"""Outbox: ordered delivery, retries without loss or duplicates, bounded memory, spool, fast give-up."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from otel_kit.export.outbox import ByteBudget, ExportStats, Outbox, Spool
from otel_kit.export.transport import Outcome, Result


class FakeTransport:
    """Answers from a script of outcomes (then SENT); records what was delivered."""

    def __init__(self, script: list[Outcome] | None = None, gate: threading.Event | None = None) -> None:
        self.script = list(script or [])
        self.delivered: list[bytes] = []
        self.attempts = 0
        self.gate = gate
        self.closed = False
        self.lock = threading.Lock()

    def send(self, payload: bytes, timeout: float) -> Result:
        if self.gate is not None:
            self.gate.wait(5)
        with self.lock:
            self.attempts += 1
            outcome = self.script.pop(0) if self.script else Outcome.SENT
            if outcome is Outcome.SENT:
                self.delivered.append(payload)
        return Result(outcome, "scripted")

    def close(self) -> None:
        self.closed = True


def _outbox(transport: FakeTransport, *, limit: int = 1 << 20, spool: Spool | None = None, stats: ExportStats | None = None) -> Outbox:
    return Outbox("spans", "fake", lambda: transport, stats or ExportStats(), export_timeout=1.0, budget=ByteBudget(limit), spool=spool)


def test_delivers_in_order_and_counts() -> None:
    """Batches arrive in the order they were put and are counted as exported."""
    transport = FakeTransport()
    outbox = _outbox(transport)
    for index in range(20):
        outbox.put(b"batch-%d" % index, 3)
    assert outbox.flush(5)
    assert transport.delivered == [b"batch-%d" % i for i in range(20)]
    assert outbox.stats.exported == 60 and outbox.stats.dropped == 0


def test_retries_keep_order_without_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed sends are retried until they succeed; nothing is lost, reordered or sent twice."""
    monkeypatch.setattr("otel_kit.export.outbox.BACKOFF_FIRST", 0.001)
    monkeypatch.setattr("otel_kit.export.outbox.BACKOFF_MAX", 0.002)
    transport = FakeTransport([Outcome.RETRY] * 7 + [Outcome.SENT, Outcome.RETRY, Outcome.RETRY])
    outbox = _outbox(transport)
    for index in range(10):
        outbox.put(b"b%d" % index, 1)
    assert outbox.flush(5)
    assert transport.delivered == [b"b%d" % i for i in range(10)]
    assert outbox.stats.exported == 10 and outbox.stats.dropped == 0 and outbox.stats.failed_exports == 9


def test_rejected_batches_are_dropped_and_counted() -> None:
    """A permanent refusal (e.g. HTTP 400) drops that batch only and counts it."""
    transport = FakeTransport([Outcome.REJECTED])
    outbox = _outbox(transport)
    outbox.put(b"bad", 4)
    outbox.put(b"good", 2)
    assert outbox.flush(5)
    assert transport.delivered == [b"good"]
    assert outbox.stats.dropped == 4 and outbox.stats.exported == 2


def test_memory_bound_drops_oldest_first() -> None:
    """Past the byte budget the oldest batches are dropped and counted; memory stays bounded."""
    gate = threading.Event()
    transport = FakeTransport([Outcome.RETRY], gate=gate)
    budget = ByteBudget(1000)
    outbox = Outbox("spans", "fake", lambda: transport, ExportStats(), export_timeout=1.0, budget=budget)
    for index in range(50):
        outbox.put(bytes([index]) * 100, 1)
        assert budget.used <= 1000
    gate.set()
    assert outbox.flush(5)
    delivered_ids = [payload[0] for payload in transport.delivered]
    # The in-flight first batch is kept (evicting it could duplicate it); the rest are the newest.
    assert delivered_ids[0] == 0 and delivered_ids[-9:] == list(range(41, 50))
    assert outbox.stats.dropped + outbox.stats.exported == 50 and outbox.stats.dropped == 50 - len(delivered_ids)


def test_overflow_spools_to_disk_and_is_sent_first(tmp_path: Path) -> None:
    """With a spool directory, overflow goes to disk and is delivered, oldest first, with nothing lost."""
    gate = threading.Event()
    transport = FakeTransport(gate=gate)
    spool = Spool(tmp_path, "TRACES", 1 << 20)
    outbox = _outbox(transport, limit=250, spool=spool)
    for index in range(10):
        outbox.put(bytes([index]) * 100, 1)
    assert outbox.stats.spooled > 0
    gate.set()
    assert outbox.flush(5)
    outbox.close(2)
    assert sorted(p[0] for p in transport.delivered) == list(range(10)) and len(transport.delivered) == 10
    assert outbox.stats.dropped == 0 and spool.oldest() is None


def test_close_gives_up_at_once_on_refusal() -> None:
    """At shutdown a refused send is not retried: one attempt, the rest counted as dropped."""
    transport = FakeTransport([Outcome.RETRY] * 100)
    outbox = _outbox(transport)
    for index in range(5):
        outbox.put(b"x%d" % index, 10)
    outbox.close(5)
    assert transport.attempts <= 3  # the sender's first try (and its backoff retry) plus one at close
    assert outbox.stats.dropped == 50 and outbox.pending() == 0 and transport.closed
    outbox.put(b"late", 7)
    assert outbox.stats.dropped == 57


def test_unsent_batches_are_spooled_for_the_next_process(tmp_path: Path) -> None:
    """What shutdown cannot deliver is written to the spool and sent by the next process."""
    down = FakeTransport([Outcome.RETRY] * 100)
    first = _outbox(down, spool=Spool(tmp_path, "TRACES", 1 << 20))
    first.put(b"one", 1)
    first.put(b"two", 2)
    first.close(1)
    assert first.stats.dropped == 0 and first.stats.spooled == 3
    up = FakeTransport()
    second = _outbox(up, spool=Spool(tmp_path, "TRACES", 1 << 20))
    second.start()
    second.put(b"three", 3)
    assert second.flush(5)
    assert up.delivered == [b"one", b"two", b"three"] and second.stats.exported == 6


def test_abandoned_send_is_not_counted_twice() -> None:
    """A send still in flight when shutdown gives up is counted once (dropped), even if it later succeeds."""
    gate = threading.Event()
    transport = FakeTransport(gate=gate)
    stats = ExportStats()
    outbox = _outbox(transport, stats=stats)
    outbox.put(b"slow", 5)
    outbox.close(0.05)
    gate.set()
    outbox.flush(0.5)
    assert stats.dropped == 5 and stats.exported == 0


def test_flush_times_out_while_the_collector_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """flush() returns False when delivery cannot finish in time, and keeps the data."""
    monkeypatch.setattr("otel_kit.export.outbox.BACKOFF_FIRST", 0.01)
    transport = FakeTransport([Outcome.RETRY] * 1000)
    outbox = _outbox(transport)
    outbox.put(b"kept", 3)
    assert outbox.flush(0.2) is False
    assert outbox.pending() == 3 and outbox.stats.dropped == 0


def test_spool_claims_are_exclusive_and_recovered(tmp_path: Path) -> None:
    """Two processes never claim the same spooled file; a dead owner's claim is given back."""
    spool = Spool(tmp_path, "LOGS", 1 << 20)
    spool.write(b"payload", 4)
    oldest = spool.oldest()
    assert oldest is not None
    claimed = spool.claim(oldest)
    assert claimed is not None and spool.claim(oldest) is None and spool.oldest() is None
    dead = claimed.with_name(claimed.name.rsplit(".", 1)[0] + ".999999")
    claimed.rename(dead)
    Spool(tmp_path, "LOGS", 1 << 20)
    assert spool.oldest() is not None


def test_spool_bound_drops_oldest_files(tmp_path: Path) -> None:
    """The spool keeps under its disk limit by deleting its oldest files, and counts their items."""
    spool = Spool(tmp_path, "TRACES", 1000)
    dropped = sum(spool.write(b"x" * 300, 2) for _ in range(10))
    total = sum(p.stat().st_size for p in spool.directory.iterdir())
    assert total <= 1000 and dropped == 2 * (10 - len(list(spool.directory.iterdir())))


def test_forked_child_starts_empty() -> None:
    """A forked child does not re-send its parent's queue."""
    gate = threading.Event()
    transport = FakeTransport(gate=gate)
    outbox = _outbox(transport)
    outbox.put(b"parent", 1)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, str(outbox.pending()).encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"0"
    gate.set()
    assert outbox.flush(5) and transport.delivered == [b"parent"]
