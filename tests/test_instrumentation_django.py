"""Django on PostgreSQL: resolver routes, ORM spans and N+1, security, health URLs; test client and real gunicorn over OTLP."""

from __future__ import annotations

import json
import textwrap
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from _servers import Postgres, gunicorn, otlp_env
from opentelemetry.trace import SpanKind, StatusCode

from otel_kit.receiver import Receiver
from otel_kit.testing import Capture, capture

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
urlpatterns: list[Any] = []


@pytest.fixture(scope="module")
def django_db(postgres_server: Postgres) -> Iterator[Any]:
    """Django configured once for this process (settings cannot be redone), on its own PostgreSQL database."""
    import django
    from django.conf import settings

    name = f"dj_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="test", ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], MIDDLEWARE=[], INSTALLED_APPS=[],
            DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": postgres_server.user,
                                   "HOST": postgres_server.host, "PORT": str(postgres_server.port)}},
        )
        django.setup()
    models = _models()
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.create_model(models.Customer)
        editor.create_model(models.Order)
    customers = [models.Customer.objects.create(name=f"c{i}") for i in range(12)]
    for customer in customers:
        models.Order.objects.create(customer=customer, total=10)
    _urls(models)
    yield models
    connection.close()
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _models() -> Any:
    from django.db import models

    class Customer(models.Model):
        name = models.CharField(max_length=50)

        class Meta:
            app_label = "otelkit_tests"

    class Order(models.Model):
        customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
        total = models.IntegerField()

        class Meta:
            app_label = "otelkit_tests"

    class Models:
        pass

    Models.Customer, Models.Order = Customer, Order  # type: ignore[attr-defined]
    return Models


def _urls(models: Any) -> None:
    from django.http import HttpResponse, JsonResponse
    from django.urls import include, path

    from otel_kit.analysis.django_urls import health_urls, slow_query_urls

    def orders(request: Any) -> Any:
        # An N+1 on purpose: each order's customer is loaded by its own query.
        return JsonResponse({"names": [order.customer.name for order in models.Order.objects.order_by("id")]})

    def customer(request: Any, pk: int) -> Any:
        return JsonResponse({"name": models.Customer.objects.get(pk=pk).name})

    def echo(request: Any) -> Any:
        return HttpResponse(request.body, content_type="application/json")

    def boom(request: Any) -> Any:
        raise RuntimeError("view failed")

    urlpatterns[:] = [
        path("api/", include([path("orders/", orders), path("customers/<int:pk>/", customer)])),
        path("echo", echo),
        path("boom", boom),
        path("", include(health_urls())),
        path("", include(slow_query_urls())),
    ]


def _client() -> Any:
    from django.test import Client

    return Client(raise_request_exception=False)


def _servers(cap: Capture) -> list:
    return [s for s in cap.spans if s.kind is SpanKind.SERVER]


def test_route_from_the_resolver_and_orm_spans_under_it(django_db: Any) -> None:
    """Included routes are joined into http.route; the ORM's statement is a psycopg span under the request."""
    pk = django_db.Customer.objects.order_by("id").first().pk
    with capture() as cap:
        response = _client().get(f"/api/customers/{pk}/", HTTP_TRACEPARENT=PARENT)
        assert response.json() == {"name": "c0"}
        (server,) = _servers(cap)
        assert server.name == "GET /api/customers/<int:pk>/" and server.attributes["http.route"] == "/api/customers/<int:pk>/"
        assert format(server.parent.span_id, "016x") == "b7ad6b7169203331"
        (query,) = [s for s in cap.spans if s.kind is SpanKind.CLIENT]
        assert query.parent.span_id == server.context.span_id and query.name == "SELECT otelkit_tests_customer"
        assert query.attributes["db.system.name"] == "postgresql"


def test_n_plus_one_on_an_orm_loop(django_db: Any) -> None:
    """Lazy foreign keys in a loop: the N+1 is reported for the route, with the customer query's fingerprint."""
    with capture(n_plus_one_threshold=10) as cap:
        assert len(_client().get("/api/orders/").json()["names"]) == 12
        (suspect,) = cap.telemetry.slow_queries.report()["n_plus_one"]
        assert suspect["route"] == "/api/orders/" and suspect["count"] == 12
        assert 'from "otelkit_tests_customer" where "otelkit_tests_customer"."id" = ?' in suspect["fingerprint"]
        (server,) = _servers(cap)
        assert "db.query.n_plus_one" in [e.name for e in server.events]


def test_errors_exclusions_and_security(django_db: Any) -> None:
    """500 with the exception on the span, /health excluded, an attack is a finding, the body reaches the view."""
    body = json.dumps({"q": "1 UNION SELECT password FROM users"}).encode()
    with capture(security=True) as cap:
        client = _client()
        assert client.get("/boom").status_code == 500
        assert client.get("/health").status_code == 200
        assert client.post("/echo", data=body, content_type="application/json").content == body
        boom, echo = _servers(cap)
        assert boom.status.status_code is StatusCode.ERROR and "exception" in [e.name for e in boom.events]
        assert [e.name for e in echo.events] == ["security.attack.sql_injection"]


def test_enforcement_and_explicit_middleware(django_db: Any) -> None:
    """Enforcing: 403 before the view; the explicit middleware never inspects a request twice."""
    from otel_kit.signals.security.django import SecurityMiddleware

    with capture(security=True, security_enforce=True) as cap:
        response = _client().get("/api/orders/", {"q": "<script>alert(1)</script>"})
        assert response.status_code == 403 and response.json() == {"detail": "Forbidden"}
        assert not [s for s in cap.spans if s.kind is SpanKind.CLIENT]
        seen: list[Any] = []
        middleware = SecurityMiddleware(lambda request: seen.append(request) or "passed")
        from django.test import RequestFactory

        request = RequestFactory().get("/x", {"q": "../../etc/passwd"})
        assert middleware(request).status_code == 403 and not seen
        request.META["otel_kit.security.inspected"] = True
        assert middleware(request) == "passed"


def test_health_urls(django_db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """/health/ready turns 503 when a route fails; /health/detailed lists it and needs the token when set."""
    with capture():
        client = _client()
        assert client.get("/health/ready").status_code == 200
        for _ in range(25):
            client.get("/boom")
        assert client.get("/health/ready").status_code == 503
        assert client.get("/health/detailed").json()["routes"][0]["name"] == "GET /boom"
        assert client.get("/health/detailed", REMOTE_ADDR="198.51.100.1").status_code == 403
        monkeypatch.setenv("OTEL_KIT_SLOW_QUERY_TOKEN", "t0ken")
        assert client.get("/debug/slow-queries").status_code == 401
        assert client.get("/debug/slow-queries", HTTP_AUTHORIZATION="Bearer t0ken").status_code == 200


PROJECT = textwrap.dedent(
    """
    import django, otel_kit
    from django.conf import settings
    from django.http import JsonResponse
    from django.urls import path

    settings.configure(
        DEBUG=False, SECRET_KEY="x", ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], MIDDLEWARE=[], INSTALLED_APPS=[],
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", **DB}},
    )
    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    application = get_wsgi_application()       # the handler exists before setup()
    otel_kit.setup("django-svc", metric_interval=3600)

    def count(request, table):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_tables WHERE tablename = %s", [table])
            return JsonResponse({"count": cursor.fetchone()[0]})

    urlpatterns = [path("tables/<str:table>/", count)]
    """
)


def test_gunicorn_spans_over_the_wire(tmp_path: Path, postgres: Postgres) -> None:
    """Real gunicorn: SERVER span with the route and the remote parent, the ORM cursor's span under it, over OTLP."""
    db = {"NAME": postgres.database, "USER": postgres.user, "HOST": postgres.host, "PORT": str(postgres.port)}
    (tmp_path / "djsvc.py").write_text(f"DB = {db!r}\n" + PROJECT)
    with Receiver("grpc") as receiver:
        with gunicorn("djsvc:application", tmp_path, otlp_env(receiver.endpoint)) as base:
            request = urllib.request.Request(f"{base}/tables/pg_class/", headers={"traceparent": PARENT})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.loads(response.read()) == {"count": 1}
        assert receiver.wait_for(lambda: len(receiver.spans()) >= 2, timeout=20)
    spans = receiver.spans()
    server = next(s for s in spans if s.kind == 2)
    query = next(s for s in spans if s.name == "SELECT pg_tables")
    assert server.name == "GET /tables/<str:table>/" and server.parent_span_id == "b7ad6b7169203331" and server.service == "django-svc"
    assert query.parent_span_id == server.span_id and query.attributes["db.namespace"] == postgres.database
