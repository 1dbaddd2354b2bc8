"""The real Jaeger serves UI assets from ``ui.assets_path`` (how a Jaeger built from source gets the released
jaeger-ui): a fixture assets folder's index page and static file come back from the query port, and the
API still answers; with the variable empty, the shipped jaeger.yaml still runs (the UI in the binary)."""

from __future__ import annotations

import json
import shutil
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_kit.cli.stack import DEFAULT_PORTS, Stack, config

pytestmark = pytest.mark.e2e

INDEX = '<!doctype html><html><head><base href="/"><title>otel-kit e2e UI</title><script>JAEGER_VERSION = DEFAULT_VERSION;</script></head></html>'
SCRIPT = "window.otelKitE2e = 'static file served from ui.assets_path';\n"


def _free_ports() -> dict[str, int]:
    sockets = []
    try:
        for _ in DEFAULT_PORTS:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return {name: s.getsockname()[1] for name, s in zip(DEFAULT_PORTS, sockets, strict=True)}
    finally:
        for sock in sockets:
            sock.close()


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read().decode()


@pytest.fixture
def jaeger_stack(stack_root: Path) -> Iterator[Stack]:
    """A stack on free ports whose only running service is Jaeger; stopped and removed at the end."""
    stack = Stack(name="e2e-jaeger-ui", ports=_free_ports(), root=stack_root)
    stack.down()
    config.render(stack.run_dir, stack.ports)
    try:
        yield stack
    finally:
        stack.down()
        shutil.rmtree(stack.run_dir, ignore_errors=True)


def _start_jaeger(stack: Stack, assets: Path | None) -> None:
    jaeger = next(service for service in stack.services() if service.name == "jaeger")
    jaeger.environment["JAEGER_UI_ASSETS_PATH"] = str(assets) if assets else ""
    stack.start(jaeger)


def test_jaeger_serves_ui_assets_from_assets_path(jaeger_stack: Stack, tmp_path: Path) -> None:
    """Index page (with Jaeger's version injected) and a static file come from the assets folder; /api/services answers."""
    assets = tmp_path / "jaeger-ui"
    (assets / "static").mkdir(parents=True)
    (assets / "index.html").write_text(INDEX)
    (assets / "static" / "e2e.js").write_text(SCRIPT)
    _start_jaeger(jaeger_stack, assets)
    base = jaeger_stack.jaeger_url
    status, content_type, page = _get(f"{base}/")
    assert status == 200 and content_type.startswith("text/html") and "<title>otel-kit e2e UI</title>" in page
    assert "DEFAULT_VERSION" not in page and "JAEGER_VERSION = {" in page  # Jaeger read and enriched this index.html
    assert _get(f"{base}/search")[2] == page  # the UI's routes fall back to the index page
    status, _, script = _get(f"{base}/static/e2e.js")
    assert status == 200 and script == SCRIPT
    status, _, services = _get(f"{base}/api/services")
    assert status == 200 and "data" in json.loads(services)


def test_empty_assets_path_serves_the_binarys_own_page(jaeger_stack: Stack) -> None:
    """With JAEGER_UI_ASSETS_PATH empty (docker-compose, release binaries) the shipped jaeger.yaml runs and serves the binary's page."""
    _start_jaeger(jaeger_stack, None)
    status, content_type, page = _get(f"{jaeger_stack.jaeger_url}/")
    assert status == 200 and content_type.startswith("text/html") and "otel-kit e2e UI" not in page
    assert _get(f"{jaeger_stack.jaeger_url}/api/services")[0] == 200
