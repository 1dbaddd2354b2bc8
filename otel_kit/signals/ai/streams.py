"""Streams and raw responses: recorded in place, so the client's own objects stay what they are.

Nothing is wrapped in a proxy. A stream keeps its class (``isinstance(s, openai.Stream)``), its
``response``, its ``close``/``aclose``, context managers, ``next``/``anext`` and the helper streams
built on it: only its internal event iterator is replaced by a generator that looks at each event
on its way to the application, and its HTTP response's ``close``/``aclose`` tell when the
application stops early. Nothing here touches the OpenTelemetry context, so a stream can be read in
another task or thread (a FastAPI ``StreamingResponse`` relay) without "Failed to detach context".

How the operation ends:
- the last event is read -> ``completed`` (or at the provider's terminal event, see ``Accumulator``);
- the application closes the stream or its response first -> ``stopped``;
- the stream is garbage-collected unclosed -> ``dropped``;
- the stream raises -> an error (``error.type``); a cancellation is not an error.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from otel_kit.signals.ai.core import COMPLETED, DROPPED, STOPPED, AIOperation
from otel_kit.signals.ai.usage import Accumulator, ResponseFacts, facts_from_response, new_accumulator

__all__ = ["Tracker", "body_facts", "track_stream", "track_raw_response"]

_RAW_JSON_LIMIT = 8 * 1024 * 1024

_collecting_thread: int | None = None


def _gc_phase(phase: str, info: dict[str, Any]) -> None:
    """Remember which thread runs a garbage collection: a response closed by a finalizer then is a dropped stream."""
    global _collecting_thread
    _collecting_thread = threading.get_ident() if phase == "start" else None


gc.callbacks.append(_gc_phase)


class Tracker:
    """The link between one streamed (or raw) response and its operation."""

    __slots__ = ("__weakref__", "acc", "family", "hooks", "op", "pulling", "stream_attached")

    def __init__(self, op: AIOperation, acc: Accumulator, family: str) -> None:
        self.op = op
        self.acc = acc
        acc.on_output = op.first_chunk
        self.family = family
        self.pulling = False
        self.stream_attached = False
        self.hooks: list[tuple[Any, str, Any]] = []
        """Methods set on the client's objects: (object, name, function), taken away at the end."""

    def hook(self, target: Any, name: str, function: Any) -> None:
        setattr(target, name, function)
        self.hooks.append((target, name, function))

    def unhook(self) -> None:
        """Put the objects' own methods back. A hook refers to its object (a cycle that only the
        garbage collector would break, on every call); once the operation is recorded it has nothing to do."""
        hooks, self.hooks = self.hooks, []
        for target, name, function in hooks:
            try:
                if vars(target).get(name) is function:
                    delattr(target, name)
            except Exception:  # noqa: BLE001 - an object that refuses: the hook stays, a no-op
                pass

    def item_failed(self, exc: Exception) -> None:
        """Reading an event failed inside otel-kit: counted; the application still gets the event."""
        self.op._monitor.internal_error("stream_event", exc)

    def end(self, outcome: str) -> None:
        op = self.op
        if op.finished:
            self.unhook()
            return
        try:
            acc = self.acc
            if outcome != COMPLETED and acc.complete:
                outcome = COMPLETED
            acc.finish()
            op.apply(acc.facts)
            output = acc.output()
            if output is not None:
                op.output = output
        except Exception as exc:  # noqa: BLE001
            op._monitor.internal_error("stream_end", exc)
        op.finish(outcome)
        self.unhook()

    def failed(self, exc: BaseException) -> None:
        op = self.op
        if op.finished:
            return
        try:
            op.fail(exc, self.family)
        except Exception as error:  # noqa: BLE001
            op._monitor.internal_error("stream_error", error)
        self.end(op.outcome or STOPPED)


class _DropGuard:
    """Held by the event generator: when the stream is collected unclosed, so is this."""

    __slots__ = ("tracker",)

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def __del__(self) -> None:
        try:
            self.tracker.end(DROPPED)
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass


def _sync_events(source: Iterator[Any], tracker: Tracker, guard: _DropGuard) -> Iterator[Any]:
    # The per-chunk path: one accumulator call, no context, no locks.
    read = tracker.acc.item
    tracker.pulling = True
    try:
        for event in source:
            tracker.pulling = False
            try:
                if read(event):
                    tracker.end(COMPLETED)
            except Exception as exc:  # noqa: BLE001 - a strange event must not reach the application
                tracker.item_failed(exc)
            yield event
            tracker.pulling = True
    except GeneratorExit:
        raise
    except BaseException as exc:
        tracker.pulling = False
        tracker.failed(exc)
        raise
    tracker.pulling = False
    tracker.end(COMPLETED)


async def _async_events(source: AsyncIterator[Any], tracker: Tracker, guard: _DropGuard) -> AsyncIterator[Any]:
    read = tracker.acc.item
    tracker.pulling = True
    try:
        async for event in source:
            tracker.pulling = False
            try:
                if read(event):
                    tracker.end(COMPLETED)
            except Exception as exc:  # noqa: BLE001
                tracker.item_failed(exc)
            yield event
            tracker.pulling = True
    except GeneratorExit:
        raise
    except BaseException as exc:
        tracker.pulling = False
        tracker.failed(exc)
        raise
    tracker.pulling = False
    tracker.end(COMPLETED)


def _hook_close(response: Any, tracker: Tracker, is_async: bool) -> None:
    """The application (or a helper stream) closing the HTTP response before the end means it stopped.

    The client closes the response itself when the body ends: that happens while an event is being
    pulled, and the event generator records that end instead.
    """
    if is_async:
        original_aclose = response.aclose

        async def aclose() -> None:
            try:
                await original_aclose()
            finally:
                if not tracker.pulling:
                    _closed(tracker, response)

        tracker.hook(response, "aclose", aclose)
    else:
        original_close = response.close

        def close() -> None:
            try:
                original_close()
            finally:
                if not tracker.pulling:
                    _closed(tracker, response)

        tracker.hook(response, "close", close)


def _closed(tracker: Tracker, response: Any) -> None:
    try:
        if not tracker.stream_attached and not tracker.op.finished:
            _read_body(tracker, response)
        # A stream in a reference cycle (openai's) is closed by its generator's finalizer when collected.
        tracker.end(DROPPED if _collecting_thread == threading.get_ident() else STOPPED)
    except Exception as exc:  # noqa: BLE001
        tracker.op._monitor.internal_error("close", exc)


def track_stream(stream: Any, tracker: Tracker, is_async: bool, *, hook_response: bool = True) -> None:
    """Record ``stream`` (an openai or anthropic Stream/AsyncStream) as the application reads it."""
    source = stream._iterator  # anthropic builds it lazily (a cached property); reading it builds it
    guard = _DropGuard(tracker)
    stream._iterator = _async_events(source, tracker, guard) if is_async else _sync_events(source, tracker, guard)
    tracker.stream_attached = True
    if hook_response:
        _hook_close(stream.response, tracker, is_async)


def body_facts(op: AIOperation, response: Any) -> ResponseFacts | None:
    """The facts of an HTTP response whose JSON body is already in memory; None for any other."""
    content = getattr(response, "_content", None)
    if not isinstance(content, (bytes, bytearray)) or not content or len(content) > _RAW_JSON_LIMIT:
        return None
    if "json" not in response.headers.get("content-type", ""):
        return None
    return facts_from_response(op.api, json.loads(content), with_output=op.capture)


def _read_body(tracker: Tracker, response: Any) -> None:
    """A raw response whose JSON body is in memory: take the usage from it."""
    facts = body_facts(tracker.op, response)
    if facts is not None:
        tracker.op.apply(facts)
        tracker.acc.complete = True


def track_raw_response(result: Any, op: AIOperation, family: str, stream_types: tuple[type, ...], is_async: bool, sse: bool) -> bool:
    """Record a ``with_raw_response`` / ``with_streaming_response`` result.

    Returns True when the operation is still open (it ends when the application parses, reads,
    closes or drops the response), False when it was recorded from a body already in memory.
    """
    http = result.http_response
    tracker = Tracker(op, new_accumulator(op.api, op.capture), family)
    if not sse and http.is_closed:
        _read_body(tracker, http)
        tracker.end(COMPLETED)
        return False
    lock = threading.Lock()
    parse = result.parse
    monitor = op._monitor
    # Dropped without being read or closed: the guard lives as long as the patched ``parse`` does.
    guard = _DropGuard(tracker)

    def take(value: Any) -> None:
        with lock:
            if guard.tracker is not tracker:  # keeps the guard referenced by this closure
                return
            if tracker.stream_attached or op.finished:
                return
            if isinstance(value, stream_types):
                # The stream is read from the same HTTP response, whose close is already hooked.
                track_stream(value, tracker, is_async, hook_response=False)
            else:
                op.apply(facts_from_response(op.api, value, with_output=op.capture))
                tracker.end(COMPLETED)

    if _is_coroutine_function(parse):

        async def parse_async(*args: Any, **kwargs: Any) -> Any:
            value = await parse(*args, **kwargs)
            try:
                take(value)
            except Exception as exc:  # noqa: BLE001
                monitor.internal_error("raw_parse", exc)
            return value

        tracker.hook(result, "parse", parse_async)
    else:

        def parse_sync(*args: Any, **kwargs: Any) -> Any:
            value = parse(*args, **kwargs)
            try:
                take(value)
            except Exception as exc:  # noqa: BLE001
                monitor.internal_error("raw_parse", exc)
            return value

        tracker.hook(result, "parse", parse_sync)
    if not sse:
        _hook_read(http, tracker, is_async)
    _hook_close(http, tracker, is_async)
    return True


def _hook_read(response: Any, tracker: Tracker, is_async: bool) -> None:
    """``parse()``, ``json()``, ``text()`` and ``read()`` of a streamed raw response all read the body here.

    The HTTP response closes itself before ``read`` has kept the body; the close hook must not take
    that for the application stopping, so the read counts as pulling.
    """

    def done() -> None:
        tracker.pulling = False
        try:
            _read_body(tracker, response)
        except Exception as exc:  # noqa: BLE001
            tracker.op._monitor.internal_error("raw_read", exc)
        tracker.end(COMPLETED)

    if is_async:
        original_aread = response.aread

        async def aread() -> bytes:
            tracker.pulling = True
            try:
                data: bytes = await original_aread()
            except BaseException:
                tracker.pulling = False
                raise
            done()
            return data

        tracker.hook(response, "aread", aread)
    else:
        original_read = response.read

        def read() -> bytes:
            tracker.pulling = True
            try:
                data: bytes = original_read()
            except BaseException:
                tracker.pulling = False
                raise
            done()
            return data

        tracker.hook(response, "read", read)


def _is_coroutine_function(function: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(function)
