"""Prices: genai-prices' exact ids and cache rates, the fast per-token rates, overrides and the price file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import genai_prices
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import otel_kit
from otel_kit.signals.ai import prices as prices_module
from otel_kit.signals.ai.prices import PriceBook, Rate, library
from otel_kit.signals.ai.usage import Usage


@pytest.fixture(scope="module", autouse=True)
def _loaded() -> None:
    assert library.wait(60)


def _rate(provider: str, model: str) -> Rate:
    rate = PriceBook().rate(provider, (model,))
    assert isinstance(rate, Rate), f"{provider}/{model}: {rate}"
    return rate


def _per_million(rate: Rate) -> tuple[float, float]:
    return round(rate.bands[0].input * 1e6, 6), round(rate.bands[0].output * 1e6, 6)


def test_exact_ids_not_prefixes() -> None:
    """claude-opus-4-5 is not priced as Opus 4.1, gpt-4o-2024-05-13 not as gpt-4o."""
    assert _per_million(_rate("anthropic", "claude-opus-4-5")) == (5.0, 25.0)
    assert _per_million(_rate("anthropic", "claude-opus-4-1")) == (15.0, 75.0)
    assert _per_million(_rate("openai", "gpt-4o-2024-05-13")) == (5.0, 15.0)
    assert _per_million(_rate("openai", "gpt-4o")) == (2.5, 10.0)


def test_models_the_old_table_missed() -> None:
    """o3, gpt-5, claude-3-haiku and OpenRouter ids have prices."""
    for provider, model in (("openai", "o3"), ("openai", "gpt-5"), ("anthropic", "claude-3-haiku-20240307"), ("openrouter", "anthropic/claude-3.5-sonnet")):
        rate = _rate(provider, model)
        assert rate.bands[0].input > 0 and rate.source == "genai-prices"


def test_unknown_models_are_never_guessed() -> None:
    """A name that merely starts like a known model, or a self-hosted provider, has no price."""
    book = PriceBook()
    assert book.rate("openai", ("gpt-4o-mini-foo",)) == "unknown_model"
    assert book.rate("ollama", ("llama3",)) == "unknown_model"
    assert book.rate("openai", (None, "gpt-4o")) != "unknown_model"  # falls back to the request model


def test_cached_input_is_cheaper() -> None:
    """Cache reads are priced at the cache rate, cache writes at the write rate."""
    rate = _rate("anthropic", "claude-sonnet-4-5")
    plain = sum(rate.cost(Usage(input_tokens=1000, output_tokens=0)))
    cached = sum(rate.cost(Usage(input_tokens=1000, cache_read_tokens=900, output_tokens=0)))
    written = sum(rate.cost(Usage(input_tokens=1000, cache_creation_tokens=900, output_tokens=0)))
    assert cached < plain < written


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from([("openai", "gpt-4o-mini"), ("openai", "o3"), ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-opus-4-5"), ("gcp.gemini", "gemini-2.5-pro"), ("openrouter", "anthropic/claude-3.5-sonnet")]),
    st.integers(0, 600_000), st.integers(0, 100), st.integers(0, 100), st.integers(0, 100), st.integers(0, 50_000), st.integers(0, 100),
)
def test_fast_rates_match_genai_prices(model: tuple[str, str], total: int, read_pct: int, write_pct: int, hour_pct: int, output: int, reasoning_pct: int) -> None:
    """Per-token rates (tiers included) give genai-prices' own total for any usage."""
    read = total * read_pct // 100
    write = (total - read) * write_pct // 100
    one_hour = write * hour_pct // 100
    reasoning = output * reasoning_pct // 100
    usage = Usage(input_tokens=total, output_tokens=output, cache_read_tokens=read, cache_creation_tokens=write, cache_creation_1h_tokens=one_hour, reasoning_tokens=reasoning)
    provider, name = model
    ours = sum(_rate(provider, name).cost(usage))
    provider_id = prices_module.LIBRARY_PROVIDERS.get(provider, provider)
    theirs = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=total, output_tokens=output, cache_read_tokens=read, cache_write_tokens=write, cache_write_1h_tokens=one_hour, output_reasoning_tokens=reasoning),
        name, provider_id=provider_id,
    )
    assert ours == pytest.approx(float(theirs.total_price), rel=1e-9, abs=1e-12)


def test_library_is_asked_once_per_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rates are cached: the slow calculation runs once per model, not per call."""
    calls: list[str] = []
    original = prices_module._library_rate
    monkeypatch.setattr(prices_module, "_library_rate", lambda provider, model, tier: calls.append(model) or original(provider, model, tier))
    book = PriceBook()
    for _ in range(5):
        book.rate("openai", ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"))
    assert calls == ["gpt-4o-mini-2024-07-18"]


def test_overrides_win_and_are_validated() -> None:
    """set() beats genai-prices for that exact id; a bad number raises ConfigError naming it."""
    book = PriceBook()
    book.set("gpt-4o", input_per_million=1.0, output_per_million=2.0, cache_read_per_million=0.5)
    rate = book.rate("openai", ("gpt-4o",))
    assert isinstance(rate, Rate) and rate.source == "override"
    assert sum(rate.cost(Usage(input_tokens=1_000_000, cache_read_tokens=500_000, output_tokens=1_000_000))) == pytest.approx(0.5 + 0.25 + 2.0)
    for bad in ({"input_per_million": -1, "output_per_million": 1}, {"input_per_million": 1, "output_per_million": float("nan")}, {"input_per_million": True, "output_per_million": 1}):
        with pytest.raises(otel_kit.ConfigError):
            book.set("x", **bad)


def test_price_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The price file adds exact-id prices; a bad entry is skipped with a warning; a bad file is ignored."""
    good = tmp_path / "prices.json"
    good.write_text(json.dumps({"in-house-7b": {"input": 0.1, "output": 0.2}, "broken": {"input": "free"}}))
    book = PriceBook()
    with caplog.at_level(logging.WARNING, logger="otel_kit.ai"):
        assert book.load_file(str(good)) == 1
        assert book.load_file(str(tmp_path / "missing.json")) == 0
    rate = book.rate("vllm", ("in-house-7b",))
    assert isinstance(rate, Rate) and rate.source == "file"
    assert any("broken" in r.getMessage() for r in caplog.records) and any("missing.json" in r.getMessage() for r in caplog.records)


def test_prices_loading_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """While genai-prices is still importing, the reason says so (it is never imported on a request)."""
    loading = prices_module._Library()
    loading._started = True
    monkeypatch.setattr(prices_module, "library", loading)
    assert PriceBook().rate("openai", ("gpt-4o",)) == "prices_loading"
