"""Rate-limit state from the providers' response headers, plus the configured per-minute limits.

OpenAI sends ``x-ratelimit-{limit,remaining}-{requests,tokens}``; Anthropic sends
``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining}``. The last
values seen per provider, model and limit type are exported as gauges while they are fresh; a
provider's own numbers win over the locally counted headroom against ``set_rate_limit`` limits.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

__all__ = ["ProviderLimits", "MinuteWindow", "HEADER_SETS"]

# (limit type, limit header, remaining header), per header family.
HEADER_SETS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "openai": (
        ("requests", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests"),
        ("tokens", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"),
    ),
    "anthropic": (
        ("requests", "anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining"),
        ("tokens", "anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining"),
        ("input_tokens", "anthropic-ratelimit-input-tokens-limit", "anthropic-ratelimit-input-tokens-remaining"),
        ("output_tokens", "anthropic-ratelimit-output-tokens-limit", "anthropic-ratelimit-output-tokens-remaining"),
    ),
}

_BYTE_SETS: dict[str, tuple[tuple[str, bytes, bytes], ...]] = {
    family: tuple((kind, limit.encode(), remaining.encode()) for kind, limit, remaining in sets) for family, sets in HEADER_SETS.items()
}
FRESH_SECONDS = 60.0
"""Provider numbers older than this are no longer exported: the window they describe has moved on."""

_MAX_SERIES = 500


def _number(value: Any) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)  # int() takes str and bytes, and ignores surrounding whitespace
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


class ProviderLimits:
    """Latest ``(remaining, limit, seen_at)`` per (provider, model, limit type)."""

    def __init__(self) -> None:
        self._state: dict[tuple[str, str, str], tuple[int, int | None, float]] = {}
        self._layouts: dict[tuple[str, str, int], tuple[tuple[str, int, int, bytes, bytes], ...]] = {}
        """Where the rate-limit headers were in the last response of a family and provider with this many
        headers: (limit type, index of the limit header or -1, index of the remaining header, their names)."""

    def observe(self, family: str, provider: str, model: str, headers: Any) -> tuple[float, str] | None:
        """Read ``headers``; return the tightest ``(remaining / limit, limit type)`` they show, if any."""
        raw = getattr(headers, "_list", None)
        if type(raw) is list:
            values = self._located(raw, family, provider)
        else:
            lowered = {str(key).lower(): value for key, value in headers.items()}
            values = [(kind, lowered.get(limit), lowered[remaining]) for kind, limit, remaining in HEADER_SETS[family] if remaining in lowered]
        tightest: tuple[float, str] | None = None
        now = 0.0
        state = self._state
        for kind, limit_value, remaining_value in values:
            remaining = _number(remaining_value)
            if remaining is None:
                continue
            limit = None if limit_value is None else _number(limit_value)
            if not now:
                now = time.monotonic()
            key = (provider, model, kind)
            if key in state or len(state) < _MAX_SERIES:
                state[key] = (remaining, limit, now)
            if limit:
                ratio = remaining / limit
                if ratio > 1.0:
                    ratio = 1.0
                if tightest is None or ratio < tightest[0]:
                    tightest = (ratio, kind)
        return tightest

    def _located(self, raw: list[Any], family: str, provider: str) -> list[tuple[str, Any, Any]]:
        """``(limit type, limit value or None, remaining value)`` from httpx's (raw name, lowercased name,
        value) byte triples. A provider sends its headers in the same order every time, so the positions
        found last time are checked first: a few comparisons instead of a pass over every header."""
        layout_key = (family, provider, len(raw))
        layout = self._layouts.get(layout_key)
        if layout is not None:
            try:
                values = []
                for kind, limit_at, remaining_at, limit_name, remaining_name in layout:
                    remaining_entry = raw[remaining_at]
                    if remaining_entry[1] != remaining_name:
                        break
                    if limit_at < 0:
                        values.append((kind, None, remaining_entry[2]))
                        continue
                    limit_entry = raw[limit_at]
                    if limit_entry[1] != limit_name:
                        break
                    values.append((kind, limit_entry[2], remaining_entry[2]))
                else:
                    return values
            except (IndexError, TypeError):
                pass
        positions = {entry[1]: index for index, entry in enumerate(raw)}  # the last of repeated names wins
        layout = tuple(
            (kind, positions.get(limit_name, -1), positions[remaining_name], limit_name, remaining_name)
            for kind, limit_name, remaining_name in _BYTE_SETS[family] if remaining_name in positions
        )
        if len(self._layouts) >= 64:
            self._layouts.clear()
        self._layouts[layout_key] = layout
        return [(kind, None if limit_at < 0 else raw[limit_at][2], raw[remaining_at][2]) for kind, limit_at, remaining_at, _, _ in layout]

    def fresh(self, now: float | None = None) -> list[tuple[str, str, str, int, int | None]]:
        """``(provider, model, type, remaining, limit)`` seen within ``FRESH_SECONDS``."""
        moment = time.monotonic() if now is None else now
        result = []
        for (provider, model, kind), (remaining, limit, seen) in list(self._state.items()):
            if moment - seen <= FRESH_SECONDS:
                result.append((provider, model, kind, remaining, limit))
        return result


class MinuteWindow:
    """Requests and tokens per model over the last 60 s, counted locally.

    Counted per whole second: a model keeps at most 61 buckets however busy it is, and a call adds
    to the current bucket instead of keeping an entry of its own for a minute.
    """

    def __init__(self) -> None:
        self._buckets: dict[str, deque[list[int]]] = {}
        """Per model: ``[second, requests, tokens]``, oldest first."""
        self._lock = threading.Lock()

    def add(self, model: str, tokens: int, now: float | None = None) -> None:
        second = int(time.monotonic() if now is None else now)
        with self._lock:
            buckets = self._buckets.get(model)
            if buckets is None:
                if len(self._buckets) >= _MAX_SERIES:
                    return
                buckets = self._buckets[model] = deque()
            if buckets and buckets[-1][0] == second:
                bucket = buckets[-1]
                bucket[1] += 1
                bucket[2] += tokens
                return
            buckets.append([second, 1, tokens])
            _expire(buckets, second)

    def read(self, now: float | None = None) -> dict[str, tuple[int, int]]:
        second = int(time.monotonic() if now is None else now)
        result: dict[str, tuple[int, int]] = {}
        with self._lock:
            for model, buckets in self._buckets.items():
                _expire(buckets, second)
                result[model] = (sum(bucket[1] for bucket in buckets), sum(bucket[2] for bucket in buckets))
        return result


def _expire(buckets: deque[list[int]], second: int) -> None:
    while buckets and buckets[0][0] < second - 60:
        buckets.popleft()
