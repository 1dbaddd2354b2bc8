"""The shop's Celery worker: invoices orders from the shop's database, with the Redis broker.

    SHOP_DATABASE_URL=sqlite:////tmp/shop.db SHOP_BROKER_URL=redis://127.0.0.1:6379/0 \
        celery -A shop_worker worker --pool prefork -c 2     # from examples/

``otel_kit.setup()`` at import runs in the worker before it forks its pool; each task continues
the trace of the request that sent it (``examples/shop_flask.py``), its SQL is traced and
analysed, and the task's error rate and latency are in the worker's health report.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))

import otel_kit

if otel_kit.current() is None:  # imported by the Flask service, which has its own setup()
    otel_kit.setup(service_name=os.environ.get("OTEL_SERVICE_NAME", "otel-kit-shop-worker"), service_version="1.0.0", environment="demo")

from shop import Order, make_engine

log = logging.getLogger("shop.worker")
INVOICES = otel_kit.counter("shop.invoices", unit="{invoice}", description="Invoices sent")
app = Celery("shop_worker", broker=os.environ.get("SHOP_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.task_default_queue = os.environ.get("SHOP_QUEUE", "shop")
engine: Any = None


def _engine() -> Any:
    global engine
    if engine is None:  # one engine per worker process, created after the fork
        engine = make_engine()
    return engine


@app.task(name="shop.send_invoice")
def send_invoice(order_id: int) -> dict[str, Any]:
    with Session(_engine()) as session:
        order = session.get(Order, order_id)
        if order is None:
            raise LookupError(f"no order {order_id}")
        time.sleep(0.02)  # rendering the PDF
        order.invoiced = True
        session.commit()
        INVOICES.add(1)
        log.info("invoice sent for order %s", order_id)
        return {"order": order_id, "total": order.total}
