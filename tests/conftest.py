"""Shared fixtures: every test starts and ends without an active otel-kit configuration."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import otel_kit


@pytest.fixture(autouse=True)
def _no_leftover_setup(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets a clean environment and no active configuration."""
    for name in list(os.environ):
        if name.startswith(("OTEL_KIT_", "OTEL_EXPORTER_", "OTEL_TRACES_", "OTEL_METRICS_", "OTEL_LOGS_", "OTEL_BSP_", "OTEL_BLRP_")) or name in (
            "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED", "OTEL_LOG_LEVEL", "OTEL_METRIC_EXPORT_INTERVAL",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
        ):
            monkeypatch.delenv(name, raising=False)
    otel_kit.shutdown()
    yield
    otel_kit.shutdown()


def _stack_unavailable(message: str) -> None:
    """Under CI the stack is required: fail. Elsewhere, skip with the reason."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"the local stack is required under CI=true: {message}", pytrace=False)
    pytest.skip(f"local stack unavailable: {message}")


@pytest.fixture(scope="session")
def stack_root() -> Iterator[object]:
    """The installed backends (built on first use, cached under $OTEL_KIT_HOME)."""
    from otel_kit.cli.stack import StackError, home, install

    try:
        install(home())
    except (StackError, OSError) as exc:
        _stack_unavailable(str(exc))
    yield home()


E2E_PORTS = {
    "otlp_grpc": 24317, "otlp_http": 24318, "collector_health": 23133, "collector_metrics": 28888,
    "jaeger_otlp_grpc": 34317, "jaeger_otlp_http": 34318, "jaeger_query": 26686, "jaeger_query_grpc": 26685,
    "jaeger_health": 34133, "jaeger_metrics": 38888, "loki_http": 23100, "loki_grpc": 29096, "prometheus": 29090,
    "alertmanager": 29093,
}


@pytest.fixture(scope="session")
def stack(stack_root: object) -> Iterator[object]:
    """A running stack on its own ports and run directory, started fresh and stopped at the end."""
    from otel_kit.cli.stack import Stack, StackError

    running = Stack(name="e2e", ports=dict(E2E_PORTS))
    running.down()
    try:
        running.up(fresh=True)
    except StackError as exc:
        running.down()
        _stack_unavailable(str(exc))
    yield running
    running.down()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """A PostgreSQL server (Debian's binaries) on a free port in a temporary directory, for the session."""
    from _servers import start_postgres

    yield from start_postgres()


@pytest.fixture
def postgres(postgres_server: object) -> Iterator[object]:
    """A fresh, empty database on the session's PostgreSQL server, dropped after the test."""
    import uuid

    import psycopg
    from _servers import Postgres

    assert isinstance(postgres_server, Postgres)
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield Postgres(postgres_server.host, postgres_server.port, postgres_server.user, name)
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[object]:
    """A Redis server (Debian's binary) on a free port in a temporary directory, for the session."""
    from _servers import start_redis

    yield from start_redis()
