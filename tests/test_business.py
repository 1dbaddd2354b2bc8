"""Business signals: instruments with units and buckets, the cardinality cap, @traced and @timed."""

from __future__ import annotations

import asyncio

import pytest

import otel_kit
from otel_kit.signals import business
from otel_kit.testing import capture

ORDERS = business.counter("shop.orders", unit="{order}", description="Orders placed")  # declared before setup()


def test_instrument_declared_before_setup_reports_after() -> None:
    """Instruments declared at import time bind to the provider once setup() runs."""
    with capture() as cap:
        ORDERS.add(2, {"region": "eu"})
        (point,) = cap.metric_points("shop.orders")
        assert point.value == 2 and point.attributes == {"region": "eu"} and point.unit == "{order}"


def test_histogram_buckets_and_gauge_and_up_down() -> None:
    """Histograms use the chosen buckets; gauges and up-down counters report current values."""
    with capture() as cap:
        revenue = business.histogram("shop.revenue", unit="USD", buckets=business.MONEY_BUCKETS)
        revenue.record(42.5, {"currency": "EUR"})
        business.gauge("shop.cart.size").set(3)
        queue = business.up_down_counter("shop.queue.depth")
        queue.add(5)
        queue.add(-2)
        (point,) = cap.metric_points("shop.revenue")
        assert point.bounds == tuple(float(b) for b in business.MONEY_BUCKETS) and point.sum == 42.5
        assert cap.metric_value("shop.cart.size") == 3 and cap.metric_value("shop.queue.depth") == 3


def test_cardinality_cap_overflows_into_one_series() -> None:
    """Past max_series distinct attribute sets, measurements go to one otel.metric.overflow series."""
    with capture() as cap:
        logins = business.counter("shop.logins", max_series=10)
        for user in range(50):
            logins.add(1, {"user_id": str(user)})
        points = cap.metric_points("shop.logins")
        assert len(points) == 11
        overflow = [p for p in points if p.attributes == {"otel.metric.overflow": True}]
        assert overflow and overflow[0].value == 40


def test_invalid_declarations_raise() -> None:
    """Bad bucket lists or caps raise ConfigError naming the setting."""
    with pytest.raises(otel_kit.ConfigError, match="buckets"):
        business.histogram("x", buckets=[5, 1])
    with pytest.raises(otel_kit.ConfigError, match="max_series"):
        business.counter("y", max_series=0)


def test_traced_sync_and_async_records_outcome() -> None:
    """@traced spans sync and async functions and records the exception before re-raising."""

    @otel_kit.traced
    def ok() -> int:
        return 1

    @otel_kit.traced("payment.charge", attributes={"payment.provider": "stripe"})
    async def charge() -> None:
        raise TimeoutError("gateway")

    with capture() as cap:
        assert ok() == 1
        with pytest.raises(TimeoutError):
            asyncio.run(charge())
        assert cap.span("test_traced_sync_and_async_records_outcome.<locals>.ok").status.status_code.name == "UNSET"
        failed = cap.span("payment.charge")
        assert failed.attributes["error.type"] == "TimeoutError" and failed.attributes["payment.provider"] == "stripe"
        assert failed.status.status_code.name == "ERROR" and failed.events[0].name == "exception"


def test_timed_records_duration_and_outcome() -> None:
    """@timed records seconds with outcome ok/error and error.type, for sync and async functions."""

    @otel_kit.timed("job.duration")
    def job(fail: bool) -> None:
        if fail:
            raise ValueError("bad")

    @otel_kit.timed
    async def task() -> str:
        return "done"

    with capture() as cap:
        job(False)
        with pytest.raises(ValueError):
            job(True)
        assert asyncio.run(task()) == "done"
        outcomes = {p.attributes["outcome"]: p.count for p in cap.metric_points("job.duration")}
        assert outcomes == {"ok": 1, "error": 1}
        error = next(p for p in cap.metric_points("job.duration") if p.attributes["outcome"] == "error")
        assert error.attributes["error.type"] == "ValueError" and error.unit == "s"
        assert cap.metric_value("function.duration") == 1


def test_instruments_never_raise_into_business_code() -> None:
    """Invalid attribute values are swallowed by the instrument, not raised."""
    with capture():
        business.counter("shop.weird").add(1, {"bad": object()})  # type: ignore[dict-item]
