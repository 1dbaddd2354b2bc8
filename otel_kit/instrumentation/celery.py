"""Celery: PRODUCER and CONSUMER spans with the trace context carried in the task message, task
health, and the length of the Redis broker's queues.

The contrib instrumentor connects Celery's signals (``before_task_publish``, ``task_prerun``, ...):
a task sent inside a request continues that request's trace in the worker. ``setup()`` in the
module that defines the Celery app runs in the worker before it forks its pool, and every forked
child exports on its own (and flushes before the pool ends it). The health report and ``/health/detailed`` list each task (CONSUMER
spans: error rate and latency). ``celery.queue.length`` (by ``messaging.destination.name``)
reads ``LLEN`` of each queue of every Redis-backed Celery app in the process, at collection time
and with instrumentation suppressed, so the metric reader never traces its own commands; kombu's
own Redis traffic (polling, bookkeeping) is kept out of traces the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from otel_kit.instrumentation._registry import Integration, contrib_requirement
from otel_kit.providers import active

if TYPE_CHECKING:
    from otel_kit.telemetry import Telemetry

QUEUE_LENGTH = "celery.queue.length"
# kombu's Redis transport keeps priorities 3, 6 and 9 of a queue in keys of their own.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
_instrumentor: Any = None
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _queues(app: Any) -> list[str]:
    configured = app.conf.task_queues
    if configured:
        return [str(getattr(queue, "name", queue)) for queue in configured]
    return [str(app.conf.task_default_queue or "celery")]


def _client(url: str) -> Any:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            import redis

            client = _clients[url] = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return client


def queue_lengths() -> dict[str, int]:
    """Messages waiting per queue, for every Celery app of this process with a Redis broker."""
    from celery import _state

    lengths: dict[str, int] = {}
    for app in list(_state._get_active_apps()):
        url = str(app.conf.broker_url or "")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            continue
        queues = _queues(app)
        client = _client(url)
        pipeline = client.pipeline(transaction=False)
        for queue in queues:
            pipeline.llen(queue)
            for step in _PRIORITY_STEPS:
                pipeline.llen(f"{queue}{_PRIORITY_SEPARATOR}{step}")
        counts = pipeline.execute()
        width = 1 + len(_PRIORITY_STEPS)
        for index, queue in enumerate(queues):
            lengths[queue] = lengths.get(queue, 0) + sum(int(n) for n in counts[index * width : (index + 1) * width])
    return lengths


def _observe(options: Any) -> Iterable[Any]:
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
    from opentelemetry.metrics import Observation

    token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        lengths = queue_lengths()
    except Exception:  # noqa: BLE001 - an unreachable broker must not break metric collection
        return []
    finally:
        detach(token)
    return [Observation(length, {"messaging.system": "celery", "messaging.destination.name": queue}) for queue, length in lengths.items()]


def _suppressed(call: Any, *args: Any, **kwargs: Any) -> Any:
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value

    token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        return call(*args, **kwargs)
    finally:
        detach(token)


_quiet_classes: dict[type, type] = {}
_original_get_client: Any = None


def _quiet(base: type) -> type:
    """A subclass of kombu's Redis client whose commands (and pipelines) are never traced."""
    quiet = _quiet_classes.get(base)
    if quiet is None:

        class QuietRedis(base):
            def execute_command(self, *args: Any, **kwargs: Any) -> Any:
                return _suppressed(super().execute_command, *args, **kwargs)

            def pipeline(self, *args: Any, **kwargs: Any) -> Any:
                pipe = super().pipeline(*args, **kwargs)
                execute = pipe.execute
                pipe.execute = lambda *a, **k: _suppressed(execute, *a, **k)
                return pipe

        quiet = _quiet_classes[base] = QuietRedis
    return quiet


def _get_client(self: Any) -> Any:
    return _quiet(_original_get_client(self))


def _quiet_broker() -> None:
    """Keep kombu's own Redis traffic (polling, queue declarations, bookkeeping) out of traces: the
    PRODUCER and CONSUMER spans say what happened; hundreds of LPUSH/SADD/ZADD roots would not."""
    global _original_get_client
    from otel_kit.instrumentation._support import installed

    if _original_get_client is not None or not installed("redis"):
        return
    from kombu.transport import redis as kombu_redis

    _original_get_client = kombu_redis.Channel._get_client
    kombu_redis.Channel._get_client = _get_client  # type: ignore[method-assign]


def _flush_before_exit(**_: Any) -> None:
    """A prefork pool child leaves with ``os._exit`` (no atexit): export what its tasks recorded first."""
    state = active.current()
    if state is not None:
        state.force_flush()


def install(telemetry: Telemetry) -> None:
    global _instrumentor
    from celery.signals import worker_process_shutdown
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    worker_process_shutdown.connect(_flush_before_exit, weak=False, dispatch_uid="otel_kit_flush")
    _quiet_broker()
    instrumentor = CeleryInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
        _instrumentor = instrumentor
    if telemetry.meter_provider is not None:
        from otel_kit.instrumentation._support import installed

        if installed("redis"):
            telemetry.meter.create_observable_gauge(
                QUEUE_LENGTH, callbacks=[_observe], unit="{message}", description="Messages waiting in a Celery queue (Redis broker)",
            )


def uninstall() -> None:
    global _instrumentor, _original_get_client
    from celery.signals import worker_process_shutdown

    worker_process_shutdown.disconnect(dispatch_uid="otel_kit_flush")
    if _original_get_client is not None:
        from kombu.transport import redis as kombu_redis

        kombu_redis.Channel._get_client = _original_get_client  # type: ignore[method-assign]
        _original_get_client = None
    if _instrumentor is not None:
        try:
            _instrumentor.uninstrument()
        except Exception:  # noqa: BLE001
            pass
        _instrumentor = None
    with _clients_lock:
        for client in _clients.values():
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass
        _clients.clear()


INTEGRATION = Integration(
    name="celery",
    library="celery",
    extra="celery",
    requires=("celery[redis]>=5.3", contrib_requirement("celery")),
    instrumentor="opentelemetry.instrumentation.celery:CeleryInstrumentor",
    install=install,
    uninstall=uninstall,
    summary="PRODUCER/CONSUMER spans, trace context through the broker, per-task health, Redis queue length gauge",
)
