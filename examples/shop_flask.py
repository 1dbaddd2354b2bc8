"""The shop's back office on Flask, sharing the shop's database and sending invoices through Celery.

    SHOP_DATABASE_URL=sqlite:////tmp/shop.db SHOP_BROKER_URL=redis://127.0.0.1:6379/0 \
        gunicorn -w 2 -b 127.0.0.1:8001 shop_flask:app     # from examples/

One ``otel_kit.setup()`` gives it SERVER spans named by URL rule, request inspection, health and
slow-query endpoints (blueprints), SQL spans with N+1 detection, and a PRODUCER span per task
whose context the worker (``examples/shop_worker.py``) continues.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))

import otel_kit
from otel_kit.analysis.flask_routes import health_blueprint, slow_query_blueprint
from otel_kit.analysis.health import register_default_checks

otel_kit.setup(service_name=os.environ.get("OTEL_SERVICE_NAME", "otel-kit-shop-backoffice"), service_version="1.0.0", environment="demo")

from shop import Customer, Order, make_engine  # noqa: E402
from shop_worker import send_invoice  # noqa: E402


def create_app(engine: Any = None) -> flask.Flask:
    engine = engine or make_engine()
    app = flask.Flask("shop-backoffice")
    app.register_blueprint(health_blueprint())
    app.register_blueprint(slow_query_blueprint())
    telemetry = otel_kit.current()
    if telemetry is not None and telemetry.health is not None:
        register_default_checks(telemetry.health, engine=engine)

    @app.get("/customers/<int:customer_id>/orders")
    def orders(customer_id: int) -> Any:
        with Session(engine) as session:
            rows = session.scalars(select(Order).where(Order.customer_id == customer_id)).all()
            return {"orders": [{"id": o.id, "total": o.total, "invoiced": o.invoiced} for o in rows]}

    @app.post("/orders/<int:order_id>/invoice")
    def invoice(order_id: int) -> Any:
        task = send_invoice.delay(order_id)
        return {"task": task.id}, 202

    @app.get("/report")
    def report() -> Any:
        # An N+1 on purpose: one query for the customers, then one per customer.
        with Session(engine) as session:
            totals = {}
            for customer in session.scalars(select(Customer)):
                totals[customer.name] = session.scalar(select(func.count(Order.id)).where(Order.customer_id == customer.id))
            return {"orders_per_customer": totals}

    @app.get("/search")
    def search() -> Any:
        term = flask.request.args.get("q", "")
        with Session(engine) as session:
            return {"results": session.scalars(select(Customer.name).where(Customer.name.contains(term))).all()}

    return app


app = create_app()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8001")))
