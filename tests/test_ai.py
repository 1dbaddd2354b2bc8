"""The public otel_kit.ai API: operation(), traced_operation, set_price, set_rate_limit, set_provider."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

import otel_kit
from otel_kit.signals import ai
from otel_kit.testing import Capture, capture


def _tokens(cap: Capture, token_type: str) -> float:
    return sum(p.sum or 0 for p in cap.metric_points("gen_ai.client.token.usage") if p.attributes["gen_ai.token.type"] == token_type)


def test_otel_kit_ai_is_this_package() -> None:
    """otel_kit.ai is the AI package and AIMonitor stays importable from it."""
    assert otel_kit.ai is ai and ai.AIMonitor.__name__ == "AIMonitor"


def test_operation_records_a_span_and_metrics() -> None:
    """A manual operation: "{operation} {model}" span, conventions' attributes, token and duration metrics."""
    with capture() as cap:
        with ai.operation("acme", "mystery-1", max_tokens=50, temperature=0.1, stream=False, server_address="llm.acme", server_port=8443) as op:
            assert op is not None
            op.record(input_tokens=30, output_tokens=10, cache_read_tokens=20, response_model="mystery-1-v2", finish_reasons=["stop"])
        attributes = cap.span("chat mystery-1").attributes
        assert attributes["gen_ai.request.max_tokens"] == 50 and attributes["gen_ai.request.temperature"] == 0.1
        assert attributes["server.address"] == "llm.acme" and attributes["server.port"] == 8443
        assert attributes["gen_ai.usage.input_tokens"] == 30 and attributes["gen_ai.usage.cache_read.input_tokens"] == 20
        assert attributes["gen_ai.response.model"] == "mystery-1-v2"
        assert _tokens(cap, "input") == 30 and cap.metric_value("gen_ai.client.operation.duration") == 1


def test_request_settings_ignore_sentinels() -> None:
    """A client's NOT_GIVEN (or anything that is not a number) never becomes an attribute."""
    import openai

    with capture() as cap:
        with ai.operation("openai", "gpt-4o", temperature=openai.NOT_GIVEN, top_p=openai.omit, max_tokens=None):
            pass
        assert not [key for key in cap.span("chat gpt-4o").attributes if key.startswith("gen_ai.request.") and key != "gen_ai.request.model"]


def test_unknown_model_counts_tokens_without_cost(caplog: pytest.LogCaptureFixture) -> None:
    """An unknown model: tokens counted, no cost, counted as unpriced, one warning."""
    with capture() as cap, caplog.at_level(logging.WARNING, logger="otel_kit.ai"):
        for _ in range(3):
            with ai.operation("acme", "mystery-1") as op:
                assert op is not None
                op.record(input_tokens=10, output_tokens=10)
        assert _tokens(cap, "input") == 30 and cap.metric_points("otel_kit.ai.cost") == []
        assert cap.metric_value("otel_kit.ai.unpriced", otel_kit__ai__unpriced__reason="unknown_model") == 3
        assert "otel_kit.ai.cost_usd" not in cap.spans[0].attributes
    assert len([r for r in caplog.records if "mystery-1" in r.getMessage()]) == 1


def test_set_price_exact_and_validated() -> None:
    """set_price prices exactly that id (no prefix match) and validates its numbers."""
    with capture() as cap:
        ai.set_price("mystery", input_per_million=1.0, output_per_million=2.0)
        for model in ("mystery", "mystery-2"):
            with ai.operation("acme", model) as op:
                assert op is not None
                op.record(input_tokens=1_000_000, output_tokens=1_000_000)
        assert cap.metric_value("otel_kit.ai.cost") == pytest.approx(3.0)
        assert cap.span("chat mystery").attributes["otel_kit.ai.price.source"] == "override"
        assert "otel_kit.ai.cost_usd" not in cap.span("chat mystery-2").attributes
        with pytest.raises(otel_kit.ConfigError, match="input_per_million"):
            ai.set_price("x", input_per_million=-1, output_per_million=0)


def test_price_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_KIT_AI_PRICES_FILE names a JSON price file read at setup()."""
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"house-model": {"input": 4, "output": 8}}))
    monkeypatch.setenv(ai.PRICES_FILE_ENV, str(path))
    with capture() as cap:
        with ai.operation("vllm", "house-model") as op:
            assert op is not None
            op.record(input_tokens=500_000, output_tokens=500_000)
        assert cap.span("chat house-model").attributes["otel_kit.ai.cost_usd"] == pytest.approx(6.0)


def test_before_setup() -> None:
    """Before setup(): operation() yields None; the setters raise ConfigError."""
    with ai.operation("openai", "gpt-4o") as op:
        assert op is None
    with pytest.raises(otel_kit.ConfigError):
        ai.set_price("m", input_per_million=1, output_per_million=1)
    with pytest.raises(otel_kit.ConfigError):
        ai.set_rate_limit("m", requests_per_minute=1)


def test_configured_rate_limits_give_headroom() -> None:
    """Without provider headers, headroom comes from set_rate_limit and the last minute's calls."""
    with capture() as cap:
        ai.set_rate_limit("gpt-4o", requests_per_minute=10, tokens_per_minute=1000)
        for _ in range(4):
            with ai.operation("openai", "gpt-4o") as op:
                assert op is not None
                op.record(input_tokens=50, output_tokens=50)
        headroom = {p.attributes["otel_kit.ai.rate_limit.type"]: p.value for p in cap.metric_points("otel_kit.ai.rate_limit.headroom")}
        assert headroom == {"requests": pytest.approx(0.6), "tokens": pytest.approx(0.6)}
        assert cap.metric_value("otel_kit.ai.requests_per_minute") == 4
        with pytest.raises(otel_kit.ConfigError):
            ai.set_rate_limit("gpt-4o", requests_per_minute=0)


def test_traced_operation_sync_and_async() -> None:
    """The decorator wraps sync and async functions and extracts usage from their result."""

    @ai.traced_operation("local", "llama-3", extract=lambda r: {"input_tokens": r["in"], "output_tokens": r["out"]})
    def generate(prompt: str) -> dict[str, Any]:
        return {"in": len(prompt), "out": 4}

    @ai.traced_operation("local", "llama-3", "text_completion")
    async def complete() -> str:
        return "done"

    with capture() as cap:
        generate("hello")
        assert asyncio.run(complete()) == "done"
        assert cap.span("chat llama-3").attributes["gen_ai.usage.input_tokens"] == 5
        assert cap.span("text_completion llama-3").attributes["gen_ai.provider.name"] == "local"


def test_content_capture_is_opt_in() -> None:
    """Input, system instructions and output are recorded only with ai_capture_content=True."""
    for enabled in (False, True):
        with capture(ai_capture_content=enabled) as cap:
            with ai.operation("openai", "gpt-4o", input_messages=[{"role": "user", "parts": [{"type": "text", "content": "secret plan"}]}], system_instructions=[{"type": "text", "content": "rules"}]) as op:
                assert op is not None
                op.record(input_tokens=3, output_tokens=2, output_messages=[{"role": "assistant", "parts": [{"type": "text", "content": "ok"}]}])
            attributes = cap.span("chat gpt-4o").attributes
            names = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"}
            assert names & set(attributes) == (names if enabled else set())
            assert ("secret plan" in attributes.get("gen_ai.input.messages", "")) is enabled
