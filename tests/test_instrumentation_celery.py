"""Celery with a real Redis broker: a FastAPI request's trace continues in a real worker process; task health; queue length."""

from __future__ import annotations

import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest
from _servers import BIN, Redis, otlp_env
from celery import Celery
from fastapi import FastAPI
from fastapi.testclient import TestClient

import otel_kit
from otel_kit.receiver import Receiver
from otel_kit.testing import capture

TASKS = textwrap.dedent(
    """
    import otel_kit
    from celery import Celery

    otel_kit.setup("celery-worker", metric_interval=3600)
    app = Celery("tasks_app", broker=BROKER, backend=BROKER)
    app.conf.task_default_queue = QUEUE

    @app.task
    def add(x, y):
        return x + y
    """
)


def test_trace_starts_in_a_fastapi_request_and_ends_in_the_worker(tmp_path: Path, redis_server: Redis) -> None:
    """FastAPI SERVER -> PRODUCER (apply_async) -> CONSUMER (run) in a prefork worker process, one trace over OTLP."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    (tmp_path / "tasks_app.py").write_text(f"BROKER = {redis_server.url(1)!r}\nQUEUE = {queue!r}\n" + TASKS)
    producer = Celery("tasks_app", broker=redis_server.url(1), backend=redis_server.url(1))
    producer.conf.task_default_queue = queue
    api = FastAPI()

    @api.post("/checkout")
    def checkout() -> dict[str, str]:
        return {"task": producer.send_task("tasks_app.add", args=(2, 3)).id}

    with Receiver("grpc") as receiver:
        env = otlp_env(receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="200")
        worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "tasks_app", "worker", "--pool", "prefork", "-c", "1", "--loglevel", "WARNING", "-Q", queue],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            telemetry = otel_kit.setup("shop-api", endpoint=receiver.endpoint, protocol="grpc", metric_interval=3600, log_format="none", system_metrics=False)
            task_id = TestClient(api).post("/checkout").json()["task"]
            assert producer.AsyncResult(task_id).get(timeout=60) == 5
            telemetry.shutdown()
            assert receiver.wait_for(lambda: any(s.kind == 5 for s in receiver.spans()), timeout=30)
        finally:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
    spans = receiver.spans()
    server = next(s for s in spans if s.kind == 2 and s.name == "POST /checkout")
    publish = next(s for s in spans if s.kind == 4)
    run = next(s for s in spans if s.kind == 5)
    assert publish.name == "apply_async/tasks_app.add" and publish.parent_span_id == server.span_id and publish.service == "shop-api"
    assert run.name == "run/tasks_app.add" and run.parent_span_id == publish.span_id and run.service == "celery-worker"
    assert len({server.trace_id, publish.trace_id, run.trace_id}) == 1
    assert run.attributes["celery.task_name"] == "tasks_app.add"


def test_task_health_in_the_report() -> None:
    """CONSUMER spans of a failing task: the task is unhealthy in the health report, with its error rate."""
    app = Celery("eager")
    app.conf.task_always_eager = True

    @app.task(name="billing.charge")
    def charge(amount: int) -> int:
        if amount > 100:
            raise ValueError("declined")
        return amount

    with capture() as cap:
        for amount in range(25):
            charge.delay(amount * 10)
        report = asyncio_run(cap.telemetry.health.report())
        (task,) = report["tasks"]
        assert task["name"] == "billing.charge" and task["requests"] == 25 and task["errors"] == 14
        assert task["status"] == "unhealthy" and report["status"] == "unhealthy"


def asyncio_run(coroutine: object) -> dict:
    import asyncio

    return asyncio.run(coroutine)  # type: ignore[arg-type]


def test_queue_length_gauge(redis_server: Redis) -> None:
    """celery.queue.length counts the messages waiting in a Redis-backed queue (priorities included), untraced."""
    queue = f"idle-{uuid.uuid4().hex[:8]}"
    app = Celery("idle", broker=redis_server.url(2))
    app.conf.task_default_queue = queue
    with capture() as cap:
        for priority in (0, 0, 9):
            app.send_task("nobody.consumes", priority=priority)
        cap.clear()
        points = [p for p in cap.metric_points("celery.queue.length") if p.attributes["messaging.destination.name"] == queue]
        assert [p.value for p in points] == [3]
        assert not [s for s in cap.spans if (s.attributes or {}).get("db.system.name") == "redis"]
    app.close()


def test_unreachable_broker_does_not_break_collection() -> None:
    """A broker nobody listens on: the gauge reports nothing for it and the other metrics are still collected."""
    app = Celery("down", broker="redis://127.0.0.1:9/0")
    with capture() as cap:
        otel_kit.counter("still.collected").add(1)
        assert not [p for p in cap.metric_points("celery.queue.length") if p.attributes.get("messaging.destination.name") == "celery"]
        assert cap.metric_value("still.collected") == 1
    app.close()


@pytest.fixture(autouse=True)
def _forget_clients() -> None:
    from otel_kit.instrumentation import celery as integration

    integration._clients.clear()


def test_broker_traffic_is_not_traced(redis_server: Redis) -> None:
    """Publishing a task: one PRODUCER span and no span for kombu's own Redis commands; the app's own Redis calls still traced."""
    import redis

    app = Celery("quiet", broker=redis_server.url(4))
    app.conf.task_default_queue = f"quiet-{uuid.uuid4().hex[:6]}"
    with capture() as cap:
        app.send_task("nobody.consumes")
        redis.Redis(host=redis_server.host, port=redis_server.port, db=4).ping()
        names = [s.name for s in cap.spans]
        assert names == ["apply_async/nobody.consumes", "PING"]
    app.close()
