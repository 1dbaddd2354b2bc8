"""Provider rate-limit headers and the local per-minute window."""

from __future__ import annotations

import httpx2

from otel_kit.signals.ai.ratelimits import FRESH_SECONDS, MinuteWindow, ProviderLimits


def test_openai_headers_tightest_limit() -> None:
    """The tightest remaining/limit ratio is returned with its type."""
    limits = ProviderLimits()
    headers = httpx2.Headers({"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "50", "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "10"})
    assert limits.observe("openai", "openai", "gpt-4o", headers) == (0.01, "tokens")
    assert sorted(limits.fresh()) == [("openai", "gpt-4o", "requests", 50, 100), ("openai", "gpt-4o", "tokens", 10, 1000)]


def test_anthropic_headers_all_types() -> None:
    """requests, tokens, input and output tokens are read from anthropic-ratelimit-*."""
    limits = ProviderLimits()
    headers = {f"anthropic-ratelimit-{kind}-{part}": value for kind in ("requests", "tokens", "input-tokens", "output-tokens") for part, value in (("limit", "10"), ("remaining", "0"))}
    assert limits.observe("anthropic", "anthropic", "claude", headers) == (0.0, "requests")
    assert {kind for _, _, kind, _, _ in limits.fresh()} == {"requests", "tokens", "input_tokens", "output_tokens"}


def test_bad_or_missing_headers_are_ignored() -> None:
    """Garbage values and absent headers record nothing."""
    limits = ProviderLimits()
    assert limits.observe("openai", "openai", "m", {"x-ratelimit-remaining-requests": "lots"}) is None
    assert limits.fresh() == []


def test_stale_numbers_are_not_exported() -> None:
    """A provider's numbers stop being exported once older than FRESH_SECONDS."""
    limits = ProviderLimits()
    limits.observe("openai", "openai", "m", {"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "1"})
    (_, _, _, _, _), = limits.fresh()
    import time

    assert limits.fresh(now=time.monotonic() + FRESH_SECONDS + 1) == []


def test_minute_window_counts_and_expires() -> None:
    """Requests and tokens per model over the last minute."""
    window = MinuteWindow()
    window.add("m", 10, now=100.0)
    window.add("m", 5, now=130.0)
    assert window.read(now=150.0) == {"m": (2, 15)}
    assert window.read(now=175.0) == {"m": (1, 5)}


def test_header_positions_are_checked_each_time() -> None:
    """New values are read on every response, from the right names even when the same headers come in another order."""
    limits = ProviderLimits()
    first = httpx2.Headers([("x-ratelimit-limit-requests", "100"), ("x-ratelimit-remaining-requests", "50"), ("date", "a")])
    assert limits.observe("openai", "openai", "m", first) == (0.5, "requests")
    same_order = httpx2.Headers([("x-ratelimit-limit-requests", "100"), ("x-ratelimit-remaining-requests", "10"), ("date", "b")])
    assert limits.observe("openai", "openai", "m", same_order) == (0.1, "requests")
    reordered = httpx2.Headers([("date", "c"), ("x-ratelimit-remaining-requests", "90"), ("x-ratelimit-limit-requests", "100")])
    assert limits.observe("openai", "openai", "m", reordered) == (0.9, "requests")
    assert limits.observe("openai", "openai", "m", httpx2.Headers([("date", "d"), ("server", "x"), ("via", "y")])) is None


def test_minute_window_keeps_one_bucket_per_second() -> None:
    """Many calls in the same second share one bucket: memory does not grow with the call rate."""
    window = MinuteWindow()
    for index in range(10_000):
        window.add("m", 2, now=500.0 + index / 1000)  # 10 s of calls, 1,000 a second
    assert window.read(now=510.0) == {"m": (10_000, 20_000)}
    assert len(window._buckets["m"]) == 10
    assert window.read(now=569.5) == {"m": (1_000, 2_000)}  # only the second 509 is within the minute
