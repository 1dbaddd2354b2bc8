"""Small clients for the backends' own query APIs: Jaeger, Prometheus (PromQL), Loki (LogQL)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

from otel_kit.cli.errors import BackendError

T = TypeVar("T")
TIMEOUT_S = 30.0  # a large Jaeger query takes seconds; a refused connection fails at once anyway


def _reason(exc: BaseException) -> str:
    """``connection refused``, ``timed out``, ``name or service not known``: the cause, in a few words."""
    cause: Any = exc.reason if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError) else exc
    if isinstance(cause, (socket.timeout, TimeoutError)):
        return "timed out"
    text = getattr(cause, "strerror", None) or str(cause)
    return str(text).lower()


def get_json(url: str, params: dict[str, Any] | None = None, timeout: float = TIMEOUT_S, *, backend: str = "the backend") -> Any:
    """GET ``url`` as JSON; any failure is a ``BackendError`` naming the backend and its base URL."""
    parts = urllib.parse.urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read(200).decode("utf-8", "replace").strip().splitlines()
        raise BackendError(backend, base, parts.path, f"HTTP {exc.code}" + (f" ({detail[0][:120]})" if detail else ""), exc.code) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BackendError(backend, base, parts.path, _reason(exc)) from None
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):  # every API used here answers with a JSON object
        raise BackendError(backend, base, parts.path, "something that is not its JSON API", 200)
    return data


def reachable(url: str, timeout: float = 3.0) -> str | None:
    """None when something answers HTTP at ``url`` (whatever the status), else why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _reason(exc)


def jaeger_trace(base: str, trace_id: str) -> dict[str, Any] | None:
    try:
        data = get_json(f"{base}/api/traces/{trace_id}", backend="Jaeger").get("data") or []
    except BackendError as exc:
        if exc.status == 404:
            return None
        raise
    return data[0] if data else None


def jaeger_services(base: str) -> list[str]:
    return sorted(str(s) for s in get_json(f"{base}/api/services", backend="Jaeger").get("data") or [])


def service_hint(jaeger: str, service: str) -> str:
    """Why a query found nothing: the service is unknown to Jaeger (and which ones it knows), or was quiet."""
    try:
        known = jaeger_services(jaeger)
    except BackendError:
        return f"no traces of {service!r}"
    if service in known:
        return f"{service!r} sent no traces in that time"
    if not known:
        return "Jaeger has no traces of any service yet"
    return f"Jaeger has no service {service!r}; it has: {', '.join(known[:20])}{' ...' if len(known) > 20 else ''}"


def jaeger_traces(base: str, service: str, lookback: str = "1h", limit: int = 1000, tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Traces of ``service``; ``tags`` keeps those with a span carrying every tag (Jaeger's own filter)."""
    params: dict[str, Any] = {"service": service, "lookback": lookback, "limit": limit}
    if tags:
        params["tags"] = json.dumps(tags)
    return list(get_json(f"{base}/api/traces", params, backend="Jaeger").get("data") or [])


def prometheus_query(base: str, promql: str) -> list[dict[str, Any]]:
    data = get_json(f"{base}/api/v1/query", {"query": promql}, backend="Prometheus")
    return list(data.get("data", {}).get("result", []))


def loki_query(base: str, logql: str, since_seconds: float = 3600, limit: int = 1000) -> list[dict[str, Any]]:
    """Log lines as dicts: ``line``, ``labels`` (stream labels and structured metadata)."""
    now = time.time_ns()
    data = get_json(
        f"{base}/loki/api/v1/query_range",
        {"query": logql, "start": now - int(since_seconds * 1e9), "end": now, "limit": limit, "direction": "backward"},
        backend="Loki",
    )
    lines = []
    for stream in data.get("data", {}).get("result", []):
        labels = stream.get("stream", {})
        for value in stream.get("values", []):
            extra = value[2] if len(value) > 2 and isinstance(value[2], dict) else {}
            merged = {**labels}
            for group in extra.values():
                if isinstance(group, dict):
                    merged.update(group)
            lines.append({"timestamp": value[0], "line": value[1], "labels": merged})
    return lines


def wait_for(probe: Callable[[], T | None], timeout: float = 60.0, interval: float = 1.0) -> T | None:
    """Call ``probe`` until it returns something truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = probe()
        except Exception:  # noqa: BLE001 - the backend may still be starting
            result = None
        if result:
            return result
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
