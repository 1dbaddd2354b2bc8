"""Part of `make demo`: the Flask back office (under gunicorn) and the Celery worker (prefork, Redis
broker) on the shop's database, under a short load. Also runnable alone against any OTLP endpoint:

    python examples/backoffice.py http://127.0.0.1:4317 my-service-prefix
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} is not listening on {port}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to the whole process group: a master killed alone would orphan its workers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # workers left behind by the master, if any
    except OSError:
        pass
    process.wait()


@contextmanager
def redis_server(directory: Path) -> Iterator[str | None]:
    """A Redis on a free loopback port for the broker (None when redis-server is not installed)."""
    binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if binary is None:
        yield None
        return
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, process, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)


def _call(method: str, url: str, **headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def run(endpoint: str, prefix: str, database_url: str, broker_url: str, directory: Path) -> dict[str, Any]:
    """Serve and load the back office and the worker; returns what was sent and seen."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "500", "OTEL_METRIC_EXPORT_INTERVAL": "2000",
        "OTEL_KIT_LOG_FORMAT": "none", "SHOP_DATABASE_URL": database_url, "SHOP_BROKER_URL": broker_url,
        "SHOP_QUEUE": f"{prefix}-invoices",
    })
    port = free_port()
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "shop_worker", "worker", "--pool", "prefork", "-c", "2", "--loglevel", "WARNING", "-Q", env["SHOP_QUEUE"]],
        cwd=HERE, env={**env, "OTEL_SERVICE_NAME": f"{prefix}-worker"}, stdout=subprocess.DEVNULL, stderr=open(directory / "worker.log", "wb"),
        start_new_session=True,
    )
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "shop_flask:app", "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--graceful-timeout", "10"],
        cwd=HERE, env={**env, "OTEL_SERVICE_NAME": f"{prefix}-backoffice"}, stdout=subprocess.DEVNULL, stderr=open(directory / "gunicorn.log", "wb"),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    sent: dict[str, int] = {}
    try:
        _wait_port(port, web, "gunicorn")
        sys.path.insert(0, str(HERE))
        from shop import Order, make_engine
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        engine = make_engine(database_url)
        with Session(engine) as session:
            order_ids = list(session.scalars(select(Order.id)))
        for customer in range(1, 13):
            _call("GET", f"{base}/customers/{customer}/orders")
            sent["orders by customer"] = sent.get("orders by customer", 0) + 1
        for order_id in order_ids[:20]:
            _call("POST", f"{base}/orders/{order_id}/invoice")
            sent["invoices (Celery)"] = sent.get("invoices (Celery)", 0) + 1
        for _ in range(3):
            _call("GET", f"{base}/report")
            sent["report (N+1)"] = sent.get("report (N+1)", 0) + 1
        for attack in ("' OR '1'='1", "<script>alert(1)</script>"):
            _call("GET", f"{base}/search?q={urllib.parse.quote(attack)}")
            sent["attack requests"] = sent.get("attack requests", 0) + 1
        deadline = time.monotonic() + 60
        invoiced = 0
        while time.monotonic() < deadline:
            with Session(engine) as session:
                invoiced = len([o for o in session.scalars(select(Order)) if o.invoiced])
            if invoiced >= min(20, len(order_ids)):
                break
            time.sleep(0.5)
        status, health = _call("GET", f"{base}/health/detailed")
        _, slow = _call("GET", f"{base}/debug/slow-queries?top=3")
        time.sleep(2.5)  # let both export their last batches
        return {"sent": sent, "invoiced": invoiced, "health_status": status, "health": health, "slow": slow}
    finally:
        _stop(web)
        _stop(worker)


def seed(database_url: str, orders: int = 20) -> None:
    """Create the shop's tables and some orders for the back office to invoice."""
    sys.path.insert(0, str(HERE))
    from shop import Order, make_engine
    from sqlalchemy.orm import Session

    with Session(make_engine(database_url)) as session:
        session.add_all(Order(customer_id=1 + i % 12, total=10.0 + i) for i in range(orders))
        session.commit()


def main() -> int:
    import urllib.parse  # noqa: F401 - used by run()

    endpoint = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4317"
    prefix = sys.argv[2] if len(sys.argv) > 2 else "otel-kit-shop"
    with tempfile.TemporaryDirectory(prefix="otel-kit-backoffice-") as tmp:
        directory = Path(tmp)
        database_url = f"sqlite:///{directory / 'shop.db'}"
        with redis_server(directory) as broker:
            if broker is None:
                print("backoffice: redis-server is not installed (apt-get install redis-server); skipping")
                return 1
            seed(database_url)
            print(json.dumps(run(endpoint, prefix, database_url, broker, directory), indent=2, default=str)[:3000])
    return 0


if __name__ == "__main__":
    import urllib.parse

    sys.exit(main())
