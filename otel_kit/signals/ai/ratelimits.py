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

_LOOKUP: dict[str, dict[str, tuple[str, int]]] = {
    family: {name: (kind, index) for kind, limit, remaining in sets for index, name in ((0, limit), (1, remaining))}
    for family, sets in HEADER_SETS.items()
}
"""Header name -> (limit type, 0 for the limit or 1 for the remaining count), per family."""
_LOOKUP_BYTES = {family: {name.encode(): hit for name, hit in names.items()} for family, names in _LOOKUP.items()}

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

    def observe(self, family: str, provider: str, model: str, headers: Any) -> tuple[float, str] | None:
        """Read ``headers``; return the tightest ``(remaining / limit, limit type)`` they show, if any."""
        found: dict[str, list[int | None]] = {}
        # One pass over the headers: a lookup per name would scan them all each time. httpx keeps
        # (raw, lowercased, value) byte triples; reading them skips decoding the headers we do not want.
        raw = getattr(headers, "_list", None)
        if isinstance(raw, list):
            lookup_bytes = _LOOKUP_BYTES[family]
            for entry in raw:
                hit = lookup_bytes.get(entry[1])
                if hit is not None:
                    found.setdefault(hit[0], [None, None])[hit[1]] = _number(entry[2])
        else:
            lookup = _LOOKUP[family]
            for key, value in headers.items():
                hit = lookup.get(key.lower())
                if hit is not None:
                    found.setdefault(hit[0], [None, None])[hit[1]] = _number(value)
        if not found:
            return None
        tightest: tuple[float, str] | None = None
        now = time.monotonic()
        for kind, (limit, remaining) in found.items():
            if remaining is None:
                continue
            key3 = (provider, model, kind)
            if key3 in self._state or len(self._state) < _MAX_SERIES:
                self._state[key3] = (remaining, limit, now)
            if limit:
                ratio = min(1.0, remaining / limit)
                if tightest is None or ratio < tightest[0]:
                    tightest = (ratio, kind)
        return tightest

    def fresh(self, now: float | None = None) -> list[tuple[str, str, str, int, int | None]]:
        """``(provider, model, type, remaining, limit)`` seen within ``FRESH_SECONDS``."""
        moment = time.monotonic() if now is None else now
        result = []
        for (provider, model, kind), (remaining, limit, seen) in list(self._state.items()):
            if moment - seen <= FRESH_SECONDS:
                result.append((provider, model, kind, remaining, limit))
        return result


class MinuteWindow:
    """Requests and tokens per model over the last 60 s, counted locally."""

    def __init__(self) -> None:
        self._events: dict[str, deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def add(self, model: str, tokens: int, now: float | None = None) -> None:
        moment = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.get(model)
            if events is None:
                if len(self._events) >= _MAX_SERIES:
                    return
                events = self._events[model] = deque()
            events.append((moment, tokens))
            # Trim here too, so a busy model's window never grows past one minute of calls.
            while events and events[0][0] < moment - 60:
                events.popleft()

    def read(self, now: float | None = None) -> dict[str, tuple[int, int]]:
        moment = time.monotonic() if now is None else now
        result: dict[str, tuple[int, int]] = {}
        with self._lock:
            for model, events in self._events.items():
                while events and events[0][0] < moment - 60:
                    events.popleft()
                result[model] = (len(events), sum(tokens for _, tokens in events))
        return result
