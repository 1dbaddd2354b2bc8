"""Small clients for the backends' own query APIs: Jaeger, Prometheus (PromQL), Loki (LogQL)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def get_json(url: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def jaeger_trace(base: str, trace_id: str) -> dict[str, Any] | None:
    try:
        data = get_json(f"{base}/api/traces/{trace_id}").get("data") or []
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    return data[0] if data else None


def jaeger_traces(base: str, service: str, lookback: str = "1h", limit: int = 1000, tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Traces of ``service``; ``tags`` keeps those with a span carrying every tag (Jaeger's own filter)."""
    params: dict[str, Any] = {"service": service, "lookback": lookback, "limit": limit}
    if tags:
        params["tags"] = json.dumps(tags)
    return list(get_json(f"{base}/api/traces", params).get("data") or [])


def prometheus_query(base: str, promql: str) -> list[dict[str, Any]]:
    data = get_json(f"{base}/api/v1/query", {"query": promql})
    return list(data.get("data", {}).get("result", []))


def loki_query(base: str, logql: str, since_seconds: float = 3600, limit: int = 1000) -> list[dict[str, Any]]:
    """Log lines as dicts: ``line``, ``labels`` (stream labels and structured metadata)."""
    now = time.time_ns()
    data = get_json(
        f"{base}/loki/api/v1/query_range",
        {"query": logql, "start": now - int(since_seconds * 1e9), "end": now, "limit": limit, "direction": "backward"},
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
