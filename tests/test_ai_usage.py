"""Usage and response facts: conventions' token counts from models and raw JSON, stream accumulators."""

from __future__ import annotations

from types import SimpleNamespace

from otel_kit.signals.ai.usage import (
    ChatAccumulator,
    MessagesAccumulator,
    ResponsesAccumulator,
    anthropic_usage,
    facts_from_response,
    openai_chat_usage,
    openai_responses_usage,
)


def test_anthropic_input_includes_cache_reads_and_writes() -> None:
    """Anthropic's input_tokens leaves out the cache; the conventions' input total includes it."""
    usage = anthropic_usage({"input_tokens": 10, "cache_read_input_tokens": 80, "cache_creation_input_tokens": 30, "cache_creation": {"ephemeral_1h_input_tokens": 5}, "output_tokens": 4})
    assert usage is not None
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_creation_tokens, usage.cache_creation_1h_tokens) == (120, 80, 30, 5)
    assert usage.output_tokens == 4 and usage.reasoning_tokens is None


def test_openai_cached_and_reasoning_are_parts_of_the_totals() -> None:
    """prompt_tokens already includes cached tokens; completion_tokens includes reasoning (models and dicts alike)."""
    model_like = SimpleNamespace(prompt_tokens=50, completion_tokens=9, prompt_tokens_details=SimpleNamespace(cached_tokens=40), completion_tokens_details=SimpleNamespace(reasoning_tokens=6))
    usage = openai_chat_usage(model_like)
    assert usage is not None and (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens, usage.reasoning_tokens) == (50, 40, 9, 6)
    responses = openai_responses_usage({"input_tokens": 7, "input_tokens_details": {"cached_tokens": 2}, "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 1}})
    assert responses is not None and (responses.input_tokens, responses.cache_read_tokens, responses.reasoning_tokens) == (7, 2, 1)


def test_odd_values_read_as_unknown() -> None:
    """Negative, boolean, string or missing counts are unknown, never an exception."""
    usage = openai_chat_usage({"prompt_tokens": -1, "completion_tokens": True, "prompt_tokens_details": "x"})
    assert usage is not None and usage.input_tokens is None and usage.output_tokens is None and not usage.known
    assert anthropic_usage(None) is None
    assert facts_from_response("chat", object(), with_output=True).usage is None


def test_chat_facts_and_output_messages() -> None:
    """Finish reasons, id, model and the output messages in the conventions' structure."""
    response = {
        "id": "c1", "model": "gpt-4o", "service_tier": "flex",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "function": {"name": "lookup", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    facts = facts_from_response("chat", response, with_output=True)
    assert (facts.id, facts.model, facts.finish_reasons, facts.service_tier) == ("c1", "gpt-4o", ["tool_calls"], "flex")
    assert facts.output == [{"role": "assistant", "parts": [{"type": "tool_call", "id": "t1", "name": "lookup", "arguments": "{}"}], "finish_reason": "tool_calls"}]
    assert facts_from_response("chat", response, with_output=False).output is None


def test_chat_accumulator_several_choices_and_tool_calls() -> None:
    """Deltas are joined per choice; usage comes from the last chunk; reasons ordered by choice index."""
    acc = ChatAccumulator(capture=True)
    chunks = [
        {"id": "c", "model": "m", "choices": [{"index": 1, "delta": {"content": "B"}}, {"index": 0, "delta": {"content": "A"}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{\"x\""}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}, "finish_reason": "tool_calls"}, {"index": 1, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
    ]
    assert not any(acc.item(chunk) for chunk in chunks)
    acc.finish()
    assert acc.saw_output and acc.complete and acc.facts.finish_reasons == ["tool_calls", "stop"]
    assert acc.facts.usage is not None and acc.facts.usage.input_tokens == 5
    output = acc.output()
    assert output is not None and output[0]["parts"] == [{"type": "text", "content": "A"}, {"type": "tool_call", "id": "t", "name": "f", "arguments": "{\"x\":1}"}]
    assert output[1] == {"role": "assistant", "parts": [{"type": "text", "content": "B"}], "finish_reason": "stop"}


def test_messages_accumulator_merges_start_and_delta() -> None:
    """message_start has the input and cache counts, message_delta the output; message_stop ends it."""
    acc = MessagesAccumulator(capture=True)
    assert not acc.item({"type": "message_start", "message": {"id": "m", "model": "claude", "usage": {"input_tokens": 4, "cache_read_input_tokens": 10, "output_tokens": 1}}})
    acc.item({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    acc.item({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}})
    acc.item({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9, "cache_read_input_tokens": 999}})
    assert acc.item({"type": "message_stop"}) is True
    usage = acc.facts.usage
    assert usage is not None and (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (14, 10, 9)
    assert acc.output() == [{"role": "assistant", "parts": [{"type": "text", "content": "Hi"}], "finish_reason": "end_turn"}]


def test_responses_accumulator_takes_the_terminal_event() -> None:
    """response.completed carries the whole response; incomplete maps max_output_tokens to length."""
    acc = ResponsesAccumulator(capture=False)
    acc.item({"type": "response.created", "response": {"id": "r", "model": "gpt-5"}})
    acc.item({"type": "response.output_text.delta", "delta": "x"})
    assert acc.item({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "usage": {"input_tokens": 2, "output_tokens": 1}}})
    assert acc.saw_output and acc.facts.finish_reasons == ["length"] and acc.facts.model == "gpt-5"
    assert acc.facts.usage is not None and acc.facts.usage.output_tokens == 1
