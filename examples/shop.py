"""An example service: a small shop on FastAPI + SQLAlchemy, instrumented by one otel_kit.setup() call.

Run it against the local stack (`otel-kit stack up`):

    python examples/shop.py            # serves on 127.0.0.1:8000

It exercises every signal family: orders and revenue (business), logins and request inspection
(security), an assistant backed by an LLM client (AI), a deliberately slow report and an N+1
endpoint (slow-query analysis), and /health endpoints computed from its own spans.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import httpx2
import openai
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import ForeignKey, create_engine, event, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

import otel_kit
from otel_kit.analysis.health import register_default_checks

log = logging.getLogger("shop")

# Business instruments may be declared at import time, before setup().
ORDERS = otel_kit.counter("shop.orders", unit="{order}", description="Orders placed")
REVENUE = otel_kit.histogram("shop.revenue", unit="USD", description="Order value", buckets=otel_kit.business.MONEY_BUCKETS)


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    total: Mapped[float]
    invoiced: Mapped[bool] = mapped_column(default=False)


class OrderIn(BaseModel):
    customer_id: int
    total: float


class LoginIn(BaseModel):
    user: str
    password: str


def make_engine(url: str | None = None) -> Any:
    """The shop's database: in memory by default; ``url`` (or SHOP_DATABASE_URL) shares one with the
    Flask service and the Celery worker (``examples/shop_flask.py``, ``examples/shop_worker.py``)."""
    url = url or os.environ.get("SHOP_DATABASE_URL")
    if url:
        engine = create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})
    else:
        engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})

    def sleep_ms(ms: float) -> float:
        time.sleep(ms / 1000)
        return ms

    @event.listens_for(engine, "connect")
    def add_sleep(dbapi_connection: Any, _: Any) -> None:
        # lets the demo produce a genuinely slow query on SQLite
        if hasattr(dbapi_connection, "create_function"):
            dbapi_connection.create_function("sleep_ms", 1, sleep_ms)

    Base.metadata.create_all(engine)
    with Session(engine) as session:
        if session.scalar(select(func.count()).select_from(Customer)) == 0:
            session.add_all(Customer(id=i, name=name) for i, name in enumerate(["Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Alan", "Radia", "Conan O'Brien", "Edsger"], 1))
            session.commit()
    return engine


def fake_llm(request: httpx2.Request) -> httpx2.Response:
    """A local stand-in for an OpenAI-compatible endpoint, so the demo needs no API key."""
    body = json.loads(request.content)
    prompt = " ".join(m.get("content", "") for m in body.get("messages", []))
    return httpx2.Response(200, json={
        "id": "chatcmpl-demo", "object": "chat.completion", "created": int(time.time()), "model": body["model"] + "-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Try the blue one."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40 + len(prompt) // 4, "completion_tokens": 12, "total_tokens": 52 + len(prompt) // 4},
    })


def create_app(engine: Any = None, llm: openai.OpenAI | None = None) -> FastAPI:
    engine = engine or make_engine()
    llm = llm or openai.OpenAI(api_key="demo", base_url="http://llm.local/v1", http_client=httpx2.Client(transport=httpx2.MockTransport(fake_llm)))
    app = FastAPI(title="otel-kit example shop")
    app.include_router(otel_kit.health_router())
    app.include_router(otel_kit.slow_query_router())
    telemetry = otel_kit.current()
    if telemetry is not None and telemetry.health is not None:
        register_default_checks(telemetry.health, engine=engine)

    @app.post("/orders")
    def place_order(order: OrderIn) -> dict[str, Any]:
        with Session(engine) as session:
            if session.get(Customer, order.customer_id) is None:
                raise HTTPException(404, "unknown customer")
            row = Order(customer_id=order.customer_id, total=order.total)
            session.add(row)
            session.commit()
            ORDERS.add(1, {"channel": "web"})
            REVENUE.record(order.total, {"currency": "USD"})
            log.info("order %s placed by customer %s", row.id, order.customer_id)
            return {"id": row.id}

    @app.get("/customers")
    def customers() -> list[dict[str, Any]]:
        # An N+1 on purpose: one query for customers, then one per customer.
        with Session(engine) as session:
            result = []
            for customer in session.scalars(select(Customer)):
                spent = session.scalar(select(func.coalesce(func.sum(Order.total), 0)).where(Order.customer_id == customer.id))
                result.append({"name": customer.name, "spent": spent})
            return result

    @app.get("/reports/slow")
    def slow_report() -> dict[str, Any]:
        with engine.connect() as connection:
            total = connection.execute(text("SELECT sleep_ms(600), count(*) FROM orders")).all()[0][1]
        return {"orders": total}

    @app.get("/search")
    def search(q: str = "") -> dict[str, Any]:
        with Session(engine) as session:
            names = session.scalars(select(Customer.name).where(Customer.name.contains(q))).all()
        return {"q": q, "results": names}

    @app.post("/login")
    def login(body: LoginIn) -> dict[str, bool]:
        ok = body.password == "correct horse battery staple"
        otel_kit.security.auth_attempt(body.user, "198.51.100.23" if body.user == "mallory" else "192.0.2.10", ok, reason=None if ok else "wrong password")
        if not ok:
            raise HTTPException(401, "invalid credentials")
        return {"ok": True}

    @app.post("/assistant")
    def assistant(question: str) -> dict[str, str]:
        reply = llm.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}], max_tokens=100)
        return {"answer": reply.choices[0].message.content or ""}

    @app.get("/flaky")
    def flaky(fail: bool = False) -> dict[str, bool]:
        if fail:
            raise HTTPException(503, "dependency unavailable")
        return {"ok": True}

    return app


def main() -> None:
    import uvicorn

    otel_kit.setup(
        service_name=os.environ.get("OTEL_SERVICE_NAME", "otel-kit-shop"),
        service_version="1.0.0",
        environment="demo",
        audit_key=os.environ.get("SHOP_AUDIT_KEY", "demo-audit-key"),
    )
    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))


if __name__ == "__main__":
    main()
