"""Health and slow-query routers: tags and operation ids for any app, /health/live, protected detail endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

import otel_kit
from otel_kit.testing import capture

LOOPBACK = ("127.0.0.1", 50000)
REMOTE = ("203.0.113.7", 50000)


def _template_id(route: APIRoute) -> str:
    """The full-stack FastAPI template's function: it indexes the first tag."""
    return f"{route.tags[0]}-{route.name}"


def _app(**router_options: Any) -> FastAPI:
    app = FastAPI(generate_unique_id_function=_template_id)
    users = APIRouter(prefix="/users", tags=["users"])

    @users.get("/")
    def list_users() -> list[str]:
        return ["ada"]

    app.include_router(users)
    app.include_router(otel_kit.health_router(**router_options))
    app.include_router(otel_kit.slow_query_router())
    return app


def test_routers_fit_custom_generate_unique_id_function() -> None:
    """An app whose id function indexes route.tags[0] serves every route and its OpenAPI; ids are explicit and unique, tags set."""
    client = TestClient(_app(), client=LOOPBACK)
    with capture(health=True):
        for path in ("/health", "/health/live", "/health/ready", "/health/detailed", "/debug/slow-queries", "/users/"):
            assert client.get(path).status_code == 200, path
    schema = client.get("/openapi.json").json()
    assert "/users/" in schema["paths"] and not [p for p in schema["paths"] if p.startswith(("/health", "/debug"))]
    routes = [r for router in (otel_kit.health_router(), otel_kit.slow_query_router()) for r in router.routes if isinstance(r, APIRoute)]
    ids = [r.operation_id for r in routes]
    assert len(routes) == 5 and len(set(ids)) == 5 and all(i and i.startswith("otel_kit_") for i in ids)
    assert all(r.tags == ["otel-kit"] for r in routes)


def test_routers_under_app_prefix_and_tags() -> None:
    """Included with the app's own prefix and tags, under the template's id function, the routes still work."""
    app = FastAPI(generate_unique_id_function=_template_id)
    app.include_router(otel_kit.health_router(), prefix="/api/v1", tags=["ops"])
    app.include_router(otel_kit.slow_query_router(tags=["debug"]), prefix="/api/v1")
    client = TestClient(app, client=LOOPBACK)
    assert client.get("/api/v1/health/live").json() == {"status": "alive"}
    with capture():
        assert client.get("/api/v1/debug/slow-queries").status_code == 200


def test_liveness_routes_need_no_setup() -> None:
    """/health and /health/live answer 200 without setup(); /health/ready says health is not set up."""
    client = TestClient(_app())
    assert client.get("/health").json() == client.get("/health/live").json() == {"status": "alive"}
    assert client.get("/health/ready").json()["status"] == "unknown"


def test_detailed_is_loopback_only_without_token() -> None:
    """Without a token, /health/detailed answers loopback clients, and refuses remote ones and proxied requests."""
    app = _app()
    with capture(health=True):
        assert TestClient(app, client=LOOPBACK).get("/health/detailed").status_code == 200
        refused = TestClient(app, client=REMOTE).get("/health/detailed")
        assert refused.status_code == 403 and "OTEL_KIT_HEALTH_TOKEN" in refused.json()["error"]
        proxied = TestClient(app, client=LOOPBACK).get("/health/detailed", headers={"X-Forwarded-For": "198.51.100.4"})
        assert proxied.status_code == 403
        assert TestClient(app, client=("::1", 50000)).get("/health/detailed").status_code == 200
        assert TestClient(app).get("/health/detailed").status_code == 403  # the test client's host is "testclient": not an address


def test_detailed_token_from_environment_read_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_KIT_HEALTH_TOKEN set after the router was built applies (also to loopback); bearer and X-Health-Token both work."""
    app = _app()
    with capture(health=True):
        local = TestClient(app, client=LOOPBACK)
        monkeypatch.setenv("OTEL_KIT_HEALTH_TOKEN", "s3cret")
        assert local.get("/health/detailed").status_code == 401
        remote = TestClient(app, client=REMOTE)
        assert remote.get("/health/detailed", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert remote.get("/health/detailed", headers={"X-Health-Token": "s3cret"}).status_code == 200
        assert remote.get("/health/detailed", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_token_argument_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """token= given to the router is the one required, whatever the environment says."""
    monkeypatch.setenv("OTEL_KIT_HEALTH_TOKEN", "from-env")
    app = _app(token="from-arg")
    with capture(health=True):
        client = TestClient(app, client=REMOTE)
        assert client.get("/health/detailed", headers={"Authorization": "Bearer from-env"}).status_code == 401
        assert client.get("/health/detailed", headers={"Authorization": "Bearer from-arg"}).status_code == 200


def test_slow_query_endpoint_protected_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """The slow-query report: loopback only by default, OTEL_KIT_SLOW_QUERY_TOKEN when set."""
    app = _app()
    with capture():
        assert TestClient(app, client=LOOPBACK).get("/debug/slow-queries").status_code == 200
        refused = TestClient(app, client=REMOTE).get("/debug/slow-queries")
        assert refused.status_code == 403 and "OTEL_KIT_SLOW_QUERY_TOKEN" in refused.json()["error"]
        monkeypatch.setenv("OTEL_KIT_SLOW_QUERY_TOKEN", "t0ken")
        remote = TestClient(app, client=REMOTE)
        assert remote.get("/debug/slow-queries").status_code == 401
        assert remote.get("/debug/slow-queries?top=3", headers={"Authorization": "Bearer t0ken"}).json()["order"] == "total"


@pytest.mark.parametrize("factory", [lambda: otel_kit.health_router(prefix="health"), lambda: otel_kit.health_router(prefix="/"), lambda: otel_kit.slow_query_router(path="")])
def test_invalid_paths_are_config_errors(factory: Any) -> None:
    """A path that does not start with '/' (or is only '/') is one ConfigError naming the setting."""
    with pytest.raises(otel_kit.ConfigError, match=r"invalid (prefix|path)=.*expected a path starting with '/'"):
        factory()


def test_non_string_token_is_config_error_without_the_value() -> None:
    """A token that is not a string is rejected without echoing it."""
    with pytest.raises(otel_kit.ConfigError, match="invalid token='<int>'") as info:
        otel_kit.health_router(token=12345)  # type: ignore[arg-type]
    assert "12345" not in str(info.value)
